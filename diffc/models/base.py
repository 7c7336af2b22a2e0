"""The image model protocol: what the DiffC image codec needs from a model, whatever its family.

An image model turns an 8-bit image into the array the diffusion model codes (its *model space*:
pixels in [-1, 1] for a pixel model) and back, and holds the epsilon denoiser on its own schedule.
:class:`diffc.codec.DiffCCodec` depends on this protocol only.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from diffc.diffusion.denoisers import Denoiser

__all__ = ["ImageModel"]


class ImageModel(Protocol):
    """An image model as the codec sees it."""

    denoiser: Denoiser                  # epsilon denoiser on its own schedule (denoiser.schedule)
    channels: int                       # channels of the coded array
    value_range: tuple[float, float]    # the model space's data range
    clip: bool                          # x0 estimates projected onto value_range on both sides
    source: str                         # where it was loaded from (for messages)

    def to_model(self, image: np.ndarray) -> np.ndarray:
        """uint8 (H, W[, C]) -> float64 (C, H, W)."""
        ...

    def from_model(self, x: np.ndarray) -> np.ndarray:
        """float64 (C, H, W) -> uint8 (H, W[, C])."""
        ...

    def coded_shape(self, size: tuple[int, int]) -> tuple[int, int, int]:
        """The shape of the array coded for an image of ``size`` (H, W)."""
        ...

    def fingerprint(self) -> bytes:
        """SHA-256 of everything that determines the model's output."""
        ...
