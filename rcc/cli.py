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
    return parser


def _philox_check(_: argparse.Namespace) -> int:
    from kernels.known_answers import check_known_answers

    ok = True
    for line, passed in check_known_answers():
        print(line)
        ok &= passed
    return 0 if ok else 1


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
