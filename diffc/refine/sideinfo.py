"""The refine file: a classical codec's bytes behind a few bytes of side information (docs/refine.md).

Layout (big-endian)::

    magic "RF" | version (1 byte) | codec id (1) | error level q (int16) | model fingerprint (4)
    | seed (unsigned LEB128, 1..10 bytes) | CRC-32 (4) | the classical codec's file, to the end

The CRC-32 (``zlib.crc32``) covers every other byte of the file, side information and payload, so a
flipped or truncated byte is a :class:`SideInfoError` before anything is decoded. The error level
``q`` is the codec's per-value error variance on the model's scale, ``sigma_c^2 = 2^(q / 16)``
(1/16 of an octave: the start noise level is off by at most 2.2% in variance);
:data:`NO_ERROR` (the least int16) says the codec was lossless on the model's scale.

Determinism (docs/determinism.md): ``q`` decides the decoder's start time, a discrete choice, so
both sides compute it with IEEE basic operations and ``rcc.portable`` only: the encoder from the
error's squares summed by ``math.fsum``, the decoder by ``rcc.portable.exp2``.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from diffc.container import varint
from diffc.diffusion.checks import MAX_SEED, checked_int
from rcc import portable

__all__ = ["CODECS", "LEVELS_PER_OCTAVE", "MAGIC", "NO_ERROR", "VERSION", "SideInfo", "SideInfoError",
           "error_level", "level_variance", "pack", "unpack"]

MAGIC = b"RF"
VERSION = 1
CODECS = ("jpeg-420", "jpeg-444", "webp", "avif", "jpeg-xl")
"""The classical codecs by file id (frozen: the id is the index)."""
LEVELS_PER_OCTAVE = 16
NO_ERROR = -(2**15)
FINGERPRINT_BYTES = 4
_FIXED = struct.Struct(">2sBBh4s")


class SideInfoError(ValueError):
    """A refine file that is corrupted, truncated, of another version, or for another model."""


@dataclass(frozen=True)
class SideInfo:
    """What a refine file says besides the classical codec's bytes."""

    codec: str
    level: int
    fingerprint: bytes
    seed: int

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise ValueError(f"codec must be one of {CODECS}, got {self.codec!r}")
        checked_int(self.level, "level", NO_ERROR, 2**15 - 1)
        checked_int(self.seed, "seed", 0, MAX_SEED)
        if len(self.fingerprint) != FINGERPRINT_BYTES:
            raise ValueError(f"fingerprint prefix must be {FINGERPRINT_BYTES} bytes")

    @property
    def variance(self) -> float:
        """``sigma_c^2`` on the model's scale."""
        return level_variance(self.level)


def error_level(error: np.ndarray) -> int:
    """The quantized level of the per-value error variance ``mean(error^2)`` (nearest 1/16 octave)."""
    error = np.asarray(error, dtype=np.float64)
    mse = math.fsum((error * error).ravel()) / error.size
    if mse == 0.0:
        return NO_ERROR
    q = int(np.rint(LEVELS_PER_OCTAVE * portable.log2(mse)))
    return min(max(q, NO_ERROR + 1), 2**15 - 1)


def level_variance(level: int) -> float:
    """``2^(level / 16)``, or 0 for :data:`NO_ERROR`."""
    return 0.0 if level == NO_ERROR else float(portable.exp2(level / LEVELS_PER_OCTAVE))


def pack(info: SideInfo, payload: bytes) -> bytes:
    """The refine file of ``payload`` (the classical codec's file) with ``info``."""
    head = (_FIXED.pack(MAGIC, VERSION, CODECS.index(info.codec), info.level, info.fingerprint)
            + varint(info.seed))
    return head + struct.pack(">I", zlib.crc32(payload, zlib.crc32(head))) + payload


def unpack(data: bytes) -> tuple[SideInfo, bytes]:
    """The side information and the classical codec's bytes of a refine file."""
    data = bytes(data)
    if len(data) < _FIXED.size + 5 or data[:2] != MAGIC:
        raise SideInfoError("not a refine file (no 'RF' magic, or too short)")
    magic, version, codec_id, level, fingerprint = _FIXED.unpack_from(data)
    if version != VERSION:
        raise SideInfoError(f"refine file version {version} is not supported (this reader knows {VERSION})")
    seed, i, shift = 0, _FIXED.size, 0
    while True:
        if i >= len(data) or shift > 63:
            raise SideInfoError("corrupted refine file: the seed field does not end")
        seed |= (data[i] & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if not data[i - 1] & 0x80:
            break
    if len(data) < i + 4:
        raise SideInfoError("truncated refine file: no checksum")
    (crc,) = struct.unpack_from(">I", data, i)
    payload = data[i + 4:]
    if zlib.crc32(payload, zlib.crc32(data[:i])) != crc:
        raise SideInfoError("corrupted refine file: checksum mismatch (side information or codec bytes)")
    if codec_id >= len(CODECS) or seed > MAX_SEED:
        raise SideInfoError(f"corrupted refine file: codec id {codec_id} or seed out of range")
    return SideInfo(CODECS[codec_id], level, fingerprint, seed), payload
