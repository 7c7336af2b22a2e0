"""``diffc demo``: the main job on the bundled defaults (:mod:`diffc.tools.demo`); ``make demo`` runs it."""

from __future__ import annotations

import argparse
from pathlib import Path

from diffc.cli._common import (
    EXIT_FAILURE,
    EXIT_OK,
    MAX_THREADS,
    UsageError,
    add_solver_args,
    existing_path,
    int_in,
    seed,
    step_counts,
)

MAX_CROP = 256
"""The largest centre crop the demo takes: every held-out photo is at least this large."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the demo of the main job on the bundled defaults",
                       description="Check the shared randomness (Philox known answers), then compress the "
                                   "held-out photos' centre crops with the default model at several stop "
                                   "points, decode them with DiffC-F, DiffC-A and the MMSE estimate, code "
                                   "them with the classical codecs at the matched bpp, refine the JPEG "
                                   "and WebP files with the model, and write the "
                                   "CompressAI JSON, an RD plot and image grids. See diffc/tools/demo.py.")
    p.add_argument("--model", type=existing_path, default=None,
                   help="model folder (default: the shipped one)")
    p.add_argument("--out", type=Path, default=Path("results/demo"), help="results folder (results/demo)")
    p.add_argument("--size", type=int_in(8, MAX_CROP), default=64,
                   help=f"crop side in pixels, 8 to {MAX_CROP} (default: 64)")
    p.add_argument("--images", type=int_in(1), default=None, help="use only the first N held-out photos")
    p.add_argument("--stops", type=step_counts, default=(4, 8, 12, 16),
                   help="step counts to decode at (4,8,12,16)")
    add_solver_args(p)
    p.add_argument("--threads", type=int_in(1, MAX_THREADS), default=None,
                   help="torch threads (default: every usable core)")
    p.add_argument("--seed", type=seed, default=2024)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from diffc.codec import DEFAULT_STEPS
    from diffc.tools.demo import run_demo

    if max(args.stops) > DEFAULT_STEPS:
        raise UsageError(f"--stops {','.join(map(str, args.stops))}"
                         f": the demo's files have {DEFAULT_STEPS} steps")

    ok = run_demo(model=args.model, out=args.out, size=args.size, images=args.images, stops=args.stops,
                  solver_steps=args.solver_steps, solver=args.solver, threads=args.threads, seed=args.seed,
                  progress=not args.quiet)
    return EXIT_OK if ok else EXIT_FAILURE
