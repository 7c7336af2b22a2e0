"""What every index code is: the :class:`IndexCode` protocol, its limits and its argument checks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from rcc_kernels.errors import InvalidTypeError

__all__ = ["MAX_COUNT", "MAX_INDEX_BITS", "IndexCode", "bit_length", "check_count", "check_index",
           "check_indices", "check_known", "is_int"]

MAX_INDEX_BITS = 62
"""Indices must be below 2**62 (coders never get near; the cap keeps every code finite)."""
MAX_COUNT = 1 << 22
"""Most indices one decode call reads (a channel call has at most one chunk per dimension)."""


@runtime_checkable
class IndexCode(Protocol):
    """A prefix-free code for sequences of 0-based candidate indices. ``floor_bits(count, known)``
    is a floor on ``8 * len(encode(indices))`` for any ``count`` indices among which are the
    ``known`` ones, in any places (for the fixed-length code, on the bits its indices occupy
    before padding): what a caller may rule out before it has chosen them all."""

    def encode(self, indices: Iterable[int]) -> bytes: ...

    def decode(self, data: bytes, count: int) -> list[int]: ...

    def ideal_bits(self, index: int) -> float: ...

    def floor_bits(self, count: int, known: Sequence[int] | np.ndarray = ()) -> int: ...


def check_index(index: object, limit: int) -> int:
    if not is_int(index):
        raise InvalidTypeError(f"an index must be an integer, got {type(index).__name__}")
    k = int(index)
    if not 0 <= k < limit:
        raise ValueError(f"index {k} is outside the code's range [0, {limit})")
    return k


def is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_indices(indices: Iterable[int], limit: int) -> list[int]:
    if isinstance(indices, (str, bytes)) or not isinstance(indices, Iterable):
        raise InvalidTypeError(f"indices must be an iterable of integers, got {type(indices).__name__}")
    return [check_index(k, limit) for k in indices]


def check_known(known: Sequence[int] | np.ndarray, count: int, limit: int) -> np.ndarray:
    """Indices known among a sequence of ``count`` (a floor's ``known``), checked, as uint64."""
    values = np.asarray(known).reshape(-1)
    if values.dtype.kind not in "iu":  # floats, bools, Python ints beyond 64 bits: checked one by one
        values = np.array(check_indices(values.tolist(), limit), dtype=np.uint64)
    if values.size > count:
        raise ValueError(f"{values.size} known indices of {count}")
    if values.size and not (values.min() >= 0 and values.max() < limit):
        raise ValueError(f"an index is outside the code's range [0, {limit})")
    return values.astype(np.uint64)


def bit_length(v: np.ndarray) -> np.ndarray:
    """``int.bit_length`` of each uint64 (frexp is exact on the 32-bit halves)."""
    hi, lo = (v >> np.uint64(32)).astype(np.float64), (v & np.uint64(0xFFFFFFFF)).astype(np.float64)
    return np.where(hi > 0, 32 + np.frexp(hi)[1], np.frexp(lo)[1]).astype(np.int64)


def check_count(count: int) -> int:
    """A decoder's count of indices, refused above MAX_COUNT before anything is allocated (a code of
    one index, or a range code, reads any count from a few bytes)."""
    if not is_int(count) or not 0 <= count <= MAX_COUNT:
        raise ValueError(f"count must be an integer in [0, {MAX_COUNT}], got {count!r}")
    return int(count)
