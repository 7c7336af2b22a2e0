"""Universal (subtractive dithered) quantization: an exact additive uniform noise channel.

Ziv (1985, "On universal quantization"), Zamir & Feder (1992, "On universal quantization by
randomized uniform/lattice quantizers"), and for learned compression Agustsson & Theis (2020,
"Universally quantized neural compression"). Encoder and decoder share a dither
U ~ Uniform(-1/2, 1/2) per element (:data:`rcc.randomness.Domain.DITHER`). The encoder sends

    K = round(x / step - U),

and the decoder outputs ``y = step * (K + U)``. Then ``y - x ~ Uniform(-step/2, step/2)`` exactly and
independently of x, for every x: the channel ``x -> y`` is an additive uniform noise channel, at
O(1) work per element. Given U, K is entropy coded with a prior on x that the decoder knows
(:mod:`rcc.quantization.entropy`); its expected length is H[K | U] = I(X; X + N) = h(X + N) -
log2 step (Zamir & Feder), see :func:`rcc.quantization.entropy.dithered_rate_bits`.

What is exact and what is approximate: the noise law and its independence of x are exact in real
arithmetic; in float64, ``y`` carries a rounding error of a few ulps of ``|y|``. Indices are
limited to ``|K| < 2^52`` so that every integer step is exactly representable.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

import rcc_kernels
from rcc.core import Stream, finite_array
from rcc.quantization import entropy
from rcc.quantization.entropy import MAX_INDEX, CodingStats, Prior, check_step
from rcc.randomness import Domain, key_for
from rcc_kernels.errors import InvalidTypeError

__all__ = ["DitheredQuantizer", "UniversalQuantizer", "dither", "quantize", "reconstruct"]



def _shape(shape: int | tuple[int, ...]) -> tuple[int, ...]:
    out = (shape,) if isinstance(shape, int | np.integer) else shape
    if not isinstance(out, tuple | list) or not all(
            isinstance(d, int | np.integer) and not isinstance(d, bool | np.bool_) for d in out):
        raise InvalidTypeError(f"shape must be an integer or a tuple of integers, got {shape!r}")
    if any(int(d) < 0 for d in out):
        raise ValueError(f"shape must be non-negative, got {shape}")
    return tuple(int(d) for d in out)


def dither(seed: int, shape: int | tuple[int, ...], stream: Stream = ()) -> np.ndarray:
    """Shared dither U ~ Uniform(-1/2, 1/2) of the given shape: element ``i`` (C order) is
    coordinate ``i`` of candidate 0 of the stream ``(DITHER, *stream)``."""
    shape = _shape(shape)
    size = int(np.prod(shape, dtype=np.int64))
    key = key_for(seed, Domain.DITHER, stream)
    return (rcc_kernels.uniform(key, 0, 1, size)[0] - 0.5).reshape(shape)


def quantize(x: object, step: object, u: object) -> np.ndarray:
    """Index ``K = round(x / step - u)`` (int64), broadcast over x, step and u."""
    x_arr, step_arr, u_arr = finite_array(x, "x"), check_step(step), finite_array(u, "dither")
    with np.errstate(over="ignore"):  # an overflow to inf is reported just below
        scaled = x_arr / step_arr - u_arr
    if not np.all(np.abs(scaled) < MAX_INDEX):
        raise ValueError("|x / step| must stay below 2^52 (the step is too small for x)")
    return np.rint(scaled).astype(np.int64)


def reconstruct(k: object, step: object, u: object) -> np.ndarray:
    """Decoder output ``y = step * (K + u)``."""
    k_arr = np.asarray(k)
    if not np.issubdtype(k_arr.dtype, np.integer):
        raise InvalidTypeError(f"indices must be integers, got {k_arr.dtype}")
    return check_step(step) * (k_arr + finite_array(u, "dither"))


class DitheredQuantizer(ABC):
    """Encoder, decoder and bitstream for a dithered quantizer whose per-element step and dither
    come from the shared randomness (:meth:`side`); subclasses choose the step's law."""

    @abstractmethod
    def side(self, seed: int, shape: tuple[int, ...], stream: Stream = ()) -> tuple[np.ndarray, np.ndarray]:
        """Per-element step and dither, rebuilt by the decoder from the seed and stream."""

    def encode(self, x: object, seed: int, stream: Stream = ()) -> np.ndarray:
        """Indices K (int64, shape of x)."""
        x_arr = finite_array(x, "x")
        step, u = self.side(seed, x_arr.shape, stream)
        return quantize(x_arr, step, u)

    def decode(self, k: object, seed: int, stream: Stream = ()) -> np.ndarray:
        """Reconstruction ``y``; ``y - x`` follows the quantizer's noise law, independently of x."""
        k_arr = np.asarray(k)
        step, u = self.side(seed, k_arr.shape, stream)
        return reconstruct(k_arr, step, u)

    def compress(self, x: object, prior: Prior, seed: int,
                 stream: Stream = ()) -> tuple[bytes, CodingStats]:
        """Bitstream of x's indices, entropy coded given the dither under ``prior`` (on x)."""
        x_arr = finite_array(x, "x")
        step, u = self.side(seed, x_arr.shape, stream)
        return entropy.encode(quantize(x_arr, step, u), u, step, prior)

    def decompress(self, data: bytes, prior: Prior, shape: int | tuple[int, ...], seed: int,
                   stream: Stream = ()) -> np.ndarray:
        """Reconstruction ``y`` of shape ``shape`` from :meth:`compress`'s bitstream."""
        step, u = self.side(seed, _shape(shape), stream)
        return reconstruct(entropy.decode(data, u, step, prior), step, u)


@dataclass(frozen=True)
class UniversalQuantizer(DitheredQuantizer):
    """Subtractive dithered quantization with a fixed ``step`` (scalar or broadcast per element):
    ``y - x ~ Uniform(-step/2, step/2)``, independent of x."""

    step: float | np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "step", check_step(self.step))

    def side(self, seed: int, shape: tuple[int, ...], stream: Stream = ()) -> tuple[np.ndarray, np.ndarray]:
        try:
            step = np.broadcast_to(self.step, shape)
        except ValueError as err:
            raise ValueError(f"step of shape {self.step.shape} does not broadcast to {shape}") from err
        return step, dither(seed, shape, stream)
