"""What every part of the GPU check shares: its command line, a deadline, synchronised timing, and
a JSON record that is on disk from the part's first second to its last.

A part is ``python -m benchmarks.gpu.NAME --out DIR [--budget-s S] [--dry-run]``. It writes
``DIR/NAME_gpu.json``: ``{"part", "status", "meta", "config", "rows", ...}`` with ``status`` one of
``running`` (rewritten after every row, so a part killed at its timeout leaves what it measured),
``ok``, ``skipped`` (with ``reason``), ``failed`` (with ``error`` and ``traceback``); the driver
``benchmarks/gpu_check.sh`` turns a ``running`` left behind by a killed part into ``timeout``.

``--dry-run`` is the CPU rehearsal: the driver sets ``NUMBA_ENABLE_CUDASIM=1`` and each part picks
tiny sizes, so every code path runs in Numba's CUDA simulator; its figures mean nothing. Timing is
wall-clock around a call that ends with the device
synchronised (:func:`synced_time`), so a figure includes the kernels it launched.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._common import machine_meta

__all__ = ["Part", "Skip", "gpu_meta", "real_gpu", "run_part", "synced_time", "synchronize"]


def real_gpu() -> bool:
    """True when the CUDA kernels run on a real GPU (not the simulator, not missing)."""
    from rcc_kernels import gpu

    return gpu.available() and not gpu.simulator()


def synchronize() -> None:
    """Wait for every kernel launched on the GPU (CuPy's and torch's streams); no-op without one."""
    if not real_gpu():
        return
    import cupy

    cupy.cuda.Device().synchronize()
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def synced_time(fn: Callable[[], object], repeats: int = 1) -> float:
    """Best of ``repeats`` wall-clock timings of ``fn()`` followed by :func:`synchronize` (no
    warm-up: the caller warms up on a problem small enough not to cost a timing's worth)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        synchronize()
        times.append(time.perf_counter() - started)
    return min(times)


def _version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def gpu_meta() -> dict:
    """The machine, the GPU and the versions a reader of the figures needs."""
    meta = {**machine_meta(), "simulator": os.environ.get("NUMBA_ENABLE_CUDASIM") == "1",
            "real_gpu": real_gpu(),
            "versions": {n: _version(n) for n in ("numba-cuda", "cupy-cuda13x", "cupy-cuda12x", "torch",
                                                  "diffusers", "constriction")}}
    if not meta["real_gpu"]:
        return meta
    try:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        meta.update(gpu_name=props["name"].decode(), gpu_memory_gib=props["totalGlobalMem"] / 2**30,
                    gpu_multiprocessors=props["multiProcessorCount"],
                    cuda_runtime=cupy.cuda.runtime.runtimeGetVersion(),
                    cuda_driver=cupy.cuda.runtime.driverGetVersion())
    except Exception as err:  # noqa: BLE001 - the part's own error says more; the record must be written
        meta["gpu_error"] = f"{type(err).__name__}: {err}"
    return meta


@dataclass
class Part:
    """One part's run: where it writes, its deadline, and the record it keeps on disk."""

    name: str
    out: Path
    dry_run: bool
    deadline: float  # time.monotonic() by which the part must have finished
    record: dict = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.out / f"{self.name}_gpu.json"

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def add(self, row: dict) -> None:
        """Append a row and rewrite the record, so that a kill loses nothing measured."""
        self.record.setdefault("rows", []).append(row)
        self.save()

    def save(self) -> None:
        """Write the record atomically (a temporary file, then a rename)."""
        self.out.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.record, indent=2, default=_plain) + "\n")
        os.replace(tmp, self.path)


def _plain(value: object) -> object:
    """numpy scalars and arrays, and paths, as JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


class Skip(Exception):  # noqa: N818 - a control-flow signal, not an error
    """The part cannot run here (the message says why); its record says ``skipped``."""


def run_part(name: str, description: str, body: Callable[[Part], dict],
             argv: list[str] | None = None) -> int:
    """Parse the command line, run ``body`` and write its record; exit status 0 unless it failed.

    ``body`` returns the record's fields beyond the rows it added (``config``, ratios, ...; a
    ``status`` of ``failed`` when what it checked failed); it raises :class:`Skip` when the part
    cannot run here, with the reason.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, required=True, help="folder of the JSON records")
    parser.add_argument("--budget-s", type=float, default=60.0, help="seconds this part may take")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes (CUDA simulator rehearsal)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    part = Part(name, args.out, args.dry_run, started + args.budget_s)
    part.record = {"part": name, "description": description, "status": "running", "dry_run": args.dry_run,
                   "budget_s": args.budget_s, "meta": gpu_meta(), "rows": []}
    part.save()
    try:
        result = body(part)
        part.record.update(result, status=result.get("status", "ok"))
    except Skip as skip:
        part.record.update(status="skipped", reason=str(skip))
    except Exception as err:  # noqa: BLE001 - the record must say why, whatever went wrong
        part.record.update(status="failed", error=f"{type(err).__name__}: {err}",
                           traceback=traceback.format_exc())
    part.record["wall_s"] = time.monotonic() - started
    part.save()
    print(f"{name}: {part.record['status']} in {part.record['wall_s']:.1f} s -> {part.path}", flush=True)
    return 1 if part.record["status"] == "failed" else 0


