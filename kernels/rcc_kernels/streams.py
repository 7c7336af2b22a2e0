"""Frozen derivation of a Philox key from a seed and a stream path (version 1).

A *seed* is an integer in [0, 2**64). A *stream* is a path of integers in [0, 2**64), such as
``(DOMAIN, step, chunk)``: every distinct path gets its own 64-bit Philox key, and inside a stream
values are addressed by (candidate, coordinate), see :mod:`rcc_kernels.variates` and
``docs/randomness.md``.

Rule: the key of the empty path is ``(seed mod 2**32, seed >> 32)``. The key of a path extended by
component ``s`` at depth ``l`` (0-based) is the first two output words of Philox4x32-10 with counter
``(s mod 2**32, s >> 32, l, 0x5354524D)`` under the parent's key. :func:`path_keys` is the one
place the rule is written (compiled, one Philox block per path component); :func:`stream_key` (one
path) and :func:`stream_keys` (paths that differ in their last component) check their arguments and
call it. Two paths collide with probability about 2**-64 per pair.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numba import njit

from rcc_kernels.cpu import JIT_OPTIONS, ops
from rcc_kernels.errors import InvalidTypeError

__all__ = ["STREAM_TAG", "path_keys", "stream_key", "stream_keys"]

STREAM_TAG = 0x5354524D  # "STRM": keeps key-derivation counters apart from data counters
_U64 = 1 << 64
_philox = ops.philox


def _check_u64(value: object, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise InvalidTypeError(f"{name} must be an integer, got {type(value).__name__}")
    v = int(value)
    if not 0 <= v < _U64:
        raise ValueError(f"{name} must lie in [0, 2**64), got {v}")
    return v


@njit(**JIT_OPTIONS)
def path_keys(seeds: np.ndarray, paths: np.ndarray) -> np.ndarray:
    """Keys (n, 2) uint32 of the stream ``paths[i]`` under ``seeds[i]``: ``seeds`` (n,) and
    ``paths`` (n, depth) are uint64 arrays (checked by the caller). Batches of independent items
    call it directly, since a per-item key derivation alone costs more than a fast search."""
    low, tag = np.uint64(0xFFFFFFFF), np.uint64(STREAM_TAG)
    keys = np.empty((paths.shape[0], 2), dtype=np.uint32)
    for i in range(paths.shape[0]):
        k0, k1 = seeds[i] & low, seeds[i] >> np.uint64(32)
        for depth in range(paths.shape[1]):
            s = paths[i, depth]
            k0, k1, _, _ = _philox(s & low, s >> np.uint64(32), np.uint64(depth), tag, k0, k1)
        keys[i, 0], keys[i, 1] = k0, k1
    return keys


def stream_key(seed: int, stream: Iterable[int] = ()) -> np.ndarray:
    """Philox key (two uint32 words) of ``stream`` under ``seed``."""
    s = _check_u64(seed, "seed")
    path = [_check_u64(c, f"stream component {depth}") for depth, c in enumerate(stream)]
    return path_keys(np.array([s], dtype=np.uint64), np.array([path], dtype=np.uint64).reshape(1, -1))[0]


def stream_keys(seed: int, prefix: Iterable[int], last: Iterable[int]) -> np.ndarray:
    """Keys (n, 2) of the streams ``(*prefix, j)`` for each ``j`` in ``last``, vectorised.

    Used to hand one key per chunk to a kernel that searches all chunks of a call in one launch.
    """
    s = _check_u64(seed, "seed")
    head = [_check_u64(c, f"stream component {depth}") for depth, c in enumerate(prefix)]
    tail = np.array([_check_u64(j, "stream component") for j in last], dtype=np.uint64)
    paths = np.empty((tail.size, len(head) + 1), dtype=np.uint64)
    paths[:, :-1], paths[:, -1] = np.array(head, dtype=np.uint64), tail
    return path_keys(np.full(tail.size, s, dtype=np.uint64), paths)
