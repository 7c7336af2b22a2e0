"""A local diffusers latent pipeline folder (SD 1.x/2.x/XL, DiT, SD3, Flux) as a :class:`LatentModel`.

The folder is loaded with diffusers' own pipeline class (``local_files_only``: nothing is
downloaded), without the parts DiffC never runs (safety checker, feature extractor, image encoder)
and without SD3's T5 encoder when the folder lacks it (the pipeline then uses zeros in its place).
The family (:mod:`diffc.models.families`) decides the schedule and parametrization:

* UNets and DiT: the scheduler's ``alphas_cumprod`` as a
  :class:`~diffc.diffusion.schedules.DiscreteVP` and its ``prediction_type`` (SD 2.x 768 and other
  v-models say ``v_prediction``);
* SD3 and Flux: :class:`~diffc.diffusion.schedules.RectifiedFlowVP` over the scheduler's
  ``num_train_timesteps`` (``s`` in ``[1/N, 1 - 1/N]``), the velocity converted to epsilon.

``dtype`` is the denoiser's and text encoders' precision; the VAE always runs in float32. The
conditioning is computed once here (:mod:`diffc.models.text_conditioning`) and the text
encoders are dropped. The fingerprint is the folder's file digest (:mod:`diffc.models.weights_digest`:
cached, so a multi-GB folder is not re-read on every load) with the family, parametrization and
schedule. Bad folders are one-line :class:`~diffc.models.families.ModelError` s: an unsupported
family names the classes found and the supported ones; a missing part, or a VAE whose latent channels
do not match the denoiser's input, names it.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from diffc.diffusion.denoisers import ConvertedDenoiser
from diffc.diffusion.schedules import DiscreteVP, RectifiedFlowVP, VPSchedule
from diffc.models.families import Family, ModelError, detect_family
from diffc.models.latent import LatentAutoencoder, LatentModel
from diffc.models.latent_networks import LatentEvaluator, denoiser_multiple
from diffc.models.text_conditioning import condition
from diffc.models.weights_digest import folder_digest

__all__ = ["load_latent_model"]

_UNUSED = ("safety_checker", "feature_extractor", "image_encoder")


@contextmanager
def _quiet_loading(quiet: bool) -> Iterator[None]:
    """diffusers' and transformers' loading bars and info warnings off while loading, when ``quiet``.
    transformers only where it is installed: a pipeline without text encoders (DiT) needs none."""
    if not quiet:
        yield
        return
    from diffusers.utils import logging as dlog

    libs = [dlog]
    if importlib.util.find_spec("transformers") is not None:
        from transformers.utils import logging as tlog

        libs.append(tlog)
    levels = [lib.get_verbosity() for lib in libs]
    for lib in libs:
        lib.disable_progress_bar()
        lib.set_verbosity_error()
    try:
        yield
    finally:
        for lib, level in zip(libs, levels, strict=True):
            lib.enable_progress_bar()
            lib.set_verbosity(level)


def _schedule(family: Family, scheduler: object) -> tuple[VPSchedule, str]:
    if family.flow:
        n = int(scheduler.config.get("num_train_timesteps", 1000))
        return RectifiedFlowVP(1.0 / n, 1.0 - 1.0 / n, n), "flow_prediction"
    prediction = str(scheduler.config.get("prediction_type", "epsilon"))
    if prediction not in ("epsilon", "v_prediction", "sample"):
        raise ModelError(f"prediction_type {prediction!r} is not epsilon, v_prediction or sample")
    try:
        return DiscreteVP.from_diffusers(scheduler), prediction
    except ValueError as err:
        raise ModelError(str(err)) from err


def _check_channels(family: Family, vae: LatentAutoencoder, config: object) -> None:
    need = int(config.in_channels)
    have = vae.latent_channels * (4 if family.name == "flux" else 1)
    if have != need:
        packed = " (packed 2x2)" if family.name == "flux" else ""
        raise ModelError(f"the VAE makes {vae.latent_channels}-channel latents{packed}, but the "
                         f"{family.denoiser} "
                         f"takes {need} input channels: VAE and denoiser do not belong together")


def load_latent_model(path: Path, index: dict, *, device: str = "cpu", dtype: str = "float32",
                      batch_size: int = 8, prompt: str | None = None, guidance: float | None = None,
                      class_label: int | None = None, progress: bool = True) -> LatentModel:
    """Load the latent pipeline folder ``path`` (``index``: its model_index.json); see the module
    docstring."""
    import torch
    from diffusers import DiffusionPipeline

    family = detect_family(path, index)
    torch_dtype = getattr(torch, dtype, None)
    if not isinstance(torch_dtype, torch.dtype):
        raise ModelError(f"unknown dtype {dtype!r} (e.g. float32, float64, bfloat16)")
    skip = {name: None for name in _UNUSED if name in index}
    skip |= {name: None for name in family.optional if not (path / name).is_dir()}
    # The VAE stays float32 whatever dtype the network runs in: SDXL's VAE overflows in float16
    # (diffusers' force_upcast), and the VAE's share of the run time is small.
    dtypes = {"default": torch_dtype, "vae": torch.float32}
    with _quiet_loading(not progress):  # also diffusers' warning against float16 on a CPU (it runs)
        try:
            pipe = DiffusionPipeline.from_pretrained(path, local_files_only=True, dtype=dtypes, **skip)
        except (OSError, ValueError, TypeError, AttributeError) as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ModelError(f"{path}: cannot load the {family.name} pipeline ({first})") from err
        try:
            pipe = pipe.to(torch.device(device))
        except (RuntimeError, TypeError) as err:
            raise ModelError(f"cannot put the model on device {device!r}: {err}") from err
    net = getattr(pipe, family.denoiser)
    vae = LatentAutoencoder.of(pipe.vae.eval())
    _check_channels(family, vae, net.config)
    vp, prediction = _schedule(family, pipe.scheduler)
    text = condition(pipe, family, prompt=prompt, class_label=class_label, guidance=guidance,
                     text_digest=folder_digest(path, family.text_parts))
    multiple = denoiser_multiple(family, net.config)
    identity = hashlib.sha256(b"diffc-latent/1\x00" + family.name.encode() + b"\x00"
                              + folder_digest(path)).digest()
    fn = LatentEvaluator(family, net.eval(), text, vae.latent_channels, multiple, vae.factor, batch_size)
    return LatentModel(ConvertedDenoiser(fn, vp, prediction, identity), vae, multiple * vae.factor,
                       family.name, text.record, str(path), square=family.name == "dit")
