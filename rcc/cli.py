"""The ``rcc`` command line."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rcc",
        description="Channel simulation toolkit: shared randomness, coders, bounds.",
    )
    sub = parser.add_subparsers(dest="command")
    kat = sub.add_parser("philox-check", help="run the Random123 known-answer tests of Philox4x32-10")
    kat.set_defaults(func=_philox_check)
    _add_overhead(sub)
    return parser


def _philox_check(_: argparse.Namespace) -> int:
    from rcc_kernels.known_answers import check_known_answers

    ok = True
    for line, passed in check_known_answers():
        print(line)
        ok &= passed
    return 0 if ok else 1


def _floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from err
    if not all(v > 0 for v in values):
        raise argparse.ArgumentTypeError(f"KLs must be positive, got {text!r}")
    return values


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (shared with the ``diffc`` tools)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def add_executor_args(p: argparse.ArgumentParser) -> None:
    """``--workers N`` and ``--ray [ADDRESS]``: where a sweep's jobs run (shared with ``diffc sweep``)."""
    p.add_argument("--workers", type=positive_int, default=None,
                   help="run jobs on N local processes (with --ray: at most N Ray actors)")
    p.add_argument("--ray", nargs="?", const=True, default=None, metavar="ADDRESS",
                   help="run jobs on Ray: no ADDRESS starts a local cluster, 'auto' joins a running one, "
                        "ray://HOST:PORT connects to a remote one (needs the 'cluster' extra)")
    p.add_argument("--retries", type=_non_negative, default=1,
                   help="attempts after the first for a job whose worker fails or dies (default: 1)")


def _add_overhead(sub: argparse._SubParsersAction) -> None:
    from rcc.experiments.overhead import CODERS, FAMILIES, FULL_GRID

    p = sub.add_parser("overhead", help="rate overhead of the coders beside their bounds, over a KL grid",
                       description="Each coder sends N samples of each target family at each KL; real bits "
                                   "from bytes beside Li & El Gamal's and Li (2025)'s bounds. Writes "
                                   "OUT/rate_overhead.json (the benchmark's layout), OUT/rate_overhead.png "
                                   "and one result per job in OUT/jobs/; finished jobs are skipped when the "
                                   "same command is run again.")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--coders", type=_names, default=CODERS, help=f"comma-separated among {','.join(CODERS)}")
    p.add_argument("--families", type=_names, default=FAMILIES,
                   help=f"target families, comma-separated among {','.join(FAMILIES)}")
    p.add_argument("--kl", type=_floats, default=FULL_GRID,
                   help="KL grid in bits (default: " + ",".join(f"{v:g}" for v in FULL_GRID) + ")")
    p.add_argument("--samples", type=positive_int, default=1000, help="samples per row (default: 1000)")
    p.add_argument("--candidate-budget", type=positive_int, default=2**26,
                   help="fewer samples where 2^KL candidates each would exceed this many (default: 2^26)")
    p.add_argument("--seed", type=int, default=1, help="seed of the first sample (default: 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_executor_args(p)
    p.set_defaults(func=_overhead)


def _overhead(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rcc.experiments import executor_from, overhead

    try:
        jobs = overhead.jobs(args.kl, families=args.families, coders=args.coders, max_samples=args.samples,
                             candidate_budget=args.candidate_budget, seed=args.seed)
        executor = executor_from(args.workers, args.ray)
    except ValueError as err:
        print(f"rcc overhead: error: {err}", file=sys.stderr)
        return 2
    report = overhead.run(jobs, Path(args.out), executor=executor, retries=args.retries,
                          progress=not args.quiet)
    for row in report.results.values():
        print(overhead.describe(row))
    for name, failure in report.failed.items():
        print(f"failed: {name} after {failure['attempts']} attempt(s): {failure['error'].splitlines()[0]}")
    state = "interrupted: partial results" if report.interrupted else (
        "complete" if report.complete else "partial results")
    print(f"{len(report.results)} of {len(jobs)} jobs ({report.skipped} from earlier runs), {state}; "
          f"{args.out}/rate_overhead.json and .png")
    return 130 if report.interrupted else (0 if report.complete else 1)


def run(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Dispatch to the chosen subcommand's ``func``; without one, print help (shared by every CLI)."""
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.func(args)


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
