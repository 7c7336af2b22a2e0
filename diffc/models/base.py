"""What the image codec needs of a model: the :class:`ImageModel` protocol.

An image model maps 8-bit images to the array that DiffC codes and back, and carries the epsilon
denoiser on its own schedule. :class:`diffc.models.pixel.PixelModel` is the pixel-space model; a
latent model (an autoencoder around a denoiser) joins as another class with the same members. The
encoder and decoders only ever see the denoiser.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from diffc.diffusion.denoisers import Denoiser

__all__ = ["ImageModel"]


class ImageModel(Protocol):
    """A diffusion model as :class:`diffc.codec.DiffCCodec` sees it."""

    denoiser: Denoiser
    """The epsilon denoiser on its own schedule (``denoiser.schedule``)."""
    channels: int
    """Channels of the coded array."""
    value_range: tuple[float, float]
    """The model space's data range."""
    clip: bool
    """Whether x0 estimates are projected onto ``value_range``, identically on both sides."""
    source: str
    """Where the model was loaded from (for messages)."""

    def to_model(self, image: np.ndarray) -> np.ndarray:
        """``uint8`` image ``(H, W[, C])`` to the float64 model-space array ``(C, H, W)``."""
        ...

    def from_model(self, x: np.ndarray) -> np.ndarray:
        """Model-space array ``(C, H, W)`` to the ``uint8`` image ``(H, W[, C])``."""
        ...

    def coded_shape(self, size: tuple[int, int]) -> tuple[int, int, int]:
        """The shape of the array coded for an image of ``size = (H, W)`` pixels."""
        ...

    def fingerprint(self) -> bytes:
        """A digest of everything that decides the denoiser's outputs (a file names it)."""
        ...
