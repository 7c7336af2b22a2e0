"""``diffc compress IMAGE OUT.dfc``: one image to one DiffC file."""

from __future__ import annotations

import argparse
from pathlib import Path

from diffc.cli._common import (
    UsageError,
    add_channel_args,
    add_model_args,
    codec_from,
    existing_path,
    note_expected_time,
    real_in,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compress", help="compress an image into a DiffC file",
                       description="Compress an 8-bit RGB or grayscale image (PNG, JPEG, WebP, TIFF) with "
                                   "one diffusion model. Without a stop option every step is sent.")
    p.add_argument("image", type=existing_path, help="input image")
    p.add_argument("output", type=Path, help="output file (.dfc)")
    add_model_args(p)
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--bpp", type=real_in(0, open_low=True),
                      help="stop before the file exceeds B bits per pixel")
    stop.add_argument("--stop-t", type=real_in(0),
                      help="stop after the last step at time >= T (model timesteps)")
    stop.add_argument("--psnr", type=real_in(0, open_low=True),
                      help="stop at the first step whose MMSE estimate reaches P dB")
    add_channel_args(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from diffc.imaging.io import read_image
    from rcc.experiments import atomic_write

    if not args.image.is_file():
        raise UsageError(f"{args.image} is not a file")
    image = read_image(args.image)
    codec = codec_from(args)
    if args.stop_t is not None:
        noisiest = codec.schedule(codec.model.coded_shape(image.shape[:2])).times[0]
        if args.stop_t > noisiest:
            raise UsageError(f"--stop-t {args.stop_t:g} is above the schedule's noisiest time {noisiest:g}")
    spec = codec.channel.spec
    note_expected_time(args.device, image.shape[0] * image.shape[1], codec.steps,
                       2 ** (spec.chunk_bits + spec.headroom_bits))
    out = codec.compress(image, seed=args.seed, bpp=args.bpp, stop_t=args.stop_t, psnr=args.psnr)
    atomic_write(args.output, out.data)
    h, w = out.size
    print(f"{args.output}: {len(out.data)} bytes, {out.bpp:.4f} bpp for {w}x{h} pixels "
          f"(ideal {out.ideal_bpp:.4f} bpp), {len(out.steps)} of {len(codec.schedule((1, h, w)))} steps, "
          f"t = {out.steps[-1].t:g}, {out.seconds:.1f} s")
    return 0
