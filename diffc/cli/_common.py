"""What every ``diffc`` tool shares: error classes, exit codes, dispatch and common options."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rcc.cli import positive_int
from rcc.gaussian import PRESETS, RULES, GaussianChannel, preset

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "UsageError", "add_channel_args", "add_model_args",
           "channel_from", "codec_from", "dispatch", "existing_path", "load_model_from", "positive_int",
           "step_counts"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """The command line is wrong (exit code 2): a bad value, a path that does not exist."""


def existing_path(text: str) -> Path:
    """argparse type: a path that must exist (bad usage, exit 2, otherwise)."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file or folder")
    return path


def step_counts(text: str) -> tuple[int, ...]:
    """argparse type: comma-separated positive step counts, e.g. ``8,12,16``."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated step counts, got {text!r}") from err
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"step counts must be positive, got {text!r}")
    return values


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


def add_model_args(p: argparse.ArgumentParser) -> None:
    """``--model``, ``--device``, ``--dtype`` and ``--quiet``: how every tool loads a model."""
    p.add_argument("--model", type=existing_path, default=None,
                   help="diffusers pipeline or UNet folder (default: the shipped default model)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    p.add_argument("--dtype", default="float32", help="torch dtype of the network (default: float32)")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="torch threads for the network (default: 1; see the README)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--prompt", default=None,
                   help="condition a text-to-image model on this text (decoding needs the same)")
    p.add_argument("--guidance", type=float, default=None,
                   help="classifier-free guidance scale (two passes; Flux: its guidance embedding)")
    p.add_argument("--class-label", type=int, default=None, help="DiT: the class to condition on")


def add_channel_args(p: argparse.ArgumentParser) -> None:
    """The Gaussian channel's settings (they are written into every file)."""
    p.add_argument("--steps", type=positive_int, default=None,
                   help="encoding steps of the schedule (default: the codec's, 16)")
    p.add_argument("--coder", choices=RULES, default="pfr", help="candidate selection rule")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default",
                   help="channel preset: 'default' (fewest bits at equal distortion, measured) or 'exact' "
                        "(samples indistinguishable from the target, about 1.2x the bits, 4x the time)")
    p.add_argument("--chunk-bits", type=positive_int, default=None,
                   help="KL a chunk is filled to (bits; default: the preset's)")
    p.add_argument("--headroom-bits", type=int, default=None,
                   help="extra candidates per chunk (bits; default: the preset's)")
    p.add_argument("--seed", type=int, default=0, help="shared-randomness seed written into the file")


def load_model_from(args: argparse.Namespace) -> object:
    from diffc.models import default_model_dir, load_model, set_torch_threads

    path = args.model if args.model is not None else default_model_dir()
    if not path.exists():
        raise UsageError(f"no model given and no default model at {path}: pass --model DIR")
    set_torch_threads(getattr(args, "threads", 1))
    return load_model(path, device=args.device, dtype=args.dtype, prompt=args.prompt, guidance=args.guidance,
                      class_label=args.class_label, progress=not args.quiet)


def channel_from(args: argparse.Namespace) -> GaussianChannel:
    """The channel the options of :func:`add_channel_args` describe (bad usage for settings it
    refuses). Decompress has no channel options: the file's header names its channel."""
    try:
        return GaussianChannel(preset(getattr(args, "preset", "default"), rule=getattr(args, "coder", None),
                                      chunk_bits=getattr(args, "chunk_bits", None),
                                      headroom_bits=getattr(args, "headroom_bits", None)))
    except ValueError as err:
        raise UsageError(str(err)) from err


def codec_from(args: argparse.Namespace) -> object:
    """The :class:`diffc.codec.DiffCCodec` the arguments describe."""
    from diffc.codec import DEFAULT_STEPS, DiffCCodec

    steps = getattr(args, "steps", None) or DEFAULT_STEPS
    return DiffCCodec(load_model_from(args), channel_from(args), steps=steps, progress=not args.quiet)
