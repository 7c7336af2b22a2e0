"""The ``rcc`` command line."""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import NoReturn

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (``prog: error: message``, exit 2): the usage block that
    argparse prints first is what ``--help`` is for. Subcommands' parsers inherit it."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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


MAX_WORKERS = 1024
"""The most local processes or Ray actors ``--workers`` asks for (a larger count is a typo)."""
MAX_RETRIES = 100
MAX_SEED = 2**63 - 1
MAX_KL_BITS = 64.0
"""The largest KL ``rcc overhead`` takes (bits): 2^64 candidates a sample is far past any budget."""
MAX_SAMPLES = 10**7


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """argparse type: an integer in ``[low, high]`` (no upper bound when ``high`` is None); anything
    else is bad usage (exit 2) with a message that names the range. Shared with the ``diffc`` tools."""
    span = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {span}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {span}, got {text}")
        return value

    return parse


def real_in(low: float, high: float = math.inf, *, open_low: bool = False) -> Callable[[str], float]:
    """argparse type: a finite number in ``[low, high]`` (``(low, high]`` with ``open_low``); NaN and
    infinities are bad usage."""
    span = "a finite number" + ("" if low == -math.inf else f" {'>' if open_low else '>='} {low:g}")
    span += "" if high == math.inf else f" and <= {high:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {span}, got {text!r}") from None
        if not (math.isfinite(value) and (value > low if open_low else value >= low) and value <= high):
            raise argparse.ArgumentTypeError(f"expected {span}, got {text}")
        return value

    return parse


def names_among(valid: Sequence[str], what: str = "names") -> Callable[[str], tuple[str, ...]]:
    """argparse type: a comma-separated non-empty list of ``valid`` names (bad usage otherwise,
    with the valid choices in the message)."""
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(v.strip() for v in text.split(",") if v.strip())
        unknown = [n for n in names if n not in valid]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"{what} must be comma-separated among {','.join(valid)}, "
                                             f"got {text!r}")
        return names

    return parse


def _kls(text: str) -> tuple[float, ...]:
    parse = real_in(0.0, MAX_KL_BITS, open_low=True)
    try:
        return tuple(parse(v) for v in text.split(","))
    except argparse.ArgumentTypeError as err:
        raise argparse.ArgumentTypeError(f"KLs in bits, comma-separated: {err}") from None


positive_int = int_in(1)
"""argparse type: an integer >= 1."""


def add_executor_args(p: argparse.ArgumentParser) -> None:
    """``--workers N`` and ``--ray [ADDRESS]``: where a sweep's jobs run (shared with ``diffc sweep``)."""
    p.add_argument("--workers", type=int_in(1, MAX_WORKERS), default=None,
                   help="run jobs on N local processes (with --ray: at most N Ray actors)")
    p.add_argument("--ray", nargs="?", const=True, default=None, metavar="ADDRESS",
                   help="run jobs on Ray: no ADDRESS starts a local cluster, 'auto' joins a running one, "
                        "ray://HOST:PORT connects to a remote one (needs the 'cluster' extra)")
    p.add_argument("--retries", type=int_in(0, MAX_RETRIES), default=1,
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
    p.add_argument("--coders", type=names_among(CODERS, "coders"), default=CODERS,
                   help=f"comma-separated among {','.join(CODERS)}")
    p.add_argument("--families", type=names_among(FAMILIES, "families"), default=FAMILIES,
                   help=f"target families, comma-separated among {','.join(FAMILIES)}")
    p.add_argument("--kl", type=_kls, default=FULL_GRID,
                   help="KL grid in bits (default: " + ",".join(f"{v:g}" for v in FULL_GRID) + ")")
    p.add_argument("--samples", type=int_in(1, MAX_SAMPLES), default=1000,
                   help="samples per row (default: 1000)")
    p.add_argument("--candidate-budget", type=int_in(1, 2**40), default=2**26,
                   help="fewer samples where 2^KL candidates each would exceed this many (default: 2^26)")
    p.add_argument("--seed", type=int_in(0, MAX_SEED), default=1,
                   help="seed of the first sample (default: 1)")
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
        raise UsageError(str(err)) from err
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


class UsageError(Exception):
    """The command line is wrong (exit code 2): a bad value, a path that does not exist."""


def run(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse, run the chosen subcommand's ``func`` and turn failures into one line on stderr and an
    exit code (shared by every CLI): 2 for bad usage (argparse's own errors, :class:`UsageError`),
    1 for a runtime failure (``ValueError`` covers the documented error types of every layer,
    ``OSError`` a full disk or a missing file, ``RuntimeError`` a device), 130 for Ctrl-C; a
    ``--debug`` option shows the traceback instead. Without a subcommand, print help."""
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    prefix = f"{parser.prog} {args.command}"
    try:
        with warnings.catch_warnings():
            # A warning is a note to the user, one line like the errors, not a source listing.
            warnings.showwarning = lambda message, *_: print(f"{prefix}: warning: {message}", file=sys.stderr)
            return int(args.func(args) or EXIT_OK)
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    except (UsageError, ValueError, OSError, RuntimeError) as err:
        if getattr(args, "debug", False):
            raise
        message = " ".join(str(err).split()) or type(err).__name__  # one line, whatever the error held
        print(f"{prefix}: error: {message}", file=sys.stderr)
        return EXIT_USAGE if isinstance(err, UsageError) else EXIT_FAILURE


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
