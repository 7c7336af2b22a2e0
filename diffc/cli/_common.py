"""What every ``diffc`` tool shares: error classes, exit codes, dispatch and common options."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """The command line is wrong (exit code 2): a bad value, a path that does not exist."""


def existing_path(text: str) -> Path:
    """argparse type: a path that must exist (bad usage, exit 2, otherwise)."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file or folder")
    return path


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def dispatch(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse, run the chosen tool, and turn failures into one-line messages and exit codes."""
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    try:
        return int(args.func(args) or EXIT_OK)
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return 130
    except UsageError as err:
        if args.debug:
            raise
        print(f"{parser.prog} {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, OSError, RuntimeError) as err:
        # ValueError covers the container's, the image layer's and the model loader's errors.
        if args.debug:
            raise
        print(f"{parser.prog} {args.command}: error: {err}", file=sys.stderr)
        return EXIT_FAILURE
