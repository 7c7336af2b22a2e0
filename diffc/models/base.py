"""What the image codec needs of a model: the :class:`ImageModel` protocol.

An image model maps 8-bit images to the array that DiffC codes and back, and carries the epsilon
denoiser on its own schedule. :class:`diffc.models.pixel.PixelModel` is the pixel-space model; a
latent model (an autoencoder around a denoiser) joins as another class with the same members. The
encoder and decoders only ever see the denoiser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from diffc.diffusion.denoisers import Denoiser

__all__ = ["Conditioning", "ImageModel"]


@dataclass(frozen=True)
class Conditioning:
    """What the denoiser is conditioned on, as a file records it.

    ``kind`` names the rule: ``"none"`` (an unconditional network), ``"empty-prompt"`` (the
    pipeline's text encoders on the empty prompt), ``"zeros"`` (the zero embeddings a pipeline uses
    for an empty prompt), ``"prompt"`` (a user's text), ``"class"`` (a class label or the null
    class). ``digest`` is the SHA-256 of everything that decides the embeddings the network sees
    (empty for ``"none"``); a file refuses to decode under another digest. ``prompt``, ``guidance``
    and ``class_label`` are the options it was chosen with (None: not given, the model's default),
    which a file records so that decoding needs none.
    """

    kind: str = "none"
    digest: bytes = b""
    prompt: str | None = None
    guidance: float | None = None
    class_label: int | None = None

    @property
    def options(self) -> dict[str, object]:
        """The options as keyword arguments of ``load_model`` (``prompt``, ``guidance``, ``class_label``)."""
        return {"prompt": self.prompt, "guidance": self.guidance, "class_label": self.class_label}

    @property
    def conditional(self) -> bool:
        return self.kind != "none"


class ImageModel(Protocol):
    """A diffusion model as :class:`diffc.codec.DiffCCodec` sees it."""

    denoiser: Denoiser
    """The epsilon denoiser on its own schedule (``denoiser.schedule``)."""
    channels: int
    """Channels of the coded array."""
    image_channels: int
    """Channels of the images it codes (3 for RGB; a latent model's VAE input)."""
    value_range: tuple[float, float]
    """The model space's data range."""
    clip: bool
    """Whether x0 estimates are projected onto ``value_range``, identically on both sides."""
    source: str
    """Where the model was loaded from (for messages)."""
    family: str
    """The model family (``"pixel"``, ``"sd1"``, ``"sd2"``, ``"sdxl"``, ``"dit"``, ``"sd3"``, ``"flux"``)."""
    conditioning: Conditioning
    """What the denoiser is conditioned on (:class:`Conditioning`)."""

    def to_model(self, image: np.ndarray) -> np.ndarray:
        """``uint8`` image ``(H, W[, C])`` to the float64 model-space array ``(C, H, W)``."""
        ...

    def from_model(self, x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Model-space array ``(C, h, w)`` to the ``uint8`` image ``(H, W[, C])`` of ``size = (H, W)``
        (a latent model decodes, then crops the padding it added)."""
        ...

    def coded_shape(self, size: tuple[int, int]) -> tuple[int, int, int]:
        """The shape of the array coded for an image of ``size = (H, W)`` pixels."""
        ...

    def fingerprint(self) -> bytes:
        """A digest of everything that decides the denoiser's outputs (a file names it)."""
        ...
