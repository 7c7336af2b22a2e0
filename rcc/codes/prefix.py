"""Prefix codes written bit by bit: fixed-length codes and Elias gamma and delta codes (Elias 1975).

Exact and parameter-free: :class:`FixedLengthCode` spends ``ceil(log2 N)`` bits on an index below
``N``, the Elias codes about ``2 log2(k + 1)`` (gamma) and ``log2 k + 2 log2 log2 k`` (delta) bits
on any index ``k``. The ``elias_*`` functions write and read one value on a :mod:`bitstream
<rcc.codes.bitstream>`, for formats that mix them with other fields.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from rcc.codes.base import MAX_INDEX_BITS, check_count, check_index, check_indices, check_known, is_int
from rcc.codes.bitstream import BitReader, BitWriter

__all__ = ["EliasDeltaCode", "EliasGammaCode", "FixedLengthCode", "elias_delta_read", "elias_delta_write",
           "elias_gamma_read", "elias_gamma_write"]


def elias_gamma_write(writer: BitWriter, n: int) -> None:
    """Elias gamma code of ``n >= 1``: ``floor(log2 n)`` zeros, then ``n`` in binary."""
    n = int(n)
    if n < 1:
        raise ValueError(f"Elias codes need n >= 1, got {n}")
    width = n.bit_length()
    writer.write(0, width - 1)
    writer.write(n, width)


def elias_gamma_read(reader: BitReader) -> int:
    zeros = 0
    while reader.read(1) == 0:
        zeros += 1
        if zeros > MAX_INDEX_BITS + 1:
            raise ValueError("corrupt Elias gamma code: too many leading zeros")
    return (1 << zeros) | reader.read(zeros)


def elias_delta_write(writer: BitWriter, n: int) -> None:
    """Elias delta code of ``n >= 1``: the bit length of ``n`` in Elias gamma, then the bits of
    ``n`` below its leading one."""
    n = int(n)
    if n < 1:
        raise ValueError(f"Elias codes need n >= 1, got {n}")
    width = n.bit_length()
    elias_gamma_write(writer, width)
    writer.write(n - (1 << (width - 1)), width - 1)


def elias_delta_read(reader: BitReader) -> int:
    width = elias_gamma_read(reader)
    if width > MAX_INDEX_BITS + 1:
        raise ValueError(f"corrupt Elias delta code: length {width}")
    return (1 << (width - 1)) | reader.read(width - 1)


@dataclass(frozen=True)
class FixedLengthCode:
    """``ceil(log2 n)`` bits per index in ``[0, n)``; ``n = 1`` costs nothing."""

    n: int

    def __post_init__(self) -> None:
        if not is_int(self.n) or not 1 <= self.n <= 1 << MAX_INDEX_BITS:
            raise ValueError(f"n must be an integer in [1, 2**{MAX_INDEX_BITS}], got {self.n!r}")

    @property
    def width(self) -> int:
        return (int(self.n) - 1).bit_length()

    def encode(self, indices: Iterable[int]) -> bytes:
        writer = BitWriter()
        for k in check_indices(indices, self.n):
            writer.write(k, self.width)
        return writer.to_bytes()

    def decode(self, data: bytes, count: int) -> list[int]:
        reader = BitReader(data)
        count = check_count(count)
        if count * self.width > reader.bits_left:
            raise ValueError(f"message truncated: {count} indices of {self.width} bits, "
                             f"{reader.bits_left} bits left")
        out = [reader.read(self.width) for _ in range(count)]
        if any(k >= self.n for k in out):
            raise ValueError(f"corrupt message: index beyond n={self.n}")
        return out

    def ideal_bits(self, index: int) -> float:
        check_index(index, self.n)
        return math.log2(self.n)

    def floor_bits(self, count: int, known: Sequence[int] | np.ndarray = ()) -> int:
        """Exact: ``count`` indices occupy ``count * width`` bits before the byte padding."""
        count = check_count(count)
        check_known(known, count, self.n)
        return count * self.width


@dataclass(frozen=True)
class _EliasCode:
    def encode(self, indices: Iterable[int]) -> bytes:
        writer = BitWriter()
        for k in check_indices(indices, 1 << MAX_INDEX_BITS):
            self._write(writer, k + 1)
        return writer.to_bytes()

    def decode(self, data: bytes, count: int) -> list[int]:
        reader = BitReader(data)
        return [self._read(reader) - 1 for _ in range(check_count(count))]

    def ideal_bits(self, index: int) -> float:
        writer = BitWriter()
        self._write(writer, check_index(index, 1 << MAX_INDEX_BITS) + 1)
        return float(writer.bits_written)

    def floor_bits(self, count: int, known: Sequence[int] | np.ndarray = ()) -> int:
        """The known indices' codewords, and at least one bit for every other one."""
        count = check_count(count)
        values = check_known(known, count, 1 << MAX_INDEX_BITS)
        return sum(int(self.ideal_bits(k)) for k in values.tolist()) + count - values.size


class EliasGammaCode(_EliasCode):
    """Elias gamma code of ``k + 1``: ``2 floor(log2(k + 1)) + 1`` bits."""

    _write = staticmethod(elias_gamma_write)
    _read = staticmethod(elias_gamma_read)


class EliasDeltaCode(_EliasCode):
    """Elias delta code of ``k + 1``: ``log2 k + 2 log2 log2 k + O(1)`` bits."""

    _write = staticmethod(elias_delta_write)
    _read = staticmethod(elias_delta_read)
