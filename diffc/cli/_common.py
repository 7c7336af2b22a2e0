"""What every ``diffc`` tool shares: error classes, exit codes, dispatch and common options."""

from __future__ import annotations

import argparse
import math
import warnings
from pathlib import Path

from diffc.diffusion.checks import MAX_SEED
from diffc.diffusion.spacing import MAX_IMAGE_STEPS
from rcc.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, int_in, positive_int, real_in
from rcc.cli import run as dispatch
from rcc.gaussian import PRESETS, RULES, GaussianChannel, preset
from rcc.gaussian.spec import CHUNK_BITS, HEADROOM_BITS
from rcc_kernels import gpu
from rcc_kernels.search import backend_for_device

__all__ = ["DTYPES", "EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "MAX_THREADS", "UsageError", "add_channel_args",
           "add_model_args", "channel_from", "codec_from", "conditioning_from_file", "device", "dispatch",
           "existing_path", "int_in", "load_model_from", "note_expected_time", "positive_int", "real_in",
           "seed", "step_counts"]

MAX_THREADS = 256
"""The most torch threads ``--threads`` takes (OpenMP fails, or the process dies, far above the cores)."""
DTYPES = ("float32", "float64", "float16", "bfloat16")
NETWORK_SECONDS_PER_PIXEL = 5.8e-6
"""CPU wall time of one float32 pass of the default model per pixel on two threads: 35.2 s for the 23
passes of a 512 x 512 decompress (``benchmarks/reference/cpu_speed.json``, docs/inputs.md)."""
SEARCH_SECONDS_PER_CANDIDATE = 5.5e-9
"""CPU wall time of the channel's search per candidate and coded value on two cores: 123.4 s for 14
steps of 2^11 candidates over 786,432 values (the same run)."""
LONG_WORK_S = 60.0
seed = int_in(0, MAX_SEED)
"""argparse type: a seed as the file stores it (an unsigned 64-bit integer)."""

def existing_path(text: str) -> Path:
    """argparse type: a path that must exist (bad usage, exit 2, otherwise)."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file or folder")
    return path


def step_counts(text: str) -> tuple[int, ...]:
    """argparse type: comma-separated step counts in ``[1, MAX_IMAGE_STEPS]``, e.g. ``8,12,16``
    (a tool checks them against its own step count)."""
    parse = int_in(1, MAX_IMAGE_STEPS)
    try:
        return tuple(parse(v) for v in text.split(","))
    except argparse.ArgumentTypeError as err:
        raise argparse.ArgumentTypeError(f"comma-separated step counts: {err}") from None


def device(text: str) -> str:
    """argparse type: a torch device this machine has (``cpu``, ``cuda``, ``cuda:N``, ``mps``);
    torch is imported only for a device other than the CPU."""
    kind, _, index = text.partition(":")
    if kind not in ("cpu", "cuda", "mps") or (index and not index.isdigit()) or (kind == "cpu" and index):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda, cuda:N or mps, got {text!r}")
    if kind == "cpu":
        return text
    import torch

    backend = torch.cuda if kind == "cuda" else torch.backends.mps
    if not backend.is_available():
        raise argparse.ArgumentTypeError(f"{text}: this torch has no {kind} device (a CPU-only build, or "
                                         f"no device found); use --device cpu")
    if kind == "cuda" and index and int(index) >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(f"{text}: there are {torch.cuda.device_count()} CUDA device(s)")
    return text


def add_model_args(p: argparse.ArgumentParser) -> None:
    """``--model``, ``--device``, ``--dtype``, ``--threads`` and ``--quiet``: how every tool loads a model."""
    p.add_argument("--model", type=existing_path, default=None,
                   help="diffusers pipeline or UNet folder (default: the shipped default model)")
    p.add_argument("--device", type=device, default="cpu",
                   help="torch device of the network and the VAE: cpu, cuda, cuda:N, mps (default: cpu); "
                        "with cuda the channel's search runs on the GPU too (the same file)")
    p.add_argument("--dtype", choices=DTYPES, default="float32",
                   help="torch dtype of the network (default: float32); the VAE stays float32 and the "
                        "channel float64. On a CPU, bfloat16 is faster than float32 only where the CPU has "
                        "bfloat16 instructions (AMX, AVX512-BF16); decode with the dtype you encoded with")
    p.add_argument("--threads", type=int_in(1, MAX_THREADS), default=None,
                   help="torch threads for the network (default: every usable core)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--prompt", default=None,
                   help="condition a text-to-image model on this text (the file records it: decoding "
                        "reads it from there)")
    p.add_argument("--guidance", type=real_in(-math.inf), default=None,
                   help="classifier-free guidance scale (two passes; Flux: its guidance embedding); "
                        "recorded in the file")
    p.add_argument("--class-label", type=int_in(0, 2**31), default=None,
                   help="DiT: the class to condition on (recorded in the file)")


_OPTIONS = {"prompt": "--prompt", "guidance": "--guidance", "class_label": "--class-label"}


def conditioning_from_file(args: argparse.Namespace, options: dict[str, object]) -> None:
    """Set the conditioning options of ``args`` to those a file records (``options``: its header's);
    an option the user also gave must be the file's (bad usage otherwise, naming both)."""
    for name, flag in _OPTIONS.items():
        given, recorded = getattr(args, name), options[name]
        if given is not None and given != recorded:
            theirs = "none (the model's default)" if recorded is None else repr(recorded)
            raise UsageError(f"{flag} {given!r} differs from the file's {flag.lstrip('-')}: {theirs} "
                             f"(decoding reads it from the file; leave {flag} out)")
        setattr(args, name, recorded)
    args.conditioning_from_file = True


def add_channel_args(p: argparse.ArgumentParser) -> None:
    """The Gaussian channel's settings (they are written into every file)."""
    p.add_argument("--steps", type=int_in(1, MAX_IMAGE_STEPS), default=None,
                   help="encoding steps of the schedule (default: the codec's, 16)")
    p.add_argument("--coder", choices=RULES, default="pfr", help="candidate selection rule")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default",
                   help="channel preset: 'default' (fewest bits at equal distortion, measured), "
                        "'exact' (samples indistinguishable from the target, about 1.3x the bits, "
                        "1.3-1.6x the time) or 'fast' (a search about 4x shorter than the default's)")
    p.add_argument("--chunk-bits", type=int_in(CHUNK_BITS.start, CHUNK_BITS.stop - 1), default=None,
                   help="KL a chunk is filled to (bits; default: the preset's)")
    p.add_argument("--headroom-bits", type=int_in(HEADROOM_BITS.start, HEADROOM_BITS.stop - 1), default=None,
                   help="extra candidates per chunk (bits; default: the preset's)")
    p.add_argument("--seed", type=seed, default=0, help="shared-randomness seed written into the file")


def add_solver_args(p: argparse.ArgumentParser) -> None:
    """The decoder's steps and DiffC-F's ODE solver (defaults: :mod:`diffc.codec`'s)."""
    from diffc.codec import DEFAULT_SOLVER, DEFAULT_SOLVER_STEPS, SOLVER_STEPS
    from diffc.diffusion.samplers import MAX_SOLVER_STEPS, SOLVERS

    fewer = ", ".join(f"{n} for {s}" for s, n in SOLVER_STEPS.items())
    p.add_argument("--solver-steps", type=int_in(1, MAX_SOLVER_STEPS), default=None,
                   help=f"decoder steps, 1 to {MAX_SOLVER_STEPS} (default: {fewer}, {DEFAULT_SOLVER_STEPS} "
                        f"for the others)")
    p.add_argument("--solver", choices=SOLVERS, default=DEFAULT_SOLVER,
                   help=f"DiffC-F's ODE solver (default: {DEFAULT_SOLVER})")


def note_expected_time(device: str, pixels: int, passes: int, candidates: int = 0) -> None:
    """Warn (a one-line note from the dispatcher) before CPU work expected to take a minute or more:
    ``passes`` network passes over ``pixels`` RGB pixels, each with a search of ``candidates`` per
    coded value when encoding."""
    seconds = pixels * passes * (NETWORK_SECONDS_PER_PIXEL + 3 * candidates * SEARCH_SECONDS_PER_CANDIDATE)
    if device == "cpu" and seconds >= LONG_WORK_S:
        warnings.warn(f"{pixels} pixels through up to {passes} network passes: expect roughly "
                      f"{seconds / 60:.0f} min on a CPU (docs/inputs.md); --bpp, --stop-t or a GPU are "
                      f"faster",
                      stacklevel=2)


def load_model_from(args: argparse.Namespace) -> object:
    """The model of ``--model`` (or the default), conditioned as the options say: options that do not
    fit the model are bad usage, unless they came from a file (then the model is the wrong one)."""
    from diffc.models import ConditioningError, default_model_dir, load_model, set_torch_threads

    path = args.model if args.model is not None else default_model_dir()
    if not path.exists():
        raise UsageError(f"no model given and no default model at {path}: pass --model DIR")
    set_torch_threads(getattr(args, "threads", None))
    try:
        return load_model(path, device=args.device, dtype=args.dtype, prompt=args.prompt,
                          guidance=args.guidance, class_label=args.class_label, progress=not args.quiet)
    except ConditioningError as err:
        if getattr(args, "conditioning_from_file", False):
            raise
        raise UsageError(str(err)) from err


def channel_from(args: argparse.Namespace) -> GaussianChannel:
    """The channel the options of :func:`add_channel_args` describe (bad usage for settings it
    refuses), its candidate search beside the network: on the GPU for ``--device cuda``
    (:func:`rcc_kernels.search.backend_for_device`; the same bytes as on the CPU). Decompress has no
    channel options: the file's header names its channel, and decoding searches nothing."""
    device = getattr(args, "device", "cpu")
    backend = backend_for_device(device)
    if backend == "gpu" and (reason := gpu.unavailable()) is not None:
        raise UsageError(f"--device {device}: the channel's search runs on the GPU with numba-cuda and CuPy, "
                         f"and {reason} (pip install 'rcc[gpu]')")
    try:
        spec = preset(getattr(args, "preset", "default"), rule=getattr(args, "coder", None),
                      chunk_bits=getattr(args, "chunk_bits", None),
                      headroom_bits=getattr(args, "headroom_bits", None))
    except ValueError as err:
        raise UsageError(str(err)) from err
    return GaussianChannel(spec, backend=backend)


def codec_from(args: argparse.Namespace) -> object:
    """The :class:`diffc.codec.DiffCCodec` the arguments describe."""
    from diffc.codec import DEFAULT_STEPS, DiffCCodec

    steps = getattr(args, "steps", None) or DEFAULT_STEPS
    channel = channel_from(args)  # its bad usage before a model is loaded
    return DiffCCodec(load_model_from(args), channel, steps=steps, progress=not args.quiet)
