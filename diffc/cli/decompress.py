"""``diffc decompress IN.dfc OUT.png``: a DiffC file (or a prefix of one) to an image."""

from __future__ import annotations

import argparse
from pathlib import Path

from diffc.cli._common import (
    UsageError,
    add_model_args,
    add_solver_args,
    codec_from,
    conditioning_from_file,
    existing_path,
    note_expected_time,
    real_in,
    seed,
)
from diffc.codec import sampler_for

_METHODS = {"ode": "DiffC-F, the probability-flow ODE", "sde": "DiffC-A, ancestral sampling",
            "mmse": "the denoiser's posterior-mean estimate", "eta": "DDIM with noise level --eta"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("decompress", help="decode a DiffC file into a PNG",
                       description="Decode a DiffC file, or any progressive prefix of one, into a PNG. "
                                   + "; ".join(f"{k}: {v}" for k, v in _METHODS.items()) + ".")
    p.add_argument("input", type=existing_path, help="input file (.dfc)")
    p.add_argument("output", type=Path, help="output image (.png)")
    add_model_args(p)
    p.add_argument("--method", choices=tuple(_METHODS), default="ode", help="decoder (default: ode)")
    p.add_argument("--eta", type=real_in(0, 1), default=None, help="noise level in [0, 1] for --method eta")
    add_solver_args(p)
    p.add_argument("--seed", type=seed, default=None, help="DiffC-A noise seed (default: the file's seed)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from diffc.imaging.io import write_png

    if (args.eta is not None) != (args.method == "eta"):
        raise UsageError("--eta goes with --method eta, and --method eta needs --eta")
    if not args.input.is_file():
        raise UsageError(f"{args.input} is not a file")
    from diffc.container import read_container

    data = args.input.read_bytes()
    header = read_container(data).header
    conditioning_from_file(args, header.options)
    codec = codec_from(args)
    note_expected_time(args.device, header.shape[1] * header.shape[2] if len(header.shape) == 3 else 0,
                       codec.steps + sampler_for(args.method, args.solver, args.solver_steps)[2])
    out = codec.decompress(data, method=args.method, eta=args.eta,
                           solver_steps=args.solver_steps, solver=args.solver, seed=args.seed)
    write_png(args.output, out.image)
    note = f" (a prefix: {out.n_steps} of {out.stop_step} steps)" if out.truncated else ""
    print(f"{args.output}: {out.image.shape[1]}x{out.image.shape[0]} from {out.bpp:.4f} bpp, "
          f"{out.n_steps} steps{note}, t = {out.t:g}, {out.seconds:.1f} s")
    return 0
