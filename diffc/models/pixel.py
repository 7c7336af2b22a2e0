"""A pixel-space diffusion model as an :class:`~diffc.models.base.ImageModel`.

:class:`PixelModel` is the one place where images meet a pixel-space model: 8-bit pixels to the
model's range ``[-1, 1]`` and back with one rounding rule (exact: :func:`unit_to_pixels` inverts
:func:`pixels_to_unit` on its image), the denoiser, the value range and the clip flag. The coded
array is the image itself, channels first: DiffC codes exactly the image's pixels, never padding.

Pixel models always clip x0 to the data range, identically in the encoder and every decoder: the
data lie in ``[-1, 1]``, and an unclipped estimate far outside it makes single pixels carry many
bits in one step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from diffc.diffusion.denoisers import ConvertedDenoiser
from diffc.imaging.io import as_image, channels_first, channels_last
from diffc.models.base import Conditioning

__all__ = ["PixelModel", "pixels_to_unit", "unit_to_pixels"]


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
    """A pixel-space diffusion model seen by the image codec (see the module docstring).

    ``multiple``: the size multiple the network needs (its evaluations reflect-pad ``z`` to it).
    """

    denoiser: ConvertedDenoiser
    channels: int
    multiple: int
    clip: bool
    value_range: tuple[float, float] = (-1.0, 1.0)
    source: str = field(default="", compare=False)
    family: str = "pixel"
    conditioning: Conditioning = Conditioning()

    @property
    def image_channels(self) -> int:
        """A pixel model codes the image itself."""
        return self.channels

    def to_model(self, image: np.ndarray) -> np.ndarray:
        """``uint8`` image ``(H, W[, C])`` to the model-space array ``(C, H, W)``."""
        x = channels_first(as_image(image))
        if x.shape[0] != self.channels:
            raise ValueError(f"the model codes {self.channels}-channel images, got {x.shape[0]} channel(s)"
                             + (" (a grayscale image for an RGB model: convert it to RGB first)"
                                if x.shape[0] == 1 else ""))
        return pixels_to_unit(x)

    def from_model(self, x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Model-space array ``(C, H, W)`` to the ``uint8`` image ``(H, W[, C])``."""
        if tuple(x.shape[1:]) != tuple(size):
            raise ValueError(f"a pixel model's array is the image: shape {x.shape} for size {size}")
        return channels_last(unit_to_pixels(x))

    def coded_shape(self, size: tuple[int, int]) -> tuple[int, int, int]:
        """``(C, H, W)``: the image's own pixels."""
        return (self.channels, size[0], size[1])

    def fingerprint(self) -> bytes:
        return self.denoiser.fingerprint()
