"""Layered quantizer: exact Gaussian noise N(0, s^2) from dithered quantization with a random step.

Hegazy & Li (2022, "Randomized quantization with exact error distribution", IEEE ITW). A unimodal
noise density f is a mixture of uniform laws over its superlevel sets {z : f(z) >= t}; drawing the
level t from the shared randomness and running a dithered quantizer whose cell is that level set
makes the error follow f exactly. For the centred Gaussian the level sets are intervals [-b, b]
centred at 0 (so no extra shift is needed), and the mixing law of the half-width b is s times a chi
distribution with 3 degrees of freedom (the Maxwell law):

    ∫_{|z|}^∞ 1/(2b) · sqrt(2/π) b² e^{-b²/2s²} / s³ db = e^{-z²/2s²} / (s sqrt(2π)).

So each element draws ``b = s * sqrt(G1² + G2² + G3²)`` from three shared standard normals
(:data:`rcc.randomness.Domain.LAYER`) and a dither U (:data:`~rcc.randomness.Domain.DITHER`), and
runs universal quantization with step ``2b``: ``y - x ~ N(0, s²)`` exactly, independently of x.
The index is entropy coded given (b, U) with the same model as universal quantization, per element
step; the expected rate is ``E_b[H(K | U, b)]`` (:func:`layered_rate_bits`), which exceeds
I(X; X + Z) because the decoder also learns b.

What is exact and what is approximate: the noise law is exact up to the shared normals, which are
exact inverse-CDF transforms except that |G| < 8.3 (mass below 1e-15 per value is cut), and float64
rounding of ``y``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import integrate, stats

import rcc_kernels
from rcc.core import Stream, finite_array
from rcc.quantization.entropy import dithered_rate_bits
from rcc.quantization.universal import DitheredQuantizer, dither
from rcc.randomness import Domain, key_for

__all__ = ["LayeredQuantizer", "layered_rate_bits"]


@dataclass(frozen=True)
class LayeredQuantizer(DitheredQuantizer):
    """Dithered quantizer whose error is N(0, scale^2) exactly (``scale`` scalar or per element)."""

    scale: float | np.ndarray

    def __post_init__(self) -> None:
        scale = finite_array(self.scale, "scale")
        if np.any(scale <= 0):
            raise ValueError(f"scale must be positive, got {self.scale!r}")
        object.__setattr__(self, "scale", scale)

    def half_widths(self, seed: int, shape: tuple[int, ...], stream: Stream = ()) -> np.ndarray:
        """Shared half-widths ``b = scale * chi_3`` (candidates 0..2 of ``(LAYER, *stream)`` at
        coordinate i give element i's three normals)."""
        size = int(np.prod(shape, dtype=np.int64))
        normals = rcc_kernels.normal(key_for(seed, Domain.LAYER, stream), 0, 3, size)
        try:
            scale = np.broadcast_to(self.scale, shape)
        except ValueError as err:
            raise ValueError(f"scale of shape {self.scale.shape} does not broadcast to {shape}") from err
        return scale * np.sqrt(np.sum(normals**2, axis=0)).reshape(shape)

    def side(self, seed: int, shape: tuple[int, ...], stream: Stream = ()) -> tuple[np.ndarray, np.ndarray]:
        return 2.0 * self.half_widths(seed, shape, stream), dither(seed, shape, stream)


def layered_rate_bits(prior: object, scale: float) -> float:
    """Expected rate E_b[H(K | U, b)] (bits per element) of the layered quantizer with noise scale
    ``scale`` for a scalar prior (frozen scipy.stats law), by quadrature over b ~ scale * chi_3."""
    half = stats.chi(3, scale=scale)
    return integrate.quad(lambda b: half.pdf(b) * dithered_rate_bits(prior, 2 * b),
                          half.ppf(1e-9), half.isf(1e-9), limit=100, epsrel=1e-6)[0]
