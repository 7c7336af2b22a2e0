"""DiffC container format, version 3: one compact, self-describing, progressive file per image.

The format is specified in ``docs/container.md`` (normative): a header of typically 24 bytes (magic,
version, 64-bit model and schedule fingerprints, flags, the channel's :class:`~rcc.gaussian.ChannelSpec`
word when it is not the default, value range, dimensions, seed, stop step), then one record per step
(a minimal-varint length, the channel's message, a 16-bit check keyed with the header digest and the
record's position). This module writes and reads exactly that: the reader accepts only the canonical
spelling, raises :class:`ContainerError` and nothing else on malformed input, allocates nothing from a
count the file claims before checking it against the bytes that remain, accepts a file cut at a
record boundary as a progressive prefix, and refuses v1 and v2 files by name.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import struct
from dataclasses import dataclass

from diffc.diffusion import reverse
from diffc.diffusion.checks import MAX_SEED, checked_int
from rcc.gaussian.spec import ChannelSpec

__all__ = [
    "DEFAULT_CODER",
    "FINGERPRINT_BYTES",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_STEPS",
    "MAX_VALUES",
    "Container",
    "ContainerError",
    "Header",
    "check_compatible",
    "check_model",
    "encode_header",
    "encode_records",
    "fingerprint_id",
    "framing_bytes",
    "read_container",
    "truncate",
    "write_container",
]

MAGIC = b"\xdf"
FORMAT_VERSION = 3
V1_MAGIC = b"DFC\x89"
FINGERPRINT_BYTES = 8
# The code of the variance is its position in this tuple (frozen by the golden files: append only).
VARIANCE_CODES = reverse.VARIANCES
DEFAULT_CODER = ChannelSpec("pfr", "pfr_lognormal", 8, 3, 3)
"""The channel of a header without a coder word. Part of the format: the channel's defaults may
change, this may not."""
RANGE_PRESETS = ((-1.0, 1.0), (0.0, 1.0))
_RANGE_INTEGERS, _RANGE_FLOATS = 2, 3
MAX_NDIM = 8
MAX_VALUES = 2**31
"""The format's limit on values per file; decoders take a lower, configurable one."""
MAX_STEPS = 4096
MAX_RECORD_VARINT = 4
CODER_BYTES = 3
CHECK_BYTES = 2
_EXACT_INTEGERS = 2**53

_F64X2 = struct.Struct(">dd")


class ContainerError(ValueError):
    """The bytes are not a valid DiffC file of this format version (for this model and schedule)."""


@dataclass(frozen=True)
class Header:
    """Everything a decoder needs besides the model, the schedule and the step messages.

    ``model_fingerprint`` and ``schedule_digest`` are the 8-byte prefixes written in the file.
    """

    model_fingerprint: bytes
    schedule_digest: bytes
    shape: tuple[int, ...]
    value_range: tuple[float, float]
    seed: int
    channel: ChannelSpec
    variance: str
    clip: bool
    stop_step: int

    def __post_init__(self) -> None:
        if not all(isinstance(d, bytes) and len(d) == FINGERPRINT_BYTES
                   for d in (self.model_fingerprint, self.schedule_digest)):
            raise ContainerError(f"fingerprint and schedule digest must be {FINGERPRINT_BYTES} bytes")
        if not (isinstance(self.shape, tuple) and 1 <= len(self.shape) <= MAX_NDIM):
            raise ContainerError(f"shape must be a tuple of 1..{MAX_NDIM} dimensions, got {self.shape!r}")
        for d in self.shape:
            checked_int(d, "every dimension", 1, MAX_VALUES, ContainerError)
        if math.prod(self.shape) > MAX_VALUES:
            raise ContainerError(f"shape {self.shape} has more than {MAX_VALUES} values")
        low, high = self.value_range
        if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in self.value_range):
            raise ContainerError(f"value range must be two numbers, got {self.value_range!r}")
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ContainerError(f"value range must be finite with low < high, got {self.value_range}")
        object.__setattr__(self, "value_range", (float(low) + 0.0, float(high) + 0.0))  # no -0.0
        checked_int(self.seed, "seed", 0, MAX_SEED, ContainerError)
        if not isinstance(self.channel, ChannelSpec):
            raise ContainerError(f"channel must be a ChannelSpec, got {self.channel!r}")
        if self.variance not in VARIANCE_CODES:
            raise ContainerError(f"unknown variance {self.variance!r}")
        checked_int(self.stop_step, "stop step", 1, MAX_STEPS, ContainerError)
        if not isinstance(self.clip, bool):
            raise ContainerError(f"clip must be a bool, got {self.clip!r}")


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

    @property
    def truncated(self) -> bool:
        """Whether the file is a progressive prefix: fewer records than the encoder wrote."""
        return self.n_steps < self.header.stop_step

    @property
    def framing_bytes(self) -> tuple[int, ...]:
        """Per record: the bytes that are not the channel's message (length varint and check)."""
        starts = (self.header_bytes, *self.record_ends[:-1])
        return tuple(end - start - len(m) for start, end, m in zip(starts, self.record_ends, self.messages,
                                                                   strict=True))

    def bits_through(self, n_steps: int) -> int:
        """Size in bits of the file truncated after ``n_steps`` records: header and framing included."""
        return 8 * self.record_ends[checked_int(n_steps, "n_steps", 1, self.n_steps) - 1]


# -- writing --------------------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _zigzag(n: int) -> int:
    return 2 * n if n >= 0 else -2 * n - 1


def _range_kind(value_range: tuple[float, float]) -> int:
    if value_range in RANGE_PRESETS:
        return RANGE_PRESETS.index(value_range)
    if all(v.is_integer() and abs(v) <= _EXACT_INTEGERS for v in value_range):
        return _RANGE_INTEGERS
    return _RANGE_FLOATS


def encode_header(h: Header) -> bytes:
    """The header's bytes (see the module docstring); the records' checks are keyed with them."""
    kind = _range_kind(h.value_range)
    explicit_coder = h.channel != DEFAULT_CODER
    flags = ((len(h.shape) - 1) << 5 | kind << 3 | VARIANCE_CODES.index(h.variance) << 2 | int(h.clip) << 1
             | int(explicit_coder))
    out = bytearray(MAGIC)
    out += bytes([FORMAT_VERSION]) + h.model_fingerprint + h.schedule_digest + bytes([flags])
    if explicit_coder:
        out += h.channel.to_word().to_bytes(CODER_BYTES, "big")
    if kind == _RANGE_INTEGERS:
        out += b"".join(_varint(_zigzag(int(v))) for v in h.value_range)
    elif kind == _RANGE_FLOATS:
        out += _F64X2.pack(*h.value_range)
    out += b"".join(_varint(d - 1) for d in h.shape) + _varint(h.seed) + _varint(h.stop_step - 1)
    return bytes(out)


def _header_key(header_bytes: bytes) -> bytes:
    # The personalization is v2's, kept by v3: part of the format (the golden files depend on it).
    return hashlib.blake2b(header_bytes, digest_size=16, person=b"diffc-v2-header").digest()


def _check(key: bytes, k: int, body: bytes) -> bytes:
    return hashlib.blake2b(_varint(k) + body, digest_size=CHECK_BYTES, key=key).digest()


def framing_bytes(message_bytes: int) -> int:
    """Bytes a record adds around a message of ``message_bytes`` bytes (length varint and check).

    >>> framing_bytes(127), framing_bytes(128)
    (3, 4)
    """
    return len(_varint(message_bytes)) + CHECK_BYTES


def encode_records(header_bytes: bytes, messages: list[bytes] | tuple[bytes, ...]) -> bytes:
    """Step records 0, 1, ... of ``messages``, their checks keyed with ``header_bytes``."""
    if any(len(m) >= 2 ** (7 * MAX_RECORD_VARINT) for m in messages):
        raise ValueError("a step message is too long for the format")
    key = _header_key(header_bytes)
    bodies = [_varint(len(m)) + bytes(m) for m in messages]
    return b"".join(body + _check(key, k, body) for k, body in enumerate(bodies))


def write_container(header: Header, messages: list[bytes] | tuple[bytes, ...]) -> bytes:
    """Serialize a header and its step messages (as many as ``header.stop_step``)."""
    if len(messages) != header.stop_step:
        raise ValueError(f"header says {header.stop_step} steps, got {len(messages)} messages")
    head = encode_header(header)
    return head + encode_records(head, messages)


# -- reading --------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int, what: str) -> bytes:
        if n > len(self.data) - self.pos:
            raise ContainerError(f"file truncated inside {what} (needs {n} bytes at offset {self.pos}, "
                                 f"file has {len(self.data)})")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def byte(self, what: str) -> int:
        return self.take(1, what)[0]

    def varint(self, what: str, max_bytes: int) -> int:
        value = 0
        for i in range(max_bytes):
            byte = self.byte(what)
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if byte == 0 and i > 0:
                    raise ContainerError(f"{what}: non-minimal varint")
                return value
        raise ContainerError(f"{what}: varint longer than {max_bytes} bytes")


def _check_magic(r: _Reader) -> None:
    if r.data.startswith(V1_MAGIC):
        raise ContainerError("this is a DiffC v1 file; v1 files are no longer decoded by this version (the "
                             "channel's message format changed with v2): re-encode the original image")
    if r.byte("the magic number") != MAGIC[0]:
        raise ContainerError(f"not a DiffC file (the first byte is not {MAGIC!r})")
    version = r.byte("the version")
    if version == 2:
        raise ContainerError("this is a DiffC v2 file; v2 files are no longer decoded by this version (the "
                             "channel's message format changed with v3): re-encode the original image")
    if version != FORMAT_VERSION:
        raise ContainerError(f"unsupported format version {version} (this reader knows {FORMAT_VERSION})")


def _read_coder(r: _Reader, explicit: bool) -> ChannelSpec:
    if not explicit:
        return DEFAULT_CODER
    try:
        return ChannelSpec.from_word(int.from_bytes(r.take(CODER_BYTES, "the coder word"), "big"))
    except ValueError as err:
        raise ContainerError(f"corrupted header: unknown coder code ({err})") from None


def _unzigzag(z: int) -> int:
    return z >> 1 if not z & 1 else -(z >> 1) - 1


def _read_range(r: _Reader, kind: int) -> tuple[float, float]:
    if kind < _RANGE_INTEGERS:
        return RANGE_PRESETS[kind]
    if kind == _RANGE_INTEGERS:
        return tuple(float(_unzigzag(r.varint("the value range", 8))) for _ in range(2))
    return _F64X2.unpack(r.take(_F64X2.size, "the value range"))


def _read_header(r: _Reader) -> Header:
    _check_magic(r)
    fingerprint = r.take(FINGERPRINT_BYTES, "the model fingerprint")
    digest = r.take(FINGERPRINT_BYTES, "the schedule digest")
    flags = r.byte("the header flags")
    coder = _read_coder(r, bool(flags & 1))
    value_range = _read_range(r, flags >> 3 & 3)
    # 5 varint bytes reach 2^35 > MAX_VALUES, 10 reach 2^70 > 2^64; Header checks the exact limits.
    shape = tuple(r.varint("the shape", 5) + 1 for _ in range((flags >> 5) + 1))
    seed = r.varint("the seed", 10)
    stop = r.varint("the stop step", 2) + 1
    variance = VARIANCE_CODES[flags >> 2 & 1]
    try:
        header = Header(fingerprint, digest, shape, value_range, seed, coder, variance=variance,
                        clip=bool(flags >> 1 & 1), stop_step=stop)
    except ContainerError as err:
        raise ContainerError(f"corrupted header: {err}") from None
    if encode_header(header) != r.data[:r.pos]:
        raise ContainerError("corrupted header: not in canonical form")
    return header


def read_container(data: bytes) -> Container:
    """Parse a file of this format version; raises :class:`ContainerError` on any malformed input."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ContainerError(f"expected bytes, got {type(data).__name__}")
    r = _Reader(bytes(data))
    header = _read_header(r)
    header_bytes = r.pos
    key = _header_key(r.data[:header_bytes])
    messages, ends = [], []
    while r.pos < len(r.data):
        k = len(messages)
        if k >= header.stop_step:
            raise ContainerError(f"trailing bytes after the {header.stop_step} steps the header announces")
        start = r.pos
        message = r.take(r.varint(f"the length of step {k}", MAX_RECORD_VARINT), f"step {k}")
        if r.take(CHECK_BYTES, f"the check of step {k}") != _check(key, k, r.data[start:r.pos - CHECK_BYTES]):
            raise ContainerError(f"check mismatch in step {k}: the record is corrupted or belongs to "
                                 "another file or position")
        messages.append(message)
        ends.append(r.pos)
    if not messages:
        raise ContainerError("the file holds no step (truncated right after the header)")
    return Container(header, tuple(messages), header_bytes, tuple(ends))


def truncate(data: bytes, n_steps: int) -> bytes:
    """The progressive prefix of a file that stops after ``n_steps`` steps."""
    return bytes(data[:read_container(data).bits_through(n_steps) // 8])


def fingerprint_id(digest: bytes) -> bytes:
    """The 64-bit prefix of a SHA-256 fingerprint or digest that the header holds."""
    return bytes(digest[:FINGERPRINT_BYTES])


def check_model(header: Header, model_fingerprint: bytes, source: str = "") -> None:
    """Raise :class:`ContainerError` unless the file was written for the model of this full SHA-256
    fingerprint (``source``: where the model came from, for the message)."""
    if header.model_fingerprint != fingerprint_id(model_fingerprint):
        this = f"this model ({source})" if source else "this model"
        raise ContainerError(f"wrong model: the file was encoded with model {header.model_fingerprint.hex()}"
                             f"..., {this} is {model_fingerprint.hex()}")


def check_compatible(header: Header, model_fingerprint: bytes, schedule_digest: bytes) -> None:
    """Raise :class:`ContainerError` unless the file was written for this model and schedule (given
    by their full SHA-256 fingerprint and digest)."""
    check_model(header, model_fingerprint)
    if header.schedule_digest != fingerprint_id(schedule_digest):
        raise ContainerError("wrong schedule: the file was encoded with schedule "
                             f"{header.schedule_digest.hex()}..., this schedule is {schedule_digest.hex()}")
