"""A local diffusers folder as an image model: pixel-space ``UNet2DModel`` here, latent pipelines by family.

:func:`load_model` reads the folder's ``model_index.json``: a pipeline whose denoiser is a
``UNet2DConditionModel``, ``DiTTransformer2DModel``, ``SD3Transformer2DModel`` or
``FluxTransformer2DModel`` is a latent model (:mod:`diffc.models.latent_folder`), any other
pipeline is refused naming its classes (:mod:`diffc.models.families`); a ``UNet2DModel``
pipeline or a bare UNet folder is a pixel-space model, read as below.

The loader reads (nothing is downloaded: ``local_files_only=True``)

* a pipeline folder: ``model_index.json``, ``unet/`` and ``scheduler/`` (as ``DDPMPipeline``
  saves it), or
* a bare UNet folder (``config.json`` and weights) with a scheduler config: a
  ``scheduler_config.json`` inside it or beside it, or the path given as ``scheduler=``.

The scheduler's ``alphas_cumprod`` becomes the :class:`~diffc.diffusion.schedules.DiscreteVP` table
(:meth:`~diffc.diffusion.schedules.DiscreteVP.from_diffusers`, which drops a zero-terminal-SNR last entry),
and the table index is the network's timestep (one place: ``DiscreteVP.model_timestep``).
``prediction_type`` ("epsilon", "v_prediction", "sample") is converted to epsilon by
:class:`~diffc.diffusion.denoisers.ConvertedDenoiser`; a learned-variance UNet (twice the output channels)
contributes its first half, the mean, since DiffC uses the posterior variance on both sides. The
model clips x0 to ``[-clip_sample_range, clip_sample_range]`` when the scheduler sets
``clip_sample`` (diffusers' samplers' own clipping), to ``[-1, 1]`` otherwise
(:mod:`diffc.models.pixel`).

Sizes: the network needs sizes divisible by ``2^(down blocks - 1)``, so every evaluation
reflect-pads ``z`` to that multiple (:func:`diffc.imaging.io.pad`) and crops the prediction back:
an approximation only at the borders of odd-sized images, identical on both sides. Evaluations are
batched over any leading axes.

A UNet folder may set an attention window (``unet/diffc_config.json``,
:mod:`diffc.models.windowed_attention`): its self-attention then attends within windows of that many
tokens per side, as the shipped model does on photos larger than its training crops.

The fingerprint (SHA-256) covers the UNet config, the attention window when one is set, every weight
tensor as float32 (name, dtype, shape, bytes), the prediction type and the VP table, so a file
refuses to decode with any other model; the ``dtype`` the network runs at is not part of it (the
weights are the same model at any precision).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from diffc.diffusion.denoisers import ConvertedDenoiser
from diffc.diffusion.parametrizations import PREDICTIONS
from diffc.diffusion.schedules import DiscreteVP
from diffc.imaging.io import crop, pad
from diffc.models.base import ImageModel
from diffc.models.families import ConditioningError, ModelError, read_index
from diffc.models.latent_folder import load_latent_model
from diffc.models.pixel import PixelModel
from diffc.models.windowed_attention import read_window, use_windows

__all__ = ["ConditioningError", "ModelError", "default_model_dir", "load_model", "set_torch_threads"]


def default_model_dir() -> Path:
    """The shipped default model (``diffc/models/default``)."""
    return Path(__file__).resolve().parent / "default"


def _weights_digest(module: object, config: dict, window: int | None) -> bytes:
    h = hashlib.sha256(b"diffusers-UNet2DModel/1\x00")
    if window is not None:
        # Only a folder that sets a window hashes it, so every other folder keeps its fingerprint.
        h.update(f"attention_window={window}\x00".encode())
    h.update(json.dumps({k: v for k, v in config.items() if not k.startswith("_")}, sort_keys=True,
                        default=list).encode())
    for name, tensor in sorted(module.state_dict().items()):
        array = tensor.detach().to("cpu").contiguous().numpy()
        h.update(f"\x00{name}:{array.dtype.str}:{array.shape}\x00".encode())
        h.update(array.tobytes())
    return h.digest()


def _find_parts(path: Path, scheduler: Path | None) -> tuple[Path, Path]:
    """The UNet folder and the scheduler config (file or folder) of a model path."""
    if not path.is_dir():
        raise ModelError(f"{path}: not a model folder")
    if (path / "model_index.json").is_file() or (path / "unet").is_dir():
        unet_dir, sched = path / "unet", scheduler or path / "scheduler"
    elif (path / "config.json").is_file():
        unet_dir = path
        sched = scheduler or next((p for p in (path / "scheduler_config.json",
                                               path.parent / "scheduler_config.json",
                                               path.parent / "scheduler") if p.exists()), None)
        if sched is None:
            raise ModelError(f"{path} is a bare UNet folder without a scheduler config: put a "
                             f"scheduler_config.json beside it or pass the scheduler's path")
    else:
        raise ModelError(f"{path} holds neither a diffusers pipeline (model_index.json, unet/, "
                         f"scheduler/) nor a UNet (config.json)")
    if not (unet_dir / "config.json").is_file():
        raise ModelError(f"{unet_dir}: no UNet config.json")
    return unet_dir, Path(sched)


def _load_scheduler(path: Path) -> object:
    import diffusers

    config_file = path / "scheduler_config.json" if path.is_dir() else path
    if not config_file.is_file():
        raise ModelError(f"{config_file}: no scheduler config")
    try:
        config = json.loads(config_file.read_text())
        cls = getattr(diffusers, str(config.get("_class_name", "DDPMScheduler")), None)
        if cls is None or not hasattr(cls, "from_config"):
            cls = diffusers.DDPMScheduler
        return cls.from_config(config)
    except (json.JSONDecodeError, TypeError, ValueError) as err:
        raise ModelError(f"{config_file}: not a diffusers scheduler config ({err})") from err


def _vp_table(scheduler: object) -> DiscreteVP:
    try:
        return DiscreteVP.from_diffusers(scheduler)
    except ValueError as err:
        raise ModelError(str(err)) from err


def _evaluator(unet: object, channels: int, multiple: int, batch_size: int) -> object:
    import torch

    param = next(unet.parameters())

    def fn(z: np.ndarray, timestep: float) -> np.ndarray:
        if z.ndim < 3 or z.shape[-3] != channels:
            raise ValueError(f"the model takes arrays (..., {channels}, H, W), got shape {z.shape}")
        lead, shape = z.shape[:-3], z.shape[-3:]
        flat = pad(z.reshape(-1, *shape), multiple)
        out = np.empty((len(flat), *shape))
        with torch.inference_mode():
            for i in range(0, len(flat), batch_size):
                x = torch.from_numpy(np.ascontiguousarray(flat[i:i + batch_size]))
                x = x.to(param.device, param.dtype)
                t = torch.full((len(x),), int(timestep), device=param.device, dtype=torch.long)
                y = unet(x, t).sample[:, :channels]
                out[i:i + batch_size] = crop(y.to("cpu", torch.float64).numpy(), shape[1:])
        return out.reshape(*lead, *shape)

    return fn


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, which ``os.cpu_count`` ignores)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def set_torch_threads(n: int | None = None) -> None:
    """Torch's CPU threads for the network; None: every usable core. The network and the candidate
    search (Numba's threads) alternate, never overlap, so each phase can take every core, provided
    torch's OpenMP threads sleep rather than spin between forward passes: the command line sets
    ``OMP_WAIT_POLICY=PASSIVE`` before torch loads (spinning threads slowed the search beside them)."""
    import torch

    torch.set_num_threads(n or usable_cores())


def _is_latent(path: Path) -> dict | None:
    """The model index of a latent pipeline folder, None for a pixel-space one."""
    if not (path / "model_index.json").is_file():
        return None
    index = read_index(path)
    unet = index.get("unet")
    return None if isinstance(unet, list) and len(unet) == 2 and unet[1] == "UNet2DModel" else index


def load_model(path: str | Path, *, device: str = "cpu", dtype: str = "float32", batch_size: int = 8,
               scheduler: str | Path | None = None, prompt: str | None = None, guidance: float | None = None,
               class_label: int | None = None, progress: bool = True) -> ImageModel:
    """Load a local diffusers folder as an image model (see the module docstring).

    ``prompt``, ``guidance`` and ``class_label`` condition a latent model
    (:mod:`diffc.models.text_conditioning`); a pixel-space model takes none of them. ``progress``:
    diffusers' loading bars and warnings (off: quiet).
    """
    import torch
    from diffusers import UNet2DModel

    index = _is_latent(Path(path))
    if index is not None:
        return load_latent_model(Path(path), index, device=device, dtype=dtype, batch_size=batch_size,
                                 prompt=prompt, guidance=guidance, class_label=class_label, progress=progress)
    if (prompt, guidance, class_label) != (None, None, None):
        raise ConditioningError(f"{path} is an unconditional pixel-space model: it takes no prompt, guidance "
                         f"or class")
    unet_dir, sched_path = _find_parts(Path(path), Path(scheduler) if scheduler is not None else None)
    sched = _load_scheduler(sched_path)
    torch_dtype = getattr(torch, dtype, None)
    if not isinstance(torch_dtype, torch.dtype):
        raise ModelError(f"unknown dtype {dtype!r} (e.g. float32, float64, bfloat16)")

    try:
        unet = UNet2DModel.from_pretrained(unet_dir, local_files_only=True, low_cpu_mem_usage=False,
                                           torch_dtype=torch.float32)
    except (OSError, ValueError) as err:
        raise ModelError(f"{unet_dir}: cannot load the UNet ({err})") from err
    # The fingerprint names the weights, not the precision the network runs at (nor its device), as a
    # latent model's folder digest does: a file encoded in bfloat16 decodes in float32 (README). The
    # cast is from_pretrained's own (a state dict loaded in float32, then the module cast).
    try:
        window = read_window(unet_dir)
    except ValueError as err:
        raise ModelError(str(err)) from err
    unet = use_windows(unet, window)
    digest = _weights_digest(unet, dict(unet.config), window)
    if torch_dtype != torch.float32:
        # torch's own cast: diffusers' ``to`` warns about float32-only modules on every dtype cast, and
        # UNet2DModel has none.
        unet = torch.nn.Module.to(unet, torch_dtype)
    try:
        unet = unet.to(torch.device(device)).eval()
    except (RuntimeError, TypeError) as err:
        raise ModelError(f"cannot put the model on device {device!r}: {err}") from err
    cfg = unet.config
    channels = int(cfg.in_channels)
    if int(cfg.out_channels) not in (channels, 2 * channels):
        raise ModelError(f"the UNet maps {channels} channels to {cfg.out_channels}: not a denoiser")
    prediction = str(sched.config.get("prediction_type", "epsilon"))
    if prediction not in PREDICTIONS:
        raise ModelError(f"prediction_type {prediction!r} is not one of {PREDICTIONS}")
    multiple = 2 ** (len(cfg.down_block_types) - 1)
    denoiser = ConvertedDenoiser(_evaluator(unet, channels, multiple, batch_size), _vp_table(sched),
                                 prediction, digest)
    limit = float(sched.config.get("clip_sample_range", 1.0)) if sched.config.get("clip_sample") else 1.0
    return PixelModel(denoiser, channels, multiple, True, (-limit, limit), str(path))
