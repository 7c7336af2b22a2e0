"""Which model family a diffusers pipeline folder holds, read from its ``model_index.json`` and configs.

A family fixes how the denoiser is called and conditioned (see the notes in the module docstrings
of :mod:`diffc.models.latent_networks` and :mod:`diffc.models.text_conditioning`):

========  ==============================  =================================================
family    denoiser class                  what tells it apart
========  ==============================  =================================================
``sd1``   ``UNet2DConditionModel``        one text encoder, ``use_linear_projection`` off
``sd2``   ``UNet2DConditionModel``        one text encoder, ``use_linear_projection`` on
``sdxl``  ``UNet2DConditionModel``        two text encoders (``text_encoder_2``)
``dit``   ``DiTTransformer2DModel``       class-conditional, no text encoder
``sd3``   ``SD3Transformer2DModel``       flow matching, two or three text encoders
``flux``  ``FluxTransformer2DModel``      flow matching, CLIP and T5
========  ==============================  =================================================

The prediction type (epsilon or v) is read from the scheduler, never from the family name.
A pixel-space ``UNet2DModel`` folder is not a latent family (:mod:`diffc.models.diffusers_folder`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FAMILIES", "ConditioningError", "Family", "ModelError", "detect_family", "read_index"]


class ModelError(ValueError):
    """The folder does not hold a usable diffusers model."""


class ConditioningError(ModelError):
    """The conditioning options (prompt, guidance, class label) do not fit the model: bad usage when
    a person gave them, a wrong model when a file recorded them."""


@dataclass(frozen=True)
class Family:
    """A latent model family: its name, denoiser component and class, and the parts it needs."""

    name: str
    denoiser: str
    classes: tuple[str, ...]
    text_parts: tuple[str, ...]
    flow: bool = False
    optional: tuple[str, ...] = ()
    """Parts the pipeline runs without when the folder lacks them (SD3's T5 encoder)."""

    @property
    def parts(self) -> tuple[str, ...]:
        """The components the loader needs (beyond the scheduler)."""
        return ("vae", self.denoiser, *self.text_parts)


_CLIP = ("text_encoder", "tokenizer")
_TWO = (*_CLIP, "text_encoder_2", "tokenizer_2")
FAMILIES: tuple[Family, ...] = (
    Family("sd1", "unet", ("UNet2DConditionModel",), _CLIP),
    Family("sd2", "unet", ("UNet2DConditionModel",), _CLIP),
    Family("sdxl", "unet", ("UNet2DConditionModel",), _TWO),
    Family("dit", "transformer", ("DiTTransformer2DModel", "Transformer2DModel"), ()),
    Family("sd3", "transformer", ("SD3Transformer2DModel",), _TWO, flow=True,
           optional=("text_encoder_3", "tokenizer_3")),
    Family("flux", "transformer", ("FluxTransformer2DModel",), _TWO, flow=True),
)
_BY_NAME = {f.name: f for f in FAMILIES}
SUPPORTED = ("UNet2DModel (pixel space), UNet2DConditionModel (SD 1.x, 2.x, XL), DiTTransformer2DModel, "
             "SD3Transformer2DModel, FluxTransformer2DModel")


def read_index(path: Path) -> dict:
    """The pipeline's ``model_index.json`` (component name to ``[library, class]``)."""
    try:
        index = json.loads((path / "model_index.json").read_text())
    except (OSError, ValueError) as err:
        raise ModelError(f"{path}: cannot read model_index.json ({err})") from err
    if not isinstance(index, dict):
        raise ModelError(f"{path}/model_index.json is not a JSON object")
    return index


def _class_of(index: dict, part: str) -> str | None:
    entry = index.get(part)
    return str(entry[1]) if isinstance(entry, list) and len(entry) == 2 and entry[1] else None


def _config(path: Path, part: str) -> dict:
    try:
        return json.loads((path / part / "config.json").read_text())
    except (OSError, ValueError) as err:
        raise ModelError(f"{path / part}: cannot read its config.json ({err})") from err


def detect_family(path: Path, index: dict) -> Family:
    """The latent family of the pipeline folder ``path`` (``index``: its model_index.json), checking
    that the parts it needs are there; a :class:`ModelError` names what is found and what is missing."""
    unet, transformer = _class_of(index, "unet"), _class_of(index, "transformer")
    if unet == "UNet2DConditionModel":
        if _class_of(index, "text_encoder_2"):
            family = _BY_NAME["sdxl"]
        else:
            linear = bool(_config(path, "unet").get("use_linear_projection"))
            family = _BY_NAME["sd2" if linear else "sd1"]
    else:
        family = next((f for f in FAMILIES if f.denoiser == "transformer" and transformer in f.classes), None)
        if family is None:
            found = ", ".join(f"{k}: {v[1]}" for k, v in index.items()
                              if isinstance(v, list) and len(v) == 2 and v[1]) or "no components"
            raise ModelError(f"{path}: unsupported pipeline {index.get('_class_name', '?')} ({found}); "
                             f"supported denoisers: {SUPPORTED}")
    for part in family.parts:
        if not _class_of(index, part) or not (path / part).is_dir():
            raise ModelError(f"{path}: the {family.name} pipeline needs its {part} "
                             f"({_class_of(index, part) or 'listed in model_index.json'}), which is missing")
    return family
