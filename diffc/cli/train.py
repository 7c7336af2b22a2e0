"""``diffc train``: train (or resume) the default model on a ``diffc data`` folder
(:mod:`diffc.models.training`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from diffc.cli._common import MAX_THREADS, existing_path, int_in, positive_int, real_in, seed


def _channels(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text}") from None
    if len(values) < 2 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"need at least two positive widths, got {text}")
    return values


def _octaves(text: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(v) for v in text.split(",")}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text}") from None
    if min(values) < -4 or max(values) > 4:
        raise argparse.ArgumentTypeError(f"octaves lie in -4..4 (a factor of 16 either way), got {text}")
    return values


def register(sub: argparse._SubParsersAction) -> None:
    from diffc.models.training import TrainConfig  # torch-free at import

    d = TrainConfig()
    p = sub.add_parser("train", help="train the default diffusion model on a `diffc data` folder",
                       description="Train a pixel-space diffusers UNet2DModel with the importance-sampled "
                       "ELBO; writes checkpoint.pt, loss.csv, config.json and pipeline/ (EMA weights) "
                       "to --out. See diffc/models/training.py.")
    p.add_argument("--data", type=existing_path, required=True, help="folder written by `diffc data`")
    p.add_argument("--out", type=Path, required=True, help="run folder (checkpoint, loss log, pipeline)")
    p.add_argument("--size", type=positive_int, default=d.size, help=f"crop size in px (default {d.size})")
    p.add_argument("--octaves", type=_octaves, default=d.octaves,
                   help="photo scales to crop from, comma-separated: octave k is the 448 px short side "
                   "times 2**k, where the original allows (e.g. -1,0,1); each gets an equal share of the "
                   "crops (default 0)")
    p.add_argument("--steps", type=positive_int, default=d.steps, help=f"total steps (default {d.steps})")
    p.add_argument("--batch", type=positive_int, default=d.batch, help=f"crops per step (default {d.batch})")
    p.add_argument("--lr", type=real_in(0, open_low=True), default=d.lr,
                   help=f"AdamW learning rate (default {d.lr})")
    p.add_argument("--lr-final", type=real_in(0, 1), default=d.lr_final,
                   help="cosine decay of the learning rate to this fraction of --lr at --steps "
                        "(default 1: constant)")
    p.add_argument("--init", type=existing_path, default=None,
                   help="warm start from this pipeline folder's UNet weights (same architecture)")
    p.add_argument("--channels", type=_channels, default=d.block_out_channels,
                   help="UNet block widths, comma-separated (default "
                   f"{','.join(map(str, d.block_out_channels))})")
    p.add_argument("--no-attention", action="store_true", help="no self-attention at the lowest level")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    p.add_argument("--seed", type=seed, default=d.seed)
    p.add_argument("--threads", type=int_in(1, MAX_THREADS), default=d.threads, help="torch CPU threads")
    p.add_argument("--checkpoint-minutes", type=real_in(0, open_low=True), default=d.checkpoint_minutes)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import os

    # On a shared CPU, OpenMP threads that spin at barriers stall whenever another process holds a
    # core (measured: 2 threads 6-9 s/step under load instead of 1 s); passive waiting avoids it. It
    # must be set before torch starts its thread pool.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from diffc.cli._common import UsageError
    from diffc.models import data, training

    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is available")
    multiple = 2 ** (len(args.channels) - 1)
    if args.size % multiple:
        levels = len(args.channels)
        raise UsageError(f"--size {args.size}: a UNet with {levels} levels needs a multiple of {multiple}")
    config = training.TrainConfig(
        size=args.size, octaves=args.octaves, steps=args.steps, batch=args.batch, lr=args.lr,
        lr_final=args.lr_final,
        init=str(args.init or ""), seed=args.seed,
        block_out_channels=args.channels, attention=not args.no_attention, threads=args.threads,
        checkpoint_minutes=args.checkpoint_minutes, device=args.device,
    )
    pyramid = data.training_pyramid(args.data, config.octaves, min_side=config.size)
    for k, level in pyramid.items():
        mpx = sum(a.shape[0] * a.shape[1] for a in level.values()) / 1e6
        print(f"octave {k:+d}: {len(level)} photos, {mpx:.1f} Mpx")
    photos = [image for level in pyramid.values() for image in level.values()]
    octaves = [k for k, level in pyramid.items() for _ in level]
    state = training.train(photos, args.out, config, resume=args.resume, progress=not args.quiet,
                           octaves=octaves)
    print(f"step {state.step}, {state.wall_s / 60:.1f} min; EMA pipeline in {args.out / training.PIPELINE}")
    return 0
