"""The ``diffc`` command line."""

from __future__ import annotations

import argparse
import sys

from rcc.cli import run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diffc",
        description="DiffC: compress images with one unconditional diffusion model.",
    )
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="run the demo of what the toolkit can do so far")
    demo.set_defaults(func=lambda _: __import__("diffc.demo", fromlist=["main"]).main([]))
    return parser


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
