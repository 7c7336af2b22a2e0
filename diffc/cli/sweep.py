"""``diffc sweep IMAGES... --out DIR``: DiffC decoders and classical codecs on the same images."""

from __future__ import annotations

import argparse
from pathlib import Path

from diffc.cli._common import add_channel_args, add_model_args, existing_path, positive_int


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated step counts, got {text!r}") from err
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"step counts must be positive, got {text!r}")
    return values


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="rate sweep of DiffC decoders and classical codecs over images",
                       description="Encode each image once, decode the file at several stop points with "
                                   "each decoder, code it with JPEG/WebP/AVIF/JPEG XL at the matched bpp, "
                                   "and write CompressAI JSON per method, an RD plot and image grids. "
                                   "Finished images are skipped when the same sweep is run again.")
    p.add_argument("images", nargs="+", type=existing_path, help="image files or folders of images")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    add_model_args(p)
    add_channel_args(p)
    p.add_argument("--stops", type=_ints, default=None,
                   help="step counts to decode at, e.g. 8,12,16 (default: 4 points over the second half)")
    p.add_argument("--methods", type=_names, default=("ode", "sde", "mmse"),
                   help="decoders, comma-separated among ode,sde,mmse (default: all three)")
    p.add_argument("--baselines", type=_names, default=None,
                   help="classical codecs, e.g. jpeg-420,webp,avif (default: all available)")
    p.add_argument("--solver-steps", type=positive_int, default=20, help="decoder steps (default: 20)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from diffc.cli._common import UsageError, codec_from
    from diffc.tools.sweep import SweepConfig, load_images, run_sweep, table

    try:
        config = SweepConfig(stops=args.stops, methods=args.methods, baselines=args.baselines,
                             seed=args.seed, solver_steps=args.solver_steps)
    except ValueError as err:
        raise UsageError(str(err)) from err
    images = load_images(args.images)
    codec = codec_from(args)
    codec.progress = False  # the sweep shows one bar per image instead
    results = run_sweep(codec, images, config, args.out, progress=not args.quiet)
    print(table(results))
    print(f"\nresults in {args.out}/: one CompressAI JSON per method, rd.png, grids/, files/")
    return 0
