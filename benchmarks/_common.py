"""What every benchmark shares: the command line, machine metadata, JSON output and plots.

Every benchmark takes ``--quick`` and ``--json PATH`` and writes ``{"meta": {...}, "rows": [...]}``
to PATH, plus a PNG with the same stem where a plot helps. Benchmarks are not tests: they measure a
baseline in the same run and report ratios, and never assert absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["best_time", "machine_meta", "parse_args", "timings", "write_json"]


def parse_args(description: str, argv: list[str] | None = None,
               options: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """``--quick`` and ``--json``, and the benchmark's own ``options`` when given."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI and smoke runs")
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    if options is not None:
        options(parser)
    return parser.parse_args(argv)


def machine_meta() -> dict:
    import numba

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def timings(fn: Callable[[], object], repeats: int) -> list[float]:
    """``repeats`` wall-clock timings of ``fn()`` (seconds), after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Best of ``repeats`` wall-clock timings of ``fn()`` (seconds), after one warm-up call."""
    return min(timings(fn, repeats))


def write_json(path: Path, meta: dict, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(f"wrote {path}")
