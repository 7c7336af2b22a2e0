"""Plain numpy reference for the shared randomness: the specification the kernels must match.

Every function evaluates the frozen rules of :mod:`rcc_kernels.variates` (``docs/randomness.md``; the
generator is Philox4x32-10, Salmon et al. 2011) element by element, at any (candidate, coordinate)
pairs, with nothing but numpy. It is slow and obviously correct; the Numba
CPU kernels and the CUDA kernels are tested against it (integers exactly, floats to
``FLOAT_TOLERANCE``).
"""

from __future__ import annotations

import numpy as np

from rcc_kernels.philox import philox4x32_10_numpy
from rcc_kernels.variates import ndtri_numpy, uniform52_numpy

__all__ = ["bits_at", "exponential_at", "grid", "normal_at", "uniform_at"]

_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


def _u64(values: object) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == object or np.any(arr.astype(object) < 0):
        arr = np.asarray(arr, dtype=object)
        if np.any(arr < 0) or np.any(arr >= 1 << 64):
            raise ValueError("indices must lie in [0, 2**64)")
    return arr.astype(np.uint64)


def bits_at(key: np.ndarray, candidates: object, blocks: object) -> np.ndarray:
    """Philox output words (..., 4) of the given blocks of the given candidates."""
    k, b = np.broadcast_arrays(_u64(candidates), _u64(blocks))
    counters = np.stack(
        [
            (b & _MASK32).astype(np.uint32),
            (b >> _SHIFT32).astype(np.uint32),
            (k & _MASK32).astype(np.uint32),
            (k >> _SHIFT32).astype(np.uint32),
        ],
        axis=-1,
    )
    return philox4x32_10_numpy(counters, np.asarray(key, dtype=np.uint32))


def _slot_uniforms(key: np.ndarray, candidates: object, coords: object) -> tuple[np.ndarray, ...]:
    c = _u64(coords)
    words = bits_at(key, candidates, c >> np.uint64(1))
    u0 = uniform52_numpy(words[..., 0], words[..., 1])
    u1 = uniform52_numpy(words[..., 2], words[..., 3])
    odd = np.broadcast_to((c & np.uint64(1)).astype(bool), u0.shape)
    return u0, u1, odd


def uniform_at(key: np.ndarray, candidates: object, coords: object) -> np.ndarray:
    """Uniform(0, 1) values at (candidate, coordinate) pairs."""
    u0, u1, odd = _slot_uniforms(key, candidates, coords)
    return np.where(odd, u1, u0)


def exponential_at(key: np.ndarray, candidates: object, coords: object) -> np.ndarray:
    """Exp(1) values at (candidate, coordinate) pairs."""
    return -np.log(uniform_at(key, candidates, coords))


def normal_at(key: np.ndarray, candidates: object, coords: object) -> np.ndarray:
    """Standard normal values at (candidate, coordinate) pairs (AS 241 quantile of the uniform)."""
    return ndtri_numpy(uniform_at(key, candidates, coords))


def grid(start: int, stop: int, dim: int, coord_start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Candidate and coordinate index arrays (stop - start, dim) of a bulk request."""
    cand = np.arange(stop - start, dtype=np.uint64) + np.uint64(start)
    coord = np.arange(dim, dtype=np.uint64) + np.uint64(coord_start)
    return cand[:, None], coord[None, :]
