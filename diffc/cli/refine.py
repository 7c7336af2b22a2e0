"""``diffc refine compress|decompress``: a classical codec's file refined by the diffusion model."""

from __future__ import annotations

import argparse
from pathlib import Path

from diffc.cli._common import UsageError, add_model_args, add_solver_args, existing_path, real_in, seed
from diffc.refine.sideinfo import CODECS

_METHODS = {"sde": "ancestral sampling (a posterior sample)", "ode": "the probability-flow ODE",
            "mmse": "the denoiser's posterior-mean estimate", "eta": "DDIM with noise level --eta"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("refine", help="a classical codec (JPEG, WebP, AVIF, JPEG XL) refined by the model",
                       description="Compress with a classical codec and keep a few bytes of side "
                                   "information; decompress by starting the model's reverse process at the "
                                   "codec's error level (docs/refine.md).")
    tools = p.add_subparsers(dest="refine_command", metavar="{compress,decompress}", required=True)
    c = tools.add_parser("compress", help="an image to a refine file")
    c.add_argument("image", type=existing_path, help="input image")
    c.add_argument("output", type=Path, help="output refine file (.rf)")
    c.add_argument("--codec", choices=CODECS, default="jpeg-420", help="classical codec (default: jpeg-420)")
    rate = c.add_mutually_exclusive_group(required=True)
    rate.add_argument("--quality", type=int, help="the classical codec's quality")
    rate.add_argument("--bpp", type=real_in(0, open_low=True),
                      help="the quality whose classical file is nearest B bits/pixel")
    c.add_argument("--seed", type=seed, default=0, help="seed of the decoder's noise, written into the file")
    add_model_args(c)
    c.set_defaults(func=_compress)
    d = tools.add_parser("decompress", help="a refine file to a PNG",
                         description="; ".join(f"{k}: {v}" for k, v in _METHODS.items()) + ".")
    d.add_argument("input", type=existing_path, help="input refine file")
    d.add_argument("output", type=Path, help="output image (.png)")
    d.add_argument("--method", choices=tuple(_METHODS), default="sde", help="sampler (default: sde)")
    d.add_argument("--eta", type=real_in(0, 1), default=None, help="noise level in [0, 1] for --method eta")
    add_solver_args(d)
    d.add_argument("--scale", type=real_in(0, open_low=True), default=1.0,
                   help="multiply the codec's error variance the start matches (default 1; above: more "
                        "regenerated, below: closer to the codec's decode)")
    d.add_argument("--project", action="store_true",
                   help="keep every estimate inside the JPEG file's quantization cells (JPEG files only)")
    d.add_argument("--seed", type=seed, default=None, help="noise seed (default: the file's)")
    add_model_args(d)
    d.set_defaults(func=_decompress)


def _codec(args: argparse.Namespace) -> object:
    from diffc.cli._common import load_model_from
    from diffc.refine.codec import RefineCodec

    return RefineCodec(load_model_from(args), progress=not args.quiet)


def _compress(args: argparse.Namespace) -> int:
    from diffc.imaging.io import read_image
    from rcc.experiments import atomic_write

    if not args.image.is_file():
        raise UsageError(f"{args.image} is not a file")
    from diffc.imaging.baselines import available_codecs

    codec = available_codecs().get(args.codec)
    if codec is None:
        raise UsageError(f"{args.codec} is not available on this machine (its Pillow plugin is missing)")
    if args.quality is not None and not codec.quality_range[0] <= args.quality <= codec.quality_range[1]:
        raise UsageError(f"--quality for {args.codec} must be in {list(codec.quality_range)}, "
                         f"got {args.quality}")
    image = read_image(args.image)
    out = _codec(args).compress(image, args.codec, quality=args.quality, bpp=args.bpp, seed=args.seed)
    atomic_write(args.output, out.data)
    print(f"{args.output}: {len(out.data)} bytes, {out.bpp:.4f} bpp ({out.codec} quality {out.quality}), "
          f"codec error variance {out.variance:.3g} on the model's scale")
    return 0


def _decompress(args: argparse.Namespace) -> int:
    from diffc.imaging.io import encode_png
    from rcc.experiments import atomic_write

    if (args.eta is not None) != (args.method == "eta"):
        raise UsageError("--eta goes with --method eta, and --method eta needs --eta")
    if not args.input.is_file():
        raise UsageError(f"{args.input} is not a file")
    out = _codec(args).decompress(args.input.read_bytes(), method=args.method, eta=args.eta,
                                  solver_steps=args.solver_steps, solver=args.solver, scale=args.scale,
                                  project=args.project, seed=args.seed)
    atomic_write(args.output, encode_png(out.image))
    print(f"{args.output}: {out.image.shape[1]}x{out.image.shape[0]} from {out.bpp:.4f} bpp, start t = "
          f"{out.t:g}, {out.seconds:.1f} s")
    return 0
