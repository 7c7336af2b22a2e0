"""DiffC container format, version 3: one compact, self-describing, progressive file per image.

Layout (normative: docs/container.md). "varint" is unsigned LEB128, minimal (no redundant high zero byte)::

    magic        u8        0xDF
    version      u8        3
    model        8 bytes   the first 64 bits of the model's SHA-256 fingerprint
    schedule     8 bytes   the first 64 bits of the encoding schedule's SHA-256 digest
    flags        u8        bits 7-5 ndim - 1 (1..8 axes); bits 4-3 value range kind (0: [-1, 1],
                           1: [0, 1], 2: two zigzag varints, integer bounds, 3: two big-endian f64);
                           bit 2 variance (0 posterior, 1 exact); bit 1 clip; bit 0 coder word present
    coder        3 bytes   only with flag bit 0: rule (2 bits; 0 pfr, 1 orc, 2 mrc), index code
                           (2 bits; 0 fixed, 1 zipf, 2 zipf_truncated, 3 pfr_lognormal), chunk_bits - 1 (5),
                           headroom_bits (5), partition_trial_bits (4), 6 zero bits. Without it the
                           coder is DEFAULT_CODER (pfr, pfr_lognormal, 8, 3, 3)
    value range  kind 2: zigzag varints low, high; kind 3: f64 low, high; nothing for kinds 0-1
    dims         ndim varints, each dimension - 1
    seed         varint    shared-randomness seed, < 2^64
    stop step    varint    stop step - 1: the number of step records the encoder wrote, <= MAX_STEPS
    step records, one per step k = 0, 1, ...:
        length   varint    the message's byte length (at most 4 varint bytes)
        message  the Gaussian channel's message for step k
        check    2 bytes   BLAKE2b-16 keyed with the header digest, over (varint k, length, message)

The header digest is the 128-bit BLAKE2b of the header's bytes. A typical image file (a preset
value range, the default coder, dimensions up to 128, seed and stop step below 128) has a 24-byte
header; a record whose message is under 128 bytes has 3 bytes of framing (4 up to 16 KiB).

Integrity: a corrupted record passes its check with probability 2^-16 (its message must then still
parse in the channel's decoder, a weak second filter). Every record's check is keyed with the whole
header and the record's position, so an edited header, the records of another file or records in
another order go unnoticed only if every record passes (2^(-16 n) for n records). A different
model or schedule is refused by the 64-bit fingerprints (:func:`check_compatible`; a false match
has probability 2^-64). The checks guard against accidents and splices, not forgery.

Canonical: the reader re-encodes the header it parsed and refuses any other spelling (long
varints, a spelled-out preset, non-zero padding bits); record lengths must be minimal varints. A
file truncated right after record k (k >= 1) is a valid file that stops at step k
(:attr:`Container.truncated` says so; :func:`truncate` cuts one); a cut anywhere else, trailing
bytes, or more records than the stop step are errors. Every malformed input raises
:class:`ContainerError` and nothing else, and nothing is allocated from a count the file claims
before it is checked against the bytes that remain. v1 and v2 files are recognised and refused
with a message (their channel messages are in formats this version no longer decodes: v3 sizes
each chunk's search to the chunk and names heavy dimensions, :mod:`rcc.gaussian_channel`). The
header is v2's with the version byte and the default coder changed.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import struct
from dataclasses import dataclass

from diffc.diffusion import reverse
from diffc.diffusion.checks import MAX_SEED, checked_int
from rcc import gaussian_channel

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
RULES = ("pfr", "orc", "mrc")
# The codes of the rule, index code and variance are positions in these tuples (frozen by the
# golden files: append only).
INDEX_CODES = gaussian_channel.INDEX_CODES
VARIANCE_CODES = reverse.VARIANCES
DEFAULT_CODER = ("pfr", "pfr_lognormal", 8, 3, 3)
"""(rule, index code, chunk_bits, headroom_bits, partition_trial_bits) of a header without a coder
word. Part of the format: the channel's defaults may change, this may not."""
RANGE_PRESETS = ((-1.0, 1.0), (0.0, 1.0))
_RANGE_INTEGERS, _RANGE_FLOATS = 2, 3
MAX_NDIM = 8
MAX_VALUES = 2**31
"""The format's limit on values per file; decoders take a lower, configurable one."""
MAX_STEPS = 4096
MAX_RECORD_VARINT = 4
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
    rule: str
    index_code: str
    chunk_bits: int
    headroom_bits: int
    partition_trial_bits: int
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
        if not (self.rule in RULES and self.variance in VARIANCE_CODES and self.index_code in INDEX_CODES):
            raise ContainerError(f"unknown rule {self.rule!r}, index code {self.index_code!r} or "
                                 f"variance {self.variance!r}")
        checked_int(self.chunk_bits, "chunk_bits", 1, 30, ContainerError)
        checked_int(self.headroom_bits, "headroom_bits", 0, 16, ContainerError)
        checked_int(self.partition_trial_bits, "partition_trial_bits", 0, 8, ContainerError)
        checked_int(self.stop_step, "stop step", 1, MAX_STEPS, ContainerError)
        if not isinstance(self.clip, bool):
            raise ContainerError(f"clip must be a bool, got {self.clip!r}")

    @property
    def channel_params(self) -> dict[str, object]:
        """Keyword arguments of :class:`rcc.gaussian_channel.GaussianChannel` that decode this file."""
        return {"rule": self.rule, "index_code": self.index_code, "chunk_bits": self.chunk_bits,
                "headroom_bits": self.headroom_bits, "partition_trial_bits": self.partition_trial_bits}

    @property
    def coder(self) -> tuple[str, str, int, int, int]:
        return (self.rule, self.index_code, self.chunk_bits, self.headroom_bits, self.partition_trial_bits)


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


def _coder_word(h: Header) -> bytes:
    word = (RULES.index(h.rule) << 22 | INDEX_CODES.index(h.index_code) << 20 | (h.chunk_bits - 1) << 15
            | h.headroom_bits << 10 | h.partition_trial_bits << 6)
    return word.to_bytes(3, "big")


def encode_header(h: Header) -> bytes:
    """The header's bytes (see the module docstring); the records' checks are keyed with them."""
    kind = _range_kind(h.value_range)
    explicit_coder = h.coder != DEFAULT_CODER
    flags = ((len(h.shape) - 1) << 5 | kind << 3 | VARIANCE_CODES.index(h.variance) << 2 | int(h.clip) << 1
             | int(explicit_coder))
    out = bytearray(MAGIC)
    out += bytes([FORMAT_VERSION]) + h.model_fingerprint + h.schedule_digest + bytes([flags])
    if explicit_coder:
        out += _coder_word(h)
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


def _read_coder(r: _Reader, explicit: bool) -> tuple[str, str, int, int, int]:
    if not explicit:
        return DEFAULT_CODER
    word = int.from_bytes(r.take(3, "the coder word"), "big")
    rule, code = word >> 22, word >> 20 & 3
    chunk, headroom, trials = (word >> 15 & 31) + 1, word >> 10 & 31, word >> 6 & 15
    if rule >= len(RULES) or code >= len(INDEX_CODES) or chunk > 30 or headroom > 16 or trials > 8:
        raise ContainerError("corrupted header: unknown coder code")
    return RULES[rule], INDEX_CODES[code], chunk, headroom, trials


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
        header = Header(fingerprint, digest, shape, value_range, seed, *coder, variance=variance,
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
