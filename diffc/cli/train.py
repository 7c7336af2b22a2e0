"""``diffc train``: train (or resume) the default model on a ``diffc data`` folder or its photo pack,
with the settings of a recipe (``cpu`` or ``gpu``) where no option overrides them
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
    from diffc.models.training import RECIPES  # torch-free at import

    cpu, gpu = RECIPES["cpu"], RECIPES["gpu"]

    def default(field: str) -> str:
        """The help text's default of a setting, per recipe."""
        return f"cpu {getattr(cpu, field)}, gpu {getattr(gpu, field)}"

    p = sub.add_parser("train", help="train the default diffusion model on a `diffc data` folder",
                       description="Train a pixel-space diffusers UNet2DModel with the importance-sampled "
                       "ELBO; writes checkpoint.pt, loss.csv, config.json and pipeline/ (EMA weights) "
                       "to --out. See diffc/models/training.py. A setting not given comes from --recipe.")
    p.add_argument("--data", type=existing_path, required=True,
                   help="folder written by `diffc data`, or a pack of it (python -m diffc.models.photo_pack)")
    p.add_argument("--out", type=Path, required=True, help="run folder (checkpoint, loss log, pipeline)")
    p.add_argument("--recipe", choices=tuple(RECIPES), default="cpu",
                   help="the defaults of every setting below: cpu (float32, batch 8, from scratch) or gpu "
                        "(bf16 autocast, batch 128, warm start from the shipped model, sized for 8 minutes "
                        "on an H200: diffc/models/default/MODEL_CARD.md); default cpu")
    p.add_argument("--size", type=positive_int, help=f"crop size in px (default {default('size')})")
    p.add_argument("--octaves", type=_octaves,
                   help="photo scales to crop from, comma-separated: octave k is the 448 px short side "
                   "times 2**k, where the original allows (e.g. --octaves=-1,0,1: with a space "
                   "argparse reads a leading minus as an option); each gets an equal share of the "
                   f"crops (default {default('octaves')})")
    p.add_argument("--steps", type=positive_int, help=f"total steps (default {default('steps')})")
    p.add_argument("--batch", type=positive_int, help=f"crops per step (default {default('batch')})")
    p.add_argument("--lr", type=real_in(0, open_low=True),
                   help=f"AdamW learning rate (default {default('lr')})")
    p.add_argument("--lr-final", type=real_in(0, 1),
                   help="cosine decay of the learning rate to this fraction of --lr at --steps "
                        f"(1: constant; default {default('lr_final')})")
    init = p.add_mutually_exclusive_group()
    init.add_argument("--init", type=existing_path,
                      help="warm start from this pipeline folder's UNet weights (same architecture; "
                           "default: gpu recipe the shipped model, cpu recipe none)")
    init.add_argument("--no-init", action="store_true", help="start from random weights whatever the recipe")
    p.add_argument("--channels", type=_channels,
                   help="UNet block widths, comma-separated (default "
                   f"{','.join(map(str, cpu.block_out_channels))})")
    p.add_argument("--no-attention", action="store_true", help="no self-attention at the lowest level")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction,
                   help=f"bfloat16 autocast of the forward pass (default {default('bf16')})")
    p.add_argument("--device", choices=("cpu", "cuda"), help=f"where to train (default {default('device')})")
    p.add_argument("--compact", type=Path,
                   help="also write the EMA pipeline here in binary16, files of at most 16 MiB, for a "
                        "transfer that limits file size (default: gpu recipe OUT/pipeline_fp16, cpu none; "
                        "back to float32: python -m diffc.models.compact_weights restore)")
    p.add_argument("--codec-share", type=real_in(0, 1),
                   help="fraction of each batch drawn at the image codec's own steps, weighted by their "
                        "rate (the prediction from pure noise that DiffC's first step rests on is almost "
                        f"never drawn by the ELBO alone; default {default('codec_share')})")
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    p.add_argument("--seed", type=seed, default=cpu.seed)
    p.add_argument("--threads", type=int_in(1, MAX_THREADS), default=cpu.threads, help="torch CPU threads")
    p.add_argument("--checkpoint-minutes", type=real_in(0, open_low=True),
                   help=f"minutes between checkpoints (default {default('checkpoint_minutes')})")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


COMPACT = "pipeline_fp16"
"""Where the gpu recipe writes its compact pipeline in the run folder (``--compact``)."""


def _config(args: argparse.Namespace):
    """The recipe's settings with every option given on the command line in their place."""
    from dataclasses import replace

    from diffc.models.training import RECIPES

    given = {"size": args.size, "octaves": args.octaves, "steps": args.steps, "batch": args.batch,
             "lr": args.lr, "lr_final": args.lr_final, "block_out_channels": args.channels, "bf16": args.bf16,
             "device": args.device, "checkpoint_minutes": args.checkpoint_minutes,
             "codec_share": args.codec_share}
    config = replace(RECIPES[args.recipe], seed=args.seed, threads=args.threads,
                     **{k: v for k, v in given.items() if v is not None})
    if args.no_attention:
        config = replace(config, attention=False)
    if args.init is not None or args.no_init:
        config = replace(config, init=str(args.init or ""))
    return config


def _run(args: argparse.Namespace) -> int:
    import os

    # On a shared CPU, OpenMP threads that spin at barriers stall whenever another process holds a
    # core (measured: 2 threads 6-9 s/step under load instead of 1 s); passive waiting avoids it. It
    # must be set before torch starts its thread pool.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from diffc.cli._common import UsageError
    from diffc.models import compact_weights, data, photo_pack, training

    config = _config(args)
    if config.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is available (the gpu recipe needs one; "
                             "--device cpu runs it on the CPU)")
    if training.codec_draws(config) >= config.batch:
        raise UsageError(f"--codec-share {config.codec_share}: leaves no draw of a batch of {config.batch} "
                         "for the ELBO")
    multiple = 2 ** (len(config.block_out_channels) - 1)
    if config.size % multiple:
        levels = len(config.block_out_channels)
        raise UsageError(f"--size {config.size}: a UNet with {levels} levels needs a multiple of {multiple}")
    # The run's own compact folder is replaced like its pipeline/; a folder named by --compact must be new.
    own = args.out / COMPACT if args.recipe == "gpu" else None
    compact = args.compact if args.compact is not None else own
    if args.compact is not None and args.compact.exists():
        raise UsageError(f"--compact {args.compact} exists: choose a new folder")
    if photo_pack.is_pack(args.data):
        if config.octaves != (0,):
            raise UsageError(f"--octaves {','.join(map(str, config.octaves))}: a photo pack holds octave 0 "
                             "only; train on the `diffc data` folder")
        photos, octaves = list(photo_pack.read_pack(args.data).values()), None
    else:
        pyramid = data.training_pyramid(args.data, config.octaves, min_side=config.size)
        for k, level in pyramid.items():
            mpx = sum(a.shape[0] * a.shape[1] for a in level.values()) / 1e6
            print(f"octave {k:+d}: {len(level)} photos, {mpx:.1f} Mpx")
        photos = [image for level in pyramid.values() for image in level.values()]
        octaves = [k for k, level in pyramid.items() for _ in level]
    state = training.train(photos, args.out, config, resume=args.resume, progress=not args.quiet,
                           octaves=octaves)
    print(f"step {state.step}, {state.wall_s / 60:.1f} min; EMA pipeline in {args.out / training.PIPELINE}")
    if compact is not None:
        files = compact_weights.export_compact(args.out / training.PIPELINE, compact, replace=compact == own)
        print(f"compact EMA pipeline in {compact}: largest file {max(f.stat().st_size for f in files)} bytes")
    return 0
