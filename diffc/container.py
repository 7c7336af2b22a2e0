"""DiffC container format, version 1: one self-describing, progressive file per image.

Layout (all integers big-endian; DESIGN section 5)::

    magic        4 bytes   b"DFC\\x89"
    version      u8        1
    fingerprint  32 bytes  SHA-256 of the model (weights/parameters and its VP schedule)
    schedule     32 bytes  SHA-256 of the encoding schedule (diffc.schedules.EncodingSchedule.digest)
    ndim         u8        1 .. 8, then ndim x u32 dimensions (each >= 1)
    value range  2 x f64   low < high, finite
    seed         u64       shared-randomness seed
    coder        6 x u8    rule (0 pfr, 1 orc, 2 mrc), index code (0 fixed, 1 zipf,
                           2 zipf_truncated), chunk_bits, headroom_bits, partition_trial_bits,
                           reverse variance (0 posterior, 1 exact)
    clip         u8        0 or 1: x_hat_0 clipped to the value range on both sides
    stop step    u32       number of step records the encoder wrote (>= 1)
    header crc   u32       CRC-32 of every byte above
    step records, one per step k = 0, 1, ...:
        length   LEB128 varint (at most 5 bytes), the message's byte length
        message  the Gaussian channel's message for step k
        crc      u32       CRC-32 of (k as u32, length bytes, message)

Progressive: the file truncated right after record k (k >= 1) is a valid file that stops at step
k; :func:`truncate` cuts one. The reader accepts fewer records than the stop step (a truncated
file) but never more, and never a partial record. Every malformed input -- bad magic or version,
truncation inside the header or a record, a CRC mismatch, an impossible field, trailing bytes --
raises :class:`ContainerError` and nothing else. Whether the file's model and schedule are the
caller's is checked by :func:`check_compatible` (also a :class:`ContainerError`).
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass

from diffc import reverse
from rcc import gaussian_channel

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "Container",
    "ContainerError",
    "Header",
    "check_compatible",
    "encode_header",
    "encode_record",
    "read_container",
    "truncate",
    "write_container",
]

MAGIC = b"DFC\x89"
FORMAT_VERSION = 1
RULES = ("pfr", "orc", "mrc")
# The byte codes of the index code and variance are positions in these tuples (frozen by the
# golden file: append only).
INDEX_CODES = gaussian_channel.INDEX_CODES
VARIANCE_CODES = reverse.VARIANCES
MAX_NDIM = 8
MAX_VARINT_BYTES = 5

_FIXED = struct.Struct(">32s32s")
_TAIL = struct.Struct(">ddQBBBBBBBI")


class ContainerError(ValueError):
    """The bytes are not a valid DiffC v1 file for this model and schedule."""


@dataclass(frozen=True)
class Header:
    """Everything a decoder needs besides the model, the schedule and the step messages."""

    model_fingerprint: bytes
    schedule_digest: bytes
    shape: tuple[int, ...]
    value_range: tuple[float, float]
    seed: int
    rule: str
    index_code: str
    chunk_bits: int
    headroom_bits: int
    partition_trial_bits: int
    variance: str
    clip: bool
    stop_step: int

    def __post_init__(self) -> None:
        if len(self.model_fingerprint) != 32 or len(self.schedule_digest) != 32:
            raise ContainerError("fingerprint and schedule digest must be 32 bytes (SHA-256)")
        if not 1 <= len(self.shape) <= MAX_NDIM or any(not 1 <= d < 2**32 for d in self.shape):
            raise ContainerError(f"shape must have 1..{MAX_NDIM} positive dimensions, got {self.shape}")
        if math.prod(self.shape) > 2**31:
            raise ContainerError(f"shape {self.shape} has more than 2^31 values")
        low, high = self.value_range
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ContainerError(f"value range must be finite with low < high, got {self.value_range}")
        if not 0 <= self.seed < 2**64:
            raise ContainerError("seed must fit in 64 bits")
        known = self.rule in RULES and self.variance in VARIANCE_CODES and self.index_code in INDEX_CODES
        if not known:
            raise ContainerError(f"unknown rule {self.rule!r}, index code {self.index_code!r} or "
                                 f"variance {self.variance!r}")
        if not (1 <= self.chunk_bits <= 30 and 0 <= self.headroom_bits <= 16
                and 0 <= self.partition_trial_bits <= 8):
            raise ContainerError("coder parameters out of range")
        if not 1 <= self.stop_step < 2**32:
            raise ContainerError(f"stop step must be in [1, 2^32), got {self.stop_step}")

    @property
    def channel_params(self) -> dict[str, object]:
        """Keyword arguments of :class:`rcc.gaussian_channel.GaussianChannel` that decode this file."""
        return {"rule": self.rule, "index_code": self.index_code, "chunk_bits": self.chunk_bits,
                "headroom_bits": self.headroom_bits, "partition_trial_bits": self.partition_trial_bits}


@dataclass(frozen=True)
class Container:
    """A parsed file: its header, the step messages present, and byte accounting."""

    header: Header
    messages: tuple[bytes, ...]
    header_bytes: int
    record_ends: tuple[int, ...]

    @property
    def n_steps(self) -> int:
        """Steps present (the effective stop step; fewer than ``header.stop_step`` if truncated)."""
        return len(self.messages)

    def bits_through(self, n_steps: int) -> int:
        """Size in bits of the file truncated after ``n_steps`` records: header and side info included."""
        if not 1 <= n_steps <= self.n_steps:
            raise ValueError(f"n_steps must be in [1, {self.n_steps}]")
        return 8 * self.record_ends[n_steps - 1]


def encode_header(h: Header) -> bytes:
    """Magic, version, header fields and header CRC (its length does not depend on the stop step)."""
    body = bytearray(MAGIC)
    body.append(FORMAT_VERSION)
    body += _FIXED.pack(h.model_fingerprint, h.schedule_digest)
    body.append(len(h.shape))
    body += struct.pack(f">{len(h.shape)}I", *h.shape)
    body += _TAIL.pack(h.value_range[0], h.value_range[1], h.seed, RULES.index(h.rule),
                       INDEX_CODES.index(h.index_code), h.chunk_bits,
                       h.headroom_bits, h.partition_trial_bits, VARIANCE_CODES.index(h.variance),
                       int(h.clip), h.stop_step)
    return bytes(body) + struct.pack(">I", zlib.crc32(body))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode_record(k: int, message: bytes) -> bytes:
    """Step record ``k``: length varint, message, CRC-32."""
    length = _varint(len(message))
    return length + message + struct.pack(">I", zlib.crc32(struct.pack(">I", k) + length + message))


def write_container(header: Header, messages: list[bytes] | tuple[bytes, ...]) -> bytes:
    """Serialize a header and its step messages (as many as ``header.stop_step``)."""
    if len(messages) != header.stop_step:
        raise ValueError(f"header says {header.stop_step} steps, got {len(messages)} messages")
    if any(len(m) >= 2 ** (7 * MAX_VARINT_BYTES) for m in messages):
        raise ValueError("a step message is too long for the format")
    return encode_header(header) + b"".join(encode_record(k, bytes(m)) for k, m in enumerate(messages))


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise ContainerError(f"file truncated inside {what} (needs {n} bytes at offset {self.pos}, "
                                 f"file has {len(self.data)})")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def varint(self, what: str) -> int:
        value = 0
        for i in range(MAX_VARINT_BYTES):
            byte = self.take(1, what)[0]
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                return value
        raise ContainerError(f"{what}: varint longer than {MAX_VARINT_BYTES} bytes")


def _read_header(r: _Reader) -> Header:
    magic = r.take(len(MAGIC), "the magic number")
    if magic != MAGIC:
        raise ContainerError(f"not a DiffC file (magic {magic!r}, expected {MAGIC!r})")
    version = r.take(1, "the version")[0]
    if version != FORMAT_VERSION:
        raise ContainerError(f"unsupported format version {version} (this reader knows {FORMAT_VERSION})")
    fingerprint, digest = _FIXED.unpack(r.take(_FIXED.size, "the header"))
    ndim = r.take(1, "the header")[0]
    if not 1 <= ndim <= MAX_NDIM:
        raise ContainerError(f"corrupted header: ndim = {ndim}")
    shape = struct.unpack(f">{ndim}I", r.take(4 * ndim, "the header"))
    low, high, seed, rule, code, chunk, headroom, trials, variance, clip, stop = _TAIL.unpack(
        r.take(_TAIL.size, "the header"))
    (crc,) = struct.unpack(">I", r.take(4, "the header checksum"))
    if crc != zlib.crc32(r.data[:r.pos - 4]):
        raise ContainerError("header checksum mismatch: the header is corrupted")
    if rule >= len(RULES) or code >= len(INDEX_CODES) or variance >= len(VARIANCE_CODES) or clip > 1:
        raise ContainerError("corrupted header: unknown coder code")
    return Header(fingerprint, digest, tuple(shape), (low, high), seed, RULES[rule], INDEX_CODES[code],
                  chunk, headroom,
                  trials, VARIANCE_CODES[variance], bool(clip), stop)


def read_container(data: bytes) -> Container:
    """Parse a v1 file; raises :class:`ContainerError` on any malformed input."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ContainerError(f"expected bytes, got {type(data).__name__}")
    r = _Reader(bytes(data))
    header = _read_header(r)
    header_bytes = r.pos
    messages, ends = [], []
    while r.pos < len(r.data):
        k = len(messages)
        if k >= header.stop_step:
            raise ContainerError(f"trailing bytes after the {header.stop_step} steps the header announces")
        start = r.pos
        n = r.varint(f"the length of step {k}")
        message = r.take(n, f"step {k}")
        (crc,) = struct.unpack(">I", r.take(4, f"the checksum of step {k}"))
        if crc != zlib.crc32(struct.pack(">I", k) + r.data[start:r.pos - 4]):
            raise ContainerError(f"checksum mismatch in step {k}: the file is corrupted")
        messages.append(message)
        ends.append(r.pos)
    if not messages:
        raise ContainerError("the file holds no step (truncated right after the header)")
    return Container(header, tuple(messages), header_bytes, tuple(ends))


def truncate(data: bytes, n_steps: int) -> bytes:
    """The progressive prefix of a file that stops after ``n_steps`` steps."""
    container = read_container(data)
    return bytes(data[:container.bits_through(n_steps) // 8])


def check_compatible(header: Header, model_fingerprint: bytes, schedule_digest: bytes) -> None:
    """Raise :class:`ContainerError` unless the file was written for this model and schedule."""
    if header.model_fingerprint != model_fingerprint:
        raise ContainerError("wrong model: the file was encoded with model "
                             f"{header.model_fingerprint.hex()[:16]}..., "
                             f"not {model_fingerprint.hex()[:16]}...")
    if header.schedule_digest != schedule_digest:
        raise ContainerError("wrong schedule: the file was encoded with schedule "
                             f"{header.schedule_digest.hex()[:16]}..., not {schedule_digest.hex()[:16]}...")
