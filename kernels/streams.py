"""Frozen derivation of a Philox key from a seed and a stream path (version 1).

A *seed* is an integer in [0, 2**64). A *stream* is a path of integers in [0, 2**64), such as
``(DOMAIN, step, chunk)``: every distinct path gets its own 64-bit Philox key, and inside a stream
values are addressed by (candidate, coordinate), see :mod:`kernels.variates`.

Rule: the key of the empty path is ``(seed mod 2**32, seed >> 32)``. The key of a path extended by
component ``s`` at depth ``l`` (0-based) is the first two output words of Philox4x32-10 with counter
``(s mod 2**32, s >> 32, l, 0x5354524D)`` under the parent's key. Derivation is host-side (the compiled CPU
Philox) and costs one block per path component. Two paths collide with probability about 2**-64 per pair.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from kernels.errors import InvalidTypeError
from kernels.philox import philox4x32_10_cpu

__all__ = ["STREAM_TAG", "stream_key", "stream_keys"]

STREAM_TAG = 0x5354524D  # "STRM": keeps key-derivation counters apart from data counters
_U64 = 1 << 64


def _check_u64(value: object, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise InvalidTypeError(f"{name} must be an integer, got {type(value).__name__}")
    v = int(value)
    if not 0 <= v < _U64:
        raise ValueError(f"{name} must lie in [0, 2**64), got {v}")
    return v


def stream_key(seed: int, stream: Iterable[int] = ()) -> np.ndarray:
    """Philox key (two uint32 words) of ``stream`` under ``seed``."""
    s = _check_u64(seed, "seed")
    key = np.array([s & 0xFFFFFFFF, s >> 32], dtype=np.uint32)
    for level, component in enumerate(stream):
        c = _check_u64(component, f"stream component {level}")
        counter = np.array([[c & 0xFFFFFFFF, c >> 32, level, STREAM_TAG]], dtype=np.uint32)
        key = philox4x32_10_cpu(counter, key.reshape(1, 2))[0, :2]
    return key


def stream_keys(seed: int, prefix: Iterable[int], last: Iterable[int]) -> np.ndarray:
    """Keys (n, 2) of the streams ``(*prefix, j)`` for each ``j`` in ``last``, vectorised.

    Used to hand one key per chunk to a kernel that searches all chunks of a call in one launch.
    """
    prefix = tuple(prefix)
    parent = stream_key(seed, prefix)
    comps = np.array([_check_u64(j, "stream component") for j in last], dtype=np.uint64)
    counters = np.stack(
        [
            (comps & np.uint64(0xFFFFFFFF)).astype(np.uint32),
            (comps >> np.uint64(32)).astype(np.uint32),
            np.full(comps.shape, len(prefix), dtype=np.uint32),
            np.full(comps.shape, STREAM_TAG, dtype=np.uint32),
        ],
        axis=-1,
    )
    keys = np.broadcast_to(parent, (counters.shape[0], 2))
    return np.ascontiguousarray(philox4x32_10_cpu(counters, np.ascontiguousarray(keys))[:, :2])
