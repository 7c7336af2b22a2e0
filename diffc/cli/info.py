"""``diffc info FILE [--json] [--quiet]``: what a DiffC file holds and where its bits go, without the model.

Prints the header fields (the model family, its 64-bit fingerprint, the conditioning kind and digest
and the options it was chosen with: prompt, guidance, class label,
the original image size beside the coded array's shape, the step-time codes), the steps present
(and "truncated" when the file is a progressive prefix of what the encoder wrote), and the bit
ledger (:mod:`diffc.ledger`): header, framing, side information and index bits, chunk counts and
budgets, per step and in total. The KL, and so the index overhead, the partition slack and the
realized-information shortfall, are the encoder's statistics (the file does not carry the KL):
they show as "-" (``null`` in JSON).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from diffc.cli._common import existing_path

if TYPE_CHECKING:  # the container imports the channel and its kernels: keep ``diffc --help`` fast
    from diffc.container import Container
    from diffc.ledger import Ledger


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show a DiffC file's header, fingerprints and bit ledger "
                                    "(no model needed)")
    p.add_argument("file", type=existing_path, help="a .dfc file (or a progressive prefix of one)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--quiet", action="store_true",
                   help="accepted as by every tool (info shows no progress bars)")
    p.set_defaults(func=_run)


def describe(container: Container, ledger: Ledger) -> dict[str, object]:
    """The file's description as a JSON-ready dict (what ``--json`` prints, less the file name)."""
    from diffc.container import FORMAT_VERSION  # the only version the reader accepts

    h = container.header
    return {
        "format_version": FORMAT_VERSION,
        "family": h.family,
        "model_fingerprint": h.model_fingerprint.hex(),
        "conditioning": h.conditioning,
        "conditioning_digest": h.conditioning_id.hex() or None,
        **h.options,
        "size": list(h.size),
        "shape": list(h.shape),
        "time_grid": h.time_grid,
        "first_time": h.first_time,
        "time_gaps": list(h.time_gaps),
        "value_range": list(h.value_range),
        "seed": h.seed,
        "coder": asdict(h.channel),
        "variance": h.variance,
        "clip": h.clip,
        "stop_step": h.stop_step,
        "n_steps": container.n_steps,
        "truncated": container.truncated,
        "file_bytes": container.record_ends[-1],
        "header_bytes": container.header_bytes,
        "ledger": ledger.to_dict(),
    }


def _text(path: Path, info: dict[str, object], ledger_table: str) -> str:
    coder = info["coder"]
    shape = info["shape"]
    low, high = info["value_range"]
    steps = f"{info['n_steps']} of {info['stop_step']}"
    if info["truncated"]:
        steps += " -- truncated: a progressive prefix of the encoded file"
    conditioning = info["conditioning"]
    if info["conditioning_digest"]:
        conditioning += f", digest {info['conditioning_digest']} (first 64 bits of its SHA-256)"
    chosen = [f"{name.replace('_', ' ')} {info[name]!r}" for name in ("prompt", "guidance", "class_label")
              if info[name] is not None]
    if chosen:
        conditioning += "; " + ", ".join(chosen)
    first = "the model's noisiest" if info["first_time"] is None else str(info["first_time"])
    gaps = ", ".join(map(str, info["time_gaps"])) or "-"
    times = f"{info['time_grid']} codes: {first}, then down by {gaps}"
    lines = [
        f"{path}: DiffC v{info['format_version']} file, {info['file_bytes']} bytes "
        f"({8 * info['file_bytes']} bits), header {info['header_bytes']} bytes",
        f"  model        {info['family']}, {info['model_fingerprint']} (first 64 bits of its SHA-256 "
        "fingerprint)",
        f"  conditioning {conditioning}",
        f"  image size   {info['size'][0]} x {info['size'][1]} pixels (H x W; the coded array's shape below)",
        f"  shape        {' x '.join(map(str, shape))} ({math.prod(shape)} values)",
        f"  step times   {times}",
        f"  value range  [{low:g}, {high:g}], clip {'on' if info['clip'] else 'off'}, "
        f"{info['variance']} variance",
        f"  seed         {info['seed']}",
        f"  coder        {coder['rule']}, {coder['index_code']} index code, chunk {coder['chunk_bits']} "
        f"bits, headroom {coder['headroom_bits']} bits, {coder['partition_trial_bits']} partition-trial bits",
        f"  steps        {steps}",
        "bit ledger (bits; KL, slack and shortfall are the encoder's: the file does not carry the KL)",
    ]
    return "\n".join(lines + ["  " + line for line in ledger_table.splitlines()])


def _run(args: argparse.Namespace) -> int:
    from diffc.container import read_container
    from diffc.ledger import file_ledger

    container = read_container(args.file.read_bytes())
    ledger = file_ledger(container)
    info = describe(container, ledger)
    text = json.dumps({"file": str(args.file), **info}, indent=1) if args.json else _text(
        args.file, info, ledger.format())
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (``diffc info f | head``): not an error. Python's recipe: point
        # stdout at devnull so that the interpreter's last flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
