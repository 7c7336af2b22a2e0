"""``diffc info FILE [--json]``: what a DiffC file holds and where its bits go, without the model.

Prints the header fields, the 64-bit model and schedule fingerprints in hex, the steps present
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
    p.set_defaults(func=_run)


def describe(container: Container, ledger: Ledger) -> dict[str, object]:
    """The file's description as a JSON-ready dict (what ``--json`` prints, less the file name)."""
    from diffc.container import FORMAT_VERSION  # the only version the reader accepts

    h = container.header
    return {
        "format_version": FORMAT_VERSION,
        "model_fingerprint": h.model_fingerprint.hex(),
        "schedule_digest": h.schedule_digest.hex(),
        "shape": list(h.shape),
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
    lines = [
        f"{path}: DiffC v{info['format_version']} file, {info['file_bytes']} bytes "
        f"({8 * info['file_bytes']} bits), header {info['header_bytes']} bytes",
        f"  model        {info['model_fingerprint']} (first 64 bits of its SHA-256 fingerprint)",
        f"  schedule     {info['schedule_digest']} (first 64 bits of its SHA-256 digest)",
        f"  shape        {' x '.join(map(str, shape))} ({math.prod(shape)} values)",
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
    if args.json:
        print(json.dumps({"file": str(args.file), **info}, indent=1))
    else:
        print(_text(args.file, info, ledger.format()))
    return 0
