"""The ``diffc`` command line: one module per tool (CompressAI's layout).

Each module of :data:`TOOLS` defines ``register(subparsers)``, which adds its subcommand and sets
``func`` to a function of the parsed arguments returning an exit code. Tool modules import their
heavy dependencies (torch, diffusers) inside ``func`` so that ``diffc --help`` stays fast.

Exit codes (documented in the README): 0 success; 1 a runtime failure (a corrupted or truncated
file, a wrong model, an unreadable image); 2 bad usage (unknown options, bad values, an input path
that does not exist). Failures print one line ``diffc <tool>: error: ...`` on stderr; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from diffc.cli._common import dispatch
from rcc.cli import Parser

TOOLS = ("compress", "decompress", "refine", "info", "sweep", "data", "train", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="diffc",
        description="DiffC: compress images with one unconditional diffusion model.",
    )
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in TOOLS:
        try:
            module = importlib.import_module(f"diffc.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"diffc.cli.{name}":
                raise
            continue  # a tool not built yet
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Before any tool imports torch: its OpenMP threads then sleep between forward passes instead of
    # spinning beside the candidate search's threads (diffc.models.set_torch_threads).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return dispatch(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
