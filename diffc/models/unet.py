"""Any diffusers ``UNet2DModel`` with its scheduler, from a local folder, as a DiffC image model.

The loader reads (nothing is downloaded: ``local_files_only=True``)

* a pipeline folder: ``model_index.json``, ``unet/`` and ``scheduler/`` (as ``DDPMPipeline``
  saves it), or
* a bare UNet folder (``config.json`` and weights) with a scheduler config: a
  ``scheduler_config.json`` inside it or beside it, or the path given as ``scheduler=``.

The scheduler's ``alphas_cumprod`` becomes the :class:`~diffc.schedules.DiscreteVP` table, and
the table index is the network's timestep (DESIGN section 5; one place:
``DiscreteVP.model_timestep``). A zero-terminal-SNR table (``rescale_betas_zero_snr``) loses its
last entry, where ``Z`` is pure noise and no Gaussian channel step exists. ``prediction_type``
("epsilon", "v_prediction", "sample") is converted to epsilon by
:class:`~diffc.denoisers.ConvertedDenoiser`; a learned-variance UNet (twice the output channels)
contributes its first half, the mean, since DiffC uses the posterior variance on both sides.
Pixel models always clip x0 to the data range, identically in the encoder and every decoder: the
data lie in ``[-1, 1]``, and an unclipped estimate far outside it makes single pixels carry many
bits in one step. The range is ``[-clip_sample_range, clip_sample_range]`` when the scheduler sets
``clip_sample`` (diffusers' samplers' own clipping), ``[-1, 1]`` otherwise.

Sizes: DiffC codes exactly the image's pixels, never padding. The network needs sizes divisible by
``2^(down blocks - 1)``, so every evaluation reflect-pads ``z`` to that multiple
(:func:`diffc.tools.images.pad`) and crops the prediction back: an approximation only at the
borders of odd-sized images, identical on both sides.

:class:`PixelModel` is the one place where images meet the model: pixels to the model's range
and back with one rounding rule, the denoiser, the value range and the clip flag. A latent-space
model (a VAE around the UNet) joins later as another class with the same members; the encoder and
decoders only ever see the denoiser.

The fingerprint (SHA-256) covers the UNet config, every weight tensor (name, dtype, shape, bytes),
the prediction type and the VP table, so a file refuses to decode with any other model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from diffc.diffusion.denoisers import ConvertedDenoiser
from diffc.diffusion.schedules import DiscreteVP
from diffc.tools.images import as_image, channels_first, channels_last, crop, pad

__all__ = ["ModelError", "PixelModel", "load_model", "pixels_to_unit", "unit_to_pixels"]

PREDICTIONS = ("epsilon", "v_prediction", "sample")


class ModelError(ValueError):
    """The folder does not hold a usable diffusers UNet and scheduler."""


def pixels_to_unit(image: np.ndarray) -> np.ndarray:
    """8-bit values to ``[-1, 1]``: ``x = 2 u / 255 - 1`` (exact in float64)."""
    return np.asarray(image, dtype=np.float64) * (2.0 / 255.0) - 1.0


def unit_to_pixels(x: np.ndarray) -> np.ndarray:
    """``[-1, 1]`` to the nearest 8-bit value, ties rounded up, clipped to ``[0, 255]``.

    The inverse of :func:`pixels_to_unit` on its image: ``unit_to_pixels(pixels_to_unit(u)) == u``.
    """
    return np.clip(np.floor((np.asarray(x, dtype=np.float64) + 1.0) * 127.5 + 0.5), 0, 255).astype(np.uint8)


@dataclass(frozen=True, eq=False)
class PixelModel:
    """A pixel-space diffusion model seen by the image codec (see the module docstring)."""

    denoiser: ConvertedDenoiser
    channels: int
    multiple: int
    clip: bool
    value_range: tuple[float, float] = (-1.0, 1.0)
    source: str = field(default="", compare=False)

    def to_model(self, image: np.ndarray) -> np.ndarray:
        """``uint8`` image ``(H, W[, C])`` to the model-space array ``(C, H, W)``."""
        x = channels_first(as_image(image))
        if x.shape[0] != self.channels:
            raise ValueError(f"the model codes {self.channels}-channel images, got {x.shape[0]} channel(s)"
                             + (" (a grayscale image for an RGB model: convert it to RGB first)"
                                if x.shape[0] == 1 else ""))
        return pixels_to_unit(x)

    def from_model(self, x: np.ndarray) -> np.ndarray:
        """Model-space array ``(C, H, W)`` to the ``uint8`` image ``(H, W[, C])``."""
        return channels_last(unit_to_pixels(x))

    def fingerprint(self) -> bytes:
        return self.denoiser.fingerprint()


def _weights_digest(module: object, config: dict) -> bytes:
    h = hashlib.sha256(b"diffusers-UNet2DModel/1\x00")
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
    table = getattr(scheduler, "alphas_cumprod", None)
    if table is None:
        raise ModelError(f"{type(scheduler).__name__} has no alphas_cumprod table (not a VP scheduler)")
    a = [float(v) for v in np.asarray(table, dtype=np.float64)]
    if a and a[-1] <= 0.0:
        a = a[:-1]  # zero terminal SNR
    try:
        return DiscreteVP(tuple(a))
    except ValueError as err:
        raise ModelError(f"the scheduler's alpha-bar table is not a VP schedule: {err}") from err


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


def load_model(path: str | Path, *, device: str = "cpu", dtype: str = "float32", batch_size: int = 8,
               scheduler: str | Path | None = None) -> PixelModel:
    """Load a local diffusers UNet and scheduler as a :class:`PixelModel` (see the module docstring)."""
    import torch
    from diffusers import UNet2DModel

    unet_dir, sched_path = _find_parts(Path(path), Path(scheduler) if scheduler is not None else None)
    sched = _load_scheduler(sched_path)
    torch_dtype = getattr(torch, dtype, None)
    if not isinstance(torch_dtype, torch.dtype):
        raise ModelError(f"unknown dtype {dtype!r} (e.g. float32, float64, bfloat16)")
    try:
        unet = UNet2DModel.from_pretrained(unet_dir, local_files_only=True, low_cpu_mem_usage=False,
                                           torch_dtype=torch_dtype)
    except (OSError, ValueError) as err:
        raise ModelError(f"{unet_dir}: cannot load the UNet ({err})") from err
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
                                 prediction, _weights_digest(unet, dict(cfg)))
    limit = float(sched.config.get("clip_sample_range", 1.0)) if sched.config.get("clip_sample") else 1.0
    return PixelModel(denoiser, channels, multiple, True, (-limit, limit), str(path))
