"""Bit streams: unsigned integers of given widths written and read most significant bit first.

The layout every bit-aligned code of :mod:`rcc.codes` uses (fixed-length and Elias codes, the Gaussian
channel's message prefix). Exact: integers in, the same integers out.
"""

from __future__ import annotations

from rcc_kernels.errors import InvalidTypeError

__all__ = ["BitReader", "BitWriter"]


class BitWriter:
    """Append unsigned integers of given widths, most significant bit first; pad with zeros."""

    def __init__(self) -> None:
        self._chunks: list[str] = []
        self.bits_written = 0

    def write(self, value: int, nbits: int) -> None:
        value, nbits = int(value), int(nbits)
        if nbits < 0 or not 0 <= value < (1 << nbits) or (nbits == 0 and value != 0):
            raise ValueError(f"{value} does not fit in {nbits} bits")
        if nbits:
            self._chunks.append(format(value, f"0{nbits}b"))
            self.bits_written += nbits

    def to_bytes(self, fill: int = 0) -> bytes:
        """The bits written, the last byte padded with ``fill`` bits (0 or 1)."""
        bits = "".join(self._chunks)
        bits += str(fill) * (-len(bits) % 8)
        return int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""


class BitReader:
    """Read what a :class:`BitWriter` wrote; reading past the end raises ``ValueError``."""

    def __init__(self, data: bytes) -> None:
        if not isinstance(data, (bytes, bytearray)):
            raise InvalidTypeError(f"expected bytes, got {type(data).__name__}")
        self._bits = "".join(format(b, "08b") for b in data)
        self.bits_read = 0

    @property
    def bits_left(self) -> int:
        return len(self._bits) - self.bits_read

    def read(self, nbits: int) -> int:
        nbits = int(nbits)
        if nbits < 0:
            raise ValueError(f"cannot read {nbits} bits")
        if nbits > self.bits_left:
            raise ValueError(f"message truncated: wanted {nbits} bits, {self.bits_left} left")
        start = self.bits_read
        self.bits_read += nbits
        return int(self._bits[start:self.bits_read], 2) if nbits else 0

    def rest(self, fill: int = 0) -> bytes:
        """The bits not read yet as bytes, the last one padded with ``fill`` bits (a payload
        written after a bit-aligned prefix)."""
        bits = self._bits[self.bits_read:]
        bits += str(fill) * (-len(bits) % 8)
        return int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""
