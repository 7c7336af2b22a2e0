"""``diffc demo``: the main job on the bundled defaults (:mod:`diffc.demo`)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the demo of the main job on the bundled defaults")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from diffc import demo

    return demo.main([])
