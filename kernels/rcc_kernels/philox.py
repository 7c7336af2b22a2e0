"""Philox4x32-10, the counter-based generator that all shared randomness comes from.

Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3" (SC 2011), and the
Random123 reference implementation. Philox maps a 128-bit counter and a 64-bit key to 128
pseudo-random bits with ten rounds of two 32x32->64-bit multiplications; value number ``k`` is
computed directly from ``k``, on any device, without replaying a stream.

The round function is written once, in :func:`philox4x32_10_scalar`, as plain scalar code on
``uint64`` values that hold 32-bit words. The same Python source is compiled by ``numba.njit`` for
the CPU and by ``numba.cuda.jit(device=True)`` for the GPU (see :mod:`rcc_kernels.gpu`), so both
backends execute identical integer arithmetic. :func:`philox4x32_10_numpy` is the independent,
vectorised numpy reference that the kernels are tested against.

Everything here is exact integer arithmetic: outputs are bit-identical on every backend.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rcc_kernels.errors import InvalidTypeError

__all__ = [
    "PHILOX_M0",
    "PHILOX_M1",
    "PHILOX_W0",
    "PHILOX_W1",
    "philox4x32_10",
    "philox4x32_10_numpy",
    "philox4x32_10_scalar",
    "philox4x32_10_cpu",
]

PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9  # golden ratio
PHILOX_W1 = 0xBB67AE85  # sqrt(3) - 1
ROUNDS = 10

# Typed constants: Numba unifies uint64 with a Python int literal to float64, so every constant the
# scalar code touches must already be a uint64.
_M0 = np.uint64(PHILOX_M0)
_M1 = np.uint64(PHILOX_M1)
_W0 = np.uint64(PHILOX_W0)
_W1 = np.uint64(PHILOX_W1)
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


def philox4x32_10_scalar(c0, c1, c2, c3, k0, k1):  # noqa: ANN001, ANN201 - compiled for CPU and GPU
    """One Philox4x32-10 block on ``uint64`` scalars holding 32-bit words.

    Returns the four output words as ``uint64`` scalars (each < 2**32). This function is the single
    source of the round function: it is compiled for the CPU and, unchanged, for CUDA.
    """
    c0 = np.uint64(c0)
    c1 = np.uint64(c1)
    c2 = np.uint64(c2)
    c3 = np.uint64(c3)
    k0 = np.uint64(k0)
    k1 = np.uint64(k1)
    for r in range(ROUNDS):
        if r > 0:
            k0 = (k0 + _W0) & _MASK32
            k1 = (k1 + _W1) & _MASK32
        p0 = _M0 * c0
        p1 = _M1 * c2
        n0 = (p1 >> _SHIFT32) ^ c1 ^ k0
        n2 = (p0 >> _SHIFT32) ^ c3 ^ k1
        c1 = p1 & _MASK32
        c3 = p0 & _MASK32
        c0 = n0
        c2 = n2
    return c0, c1, c2, c3


_philox_cpu_scalar = njit(inline="always", cache=True)(philox4x32_10_scalar)


@njit(cache=True)
def philox4x32_10_cpu(counters: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Numba CPU kernel: ``counters`` (n, 4) and ``keys`` (n, 2) uint32 -> (n, 4) uint32."""
    n = counters.shape[0]
    out = np.empty((n, 4), dtype=np.uint32)
    for i in range(n):
        w0, w1, w2, w3 = _philox_cpu_scalar(
            counters[i, 0], counters[i, 1], counters[i, 2], counters[i, 3], keys[i, 0], keys[i, 1]
        )
        out[i, 0] = w0
        out[i, 1] = w1
        out[i, 2] = w2
        out[i, 3] = w3
    return out


def philox4x32_10_numpy(counters: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Plain numpy reference: broadcasts ``counters`` (..., 4) against ``keys`` (..., 2)."""
    counters = np.asarray(counters, dtype=np.uint32)
    keys = np.asarray(keys, dtype=np.uint32)
    shape = np.broadcast_shapes(counters.shape[:-1], keys.shape[:-1])
    c = [np.broadcast_to(counters[..., i], shape).astype(np.uint64) for i in range(4)]
    k0 = np.broadcast_to(keys[..., 0], shape).astype(np.uint64)
    k1 = np.broadcast_to(keys[..., 1], shape).astype(np.uint64)
    mask = np.uint64(0xFFFFFFFF)
    for r in range(ROUNDS):
        if r > 0:
            k0 = (k0 + np.uint64(PHILOX_W0)) & mask
            k1 = (k1 + np.uint64(PHILOX_W1)) & mask
        p0 = np.uint64(PHILOX_M0) * c[0]
        p1 = np.uint64(PHILOX_M1) * c[2]
        c = [
            (p1 >> np.uint64(32)) ^ c[1] ^ k0,
            p1 & mask,
            (p0 >> np.uint64(32)) ^ c[3] ^ k1,
            p0 & mask,
        ]
    return np.stack(c, axis=-1).astype(np.uint32)


def _as_words(values: object, n: int, name: str) -> np.ndarray:
    words = np.asarray(values)
    if words.shape != (n,):
        raise ValueError(f"{name} must hold exactly {n} 32-bit words, got shape {words.shape}")
    if not np.issubdtype(words.dtype, np.integer):
        raise InvalidTypeError(f"{name} must be integers, got dtype {words.dtype}")
    if np.any(words.astype(object) < 0) or np.any(words.astype(object) > 0xFFFFFFFF):
        raise ValueError(f"{name} words must lie in [0, 2**32), got {words.tolist()}")
    return words.astype(np.uint32)


def philox4x32_10(counter: object, key: object) -> np.ndarray:
    """Philox4x32-10 of one block: four uint32 counter words and two key words -> four uint32.

    >>> philox4x32_10([0, 0, 0, 0], [0, 0]).tolist() == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    True
    """
    c = _as_words(counter, 4, "counter")
    k = _as_words(key, 2, "key")
    return philox4x32_10_cpu(c.reshape(1, 4), k.reshape(1, 2))[0]
