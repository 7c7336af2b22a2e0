"""DiffC container format, version 5: one compact, self-describing, progressive file per image.

The format is specified in ``docs/container.md`` (normative): a header of typically 33 to 35 bytes
(magic, version, the model's 64-bit fingerprint, two flag bytes with the model family, the
conditioning's kind and 64-bit digest when there is one, then the options a user conditioned on
(the prompt's text, :mod:`diffc.prompt_code`; the guidance scale; the class label), the channel's
:class:`~rcc.gaussian.ChannelSpec` word when it is not the default, value range, dimensions of the
coded array, the original image size when it is not the array's, seed, step count, and the step
times as integer codes, Exp-Golomb coded), then one record per step (a minimal-varint length, the
channel's message, a 16-bit check from a running BLAKE2b chain over the header and every record
before it). This module writes and reads exactly that: the reader accepts only the canonical
spelling, raises :class:`ContainerError` and nothing else on malformed input, allocates nothing
from a count the file claims before checking it against the bytes that remain, accepts a file cut
at a record boundary as a progressive prefix, and refuses v1 to v4 files by name.

Step times are integer codes (:func:`quantize_times`): a discrete schedule's table index, or a
continuous time in multiples of 2^-16, so the encoder and every decoder use the same times,
computed exactly from integers; the decoder never searches for a schedule.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from diffc import prompt_code
from diffc.diffusion import reverse
from diffc.diffusion.checks import MAX_SEED, checked_int
from rcc.gaussian.spec import ChannelSpec

__all__ = [
    "CONDITIONING_KINDS",
    "DEFAULT_CODER",
    "FAMILIES",
    "FINGERPRINT_BYTES",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_PROMPT_BYTES",
    "MAX_STEPS",
    "MAX_TIME_CODE",
    "MAX_VALUES",
    "TIME_GRIDS",
    "Container",
    "ContainerError",
    "Header",
    "check_identity",
    "check_model",
    "code_range",
    "conditioning_record",
    "default_size",
    "encode_header",
    "encode_records",
    "fingerprint_id",
    "framing_bytes",
    "grid_time",
    "max_message_bytes",
    "quantize_times",
    "read_container",
    "truncate",
    "write_container",
]

MAGIC = b"\xdf"
FORMAT_VERSION = 5
V1_MAGIC = b"DFC\x89"
FINGERPRINT_BYTES = 8
# Codes are positions in these tuples (frozen by the golden files: append only, within the bits).
VARIANCE_CODES = reverse.VARIANCES
FAMILIES = ("array", "pixel", "sd1", "sd2", "sdxl", "dit", "sd3", "flux")
"""Model families; ``"array"`` is a file of the array-level encoder (no image model)."""
CONDITIONING_KINDS = ("none", "empty-prompt", "zeros", "prompt", "class")
"""Conditioning rules (:class:`diffc.models.base.Conditioning`); ``"none"`` carries no digest."""
TIME_GRIDS = ("index", "dyadic")
"""How a step time is coded: a discrete schedule's table index, or a continuous time in units of
``2^-DYADIC_BITS``."""
DYADIC_BITS = 16
DEFAULT_CODER = ChannelSpec("pfr", "pfr_lognormal", 8, 3, 3)
"""The channel of a header without a coder word. Part of the format: the channel's defaults may
change, this may not."""
RANGE_PRESETS = ((-1.0, 1.0), (0.0, 1.0))
_RANGE_INTEGERS, _RANGE_FLOATS = 2, 3
MAX_NDIM = 4
MAX_VALUES = 2**31
"""The format's limit on values per file; decoders take a lower, configurable one."""
MAX_STEPS = 4096
MAX_TIME_CODE = 2**24
"""The largest step-time code (a table of 2^24 entries; the dyadic grid reaches 2^16)."""
MAX_RECORD_VARINT = 4
MAX_PROMPT_BYTES = 4096
"""The longest prompt a file holds, in UTF-8 bytes (the text encoders take far less: CLIP 77 tokens,
T5 512)."""
_PROMPT, _GUIDANCE, _LABEL = 0x80, 0x40, 0x20  # the options byte's bits
CODER_BYTES = 3
CHECK_BYTES = 2
CHAIN_BYTES = 16
_FIRST_ORDER_BITS = 4
_FIRST_ORDERS = 1 << _FIRST_ORDER_BITS
_MAX_EG_ZEROS = 25  # enough for any code up to MAX_TIME_CODE at order 0
_EXACT_INTEGERS = 2**53

_F64X2 = struct.Struct(">dd")


class ContainerError(ValueError):
    """The bytes are not a valid DiffC file of this format version (for this model)."""


def default_size(shape: tuple[int, ...]) -> tuple[int, int]:
    """The image size a header implies when it does not write one: the array's last two axes
    (``(1, n)`` for a 1-D array)."""
    return (shape[-2], shape[-1]) if len(shape) >= 2 else (1, shape[0])


@dataclass(frozen=True)
class Header:
    """Everything a decoder needs besides the model and the step messages.

    ``model_fingerprint`` and ``conditioning_id`` are the 8-byte prefixes written in the file
    (``conditioning_id`` is empty for ``conditioning="none"``). ``prompt``, ``guidance`` and
    ``class_label`` are the options the conditioning was chosen with (None: not given), so a decoder
    rebuilds it from the file alone; a prompt goes with the kind ``"prompt"`` and only with it, a
    class label with ``"class"``. ``size`` is the original image's
    ``(H, W)``. The step times are codes on ``time_grid``: ``first_time`` (``None``: the largest code
    within the model's schedule, :func:`code_range`) and the positive gaps between consecutive
    codes, so ``stop_step = len(time_gaps) + 1``.
    """

    model_fingerprint: bytes
    shape: tuple[int, ...]
    value_range: tuple[float, float]
    seed: int
    channel: ChannelSpec
    variance: str
    clip: bool
    time_grid: str
    first_time: int | None
    time_gaps: tuple[int, ...]
    family: str = "array"
    conditioning: str = "none"
    conditioning_id: bytes = b""
    size: tuple[int, int] | None = None
    prompt: str | None = None
    guidance: float | None = None
    class_label: int | None = None

    def __post_init__(self) -> None:
        fingerprint = self.model_fingerprint
        if not (isinstance(fingerprint, bytes) and len(fingerprint) == FINGERPRINT_BYTES):
            raise ContainerError(f"the model fingerprint must be {FINGERPRINT_BYTES} bytes")
        if self.family not in FAMILIES:
            raise ContainerError(f"unknown model family {self.family!r} (known: {', '.join(FAMILIES)})")
        if self.conditioning not in CONDITIONING_KINDS:
            raise ContainerError(f"unknown conditioning kind {self.conditioning!r}")
        id_bytes = 0 if self.conditioning == "none" else FINGERPRINT_BYTES
        if not (isinstance(self.conditioning_id, bytes) and len(self.conditioning_id) == id_bytes):
            raise ContainerError(f"conditioning {self.conditioning!r} needs a {id_bytes}-byte digest prefix")
        self._check_options()
        if not (isinstance(self.shape, tuple) and 1 <= len(self.shape) <= MAX_NDIM):
            raise ContainerError(f"shape must be a tuple of 1..{MAX_NDIM} dimensions, got {self.shape!r}")
        for d in self.shape:
            checked_int(d, "every dimension", 1, MAX_VALUES, ContainerError)
        if math.prod(self.shape) > MAX_VALUES:
            raise ContainerError(f"shape {self.shape} has more than {MAX_VALUES} values")
        size = default_size(self.shape) if self.size is None else self.size
        if not (isinstance(size, tuple) and len(size) == 2):
            raise ContainerError(f"size must be a pair (H, W), got {size!r}")
        for d in size:
            checked_int(d, "the image size", 1, MAX_VALUES, ContainerError)
        object.__setattr__(self, "size", size)
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
        if not isinstance(self.clip, bool):
            raise ContainerError(f"clip must be a bool, got {self.clip!r}")
        self._check_times()

    def _check_options(self) -> None:
        if (self.prompt is not None) != (self.conditioning == "prompt"):
            raise ContainerError(f"a prompt goes with the conditioning kind 'prompt' and only with it "
                                 f"(kind {self.conditioning!r}, prompt {self.prompt!r})")
        if self.prompt is not None:
            if not isinstance(self.prompt, str) or not self.prompt:
                raise ContainerError(f"the prompt must be a non-empty text, got {self.prompt!r}")
            try:
                n = len(self.prompt.encode("utf-8"))
            except UnicodeEncodeError:
                raise ContainerError("the prompt is not valid Unicode text (a lone surrogate)") from None
            if n > MAX_PROMPT_BYTES:
                raise ContainerError(f"the prompt is {n} bytes in UTF-8, more than the format's "
                                     f"{MAX_PROMPT_BYTES}")
        if self.class_label is not None:
            if self.conditioning != "class":
                raise ContainerError(f"a class label goes with the conditioning kind 'class', not "
                                     f"{self.conditioning!r}")
            checked_int(self.class_label, "the class label", 0, MAX_VALUES, ContainerError)
        if self.guidance is not None:
            if self.conditioning == "none":
                raise ContainerError("guidance needs a conditioning")
            if not (isinstance(self.guidance, numbers.Real) and not isinstance(self.guidance, bool)
                    and math.isfinite(self.guidance)):
                raise ContainerError(f"the guidance scale must be a finite number, got {self.guidance!r}")
            object.__setattr__(self, "guidance", float(self.guidance) + 0.0)  # no -0.0

    @property
    def options(self) -> dict[str, object]:
        """The conditioning's options as keyword arguments (``prompt``, ``guidance``, ``class_label``)."""
        return {"prompt": self.prompt, "guidance": self.guidance, "class_label": self.class_label}

    def _check_times(self) -> None:
        if self.time_grid not in TIME_GRIDS:
            raise ContainerError(f"unknown time grid {self.time_grid!r}")
        if not isinstance(self.time_gaps, tuple) or len(self.time_gaps) > MAX_STEPS - 1:
            raise ContainerError(f"time gaps must be a tuple of at most {MAX_STEPS - 1} steps")
        for gap in self.time_gaps:
            checked_int(gap, "every gap between step times", 1, MAX_TIME_CODE, ContainerError)
        span = sum(self.time_gaps)
        if self.first_time is not None:
            checked_int(self.first_time, "the first step time", 0, MAX_TIME_CODE, ContainerError)
            if span > self.first_time:
                raise ContainerError(f"the step times go below zero (first {self.first_time}, span {span})")
        elif span > MAX_TIME_CODE:
            raise ContainerError(f"the step times span {span} codes, more than {MAX_TIME_CODE}")

    @property
    def stop_step(self) -> int:
        """The number of step records the encoder wrote (one per step time)."""
        return len(self.time_gaps) + 1

    def time_codes(self, top: int) -> tuple[int, ...]:
        """The step-time codes, noisiest first, given the model's largest code (:func:`code_range`,
        used when the file does not write its first time)."""
        codes = [top if self.first_time is None else self.first_time]
        for gap in self.time_gaps:
            codes.append(codes[-1] - gap)
        return tuple(codes)


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


# -- step times -----------------------------------------------------------------------------------


def grid_time(code: int, grid: str) -> float:
    """The time of an integer code (exact: a table index, or ``code * 2^-16``)."""
    return float(code) if grid == "index" else math.ldexp(code, -DYADIC_BITS)


def _scaled(t: float, grid: str) -> float:
    return float(t) if grid == "index" else math.ldexp(float(t), DYADIC_BITS)  # exact


def code_range(t_min: float, t_max: float, grid: str) -> tuple[int, int]:
    """The least and the largest code whose time lies in ``[t_min, t_max]`` (a schedule's times);
    the largest is the first step time when a file does not write it."""
    return math.ceil(_scaled(t_min, grid)), math.floor(_scaled(t_max, grid))


def quantize_times(times: Sequence[float], discrete: bool, t_min: float,
                   t_max: float) -> tuple[str, tuple[int, ...]]:
    """The grid and the integer codes of an encoding schedule's times (the format's rule).

    A discrete schedule's times are table indices already. A continuous time is rounded to the
    nearest multiple of 2^-16 (ties to even), then moved into ``[t_min, t_max]`` on the grid; all
    of it exact. The encoder sends Z at the quantized times, so an ulp in how a schedule was
    computed changes at most which file is written, never what a file means. Raises
    ``ValueError`` when two times share a code.
    """
    grid = TIME_GRIDS[0] if discrete else TIME_GRIDS[1]
    low, high = code_range(t_min, t_max, grid)
    codes = tuple(min(max(round(_scaled(t, grid)), low), high) for t in times)
    if any(b >= a for a, b in zip(codes[:-1], codes[1:], strict=False)):
        raise ValueError(f"two step times fall on the same code of the {grid} grid (too many steps)")
    if not 0 <= codes[-1] <= codes[0] <= MAX_TIME_CODE:
        raise ValueError(f"step time codes must lie in [0, {MAX_TIME_CODE}], got {codes}")
    return grid, codes


class _BitWriter:
    def __init__(self) -> None:
        self.value, self.n = 0, 0

    def put(self, value: int, n_bits: int) -> None:
        self.value, self.n = self.value << n_bits | value, self.n + n_bits

    def exp_golomb(self, value: int, k: int) -> None:
        m = value + (1 << k)
        self.put(0, m.bit_length() - 1 - k)
        self.put(m, m.bit_length())

    def to_bytes(self) -> bytes:
        pad = -self.n % 8
        return (self.value << pad).to_bytes((self.n + pad) // 8, "big")


def _exp_golomb_bits(value: int, k: int) -> int:
    return 2 * (value + (1 << k)).bit_length() - 1 - k


def _next_order(value: int) -> int:
    """The Exp-Golomb order of the code after ``value``: ``floor(log2(value + 1))``, so that a gap
    like the one before costs about its own bit length plus two."""
    return (value + 1).bit_length() - 1


def _time_values(h: Header) -> list[int]:
    return ([] if h.first_time is None else [h.first_time]) + [g - 1 for g in h.time_gaps]


def _times_bits(values: list[int], k: int) -> int:
    bits = 0
    for v in values:
        bits, k = bits + _exp_golomb_bits(v, k), _next_order(v)
    return bits


def _encode_times(h: Header) -> bytes:
    values = _time_values(h)
    costs = [_times_bits(values, k) for k in range(_FIRST_ORDERS)]
    k = costs.index(min(costs))  # canonical: the cheapest first order, the lowest on a tie
    w = _BitWriter()
    w.put(k, _FIRST_ORDER_BITS)
    for v in values:
        w.exp_golomb(v, k)
        k = _next_order(v)
    return w.to_bytes()


# -- writing --------------------------------------------------------------------------------------


def varint(n: int) -> bytes:
    """``n >= 0`` as a LEB128 varint (7 bits a byte, low first; minimal)."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _zigzag(n: int) -> int:
    return 2 * n if n >= 0 else -2 * n - 1


def _decimal(value: float) -> tuple[int, int]:
    """``(m, q)`` with ``value == float(m * 10^q)``: the shortest decimal that reads back as
    ``value`` (Python's ``repr``), trailing zeros moved into ``q``; exact, and the same everywhere."""
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    m = int("".join(map(str, digits)))
    return (-m if sign else m), int(exponent)


def conditioning_record(h: Header) -> bytes:
    """The header's conditioning options (empty when none was given): an options byte (bit 7 prompt,
    bit 6 guidance, bit 5 class label), then the class label (varint), the guidance scale (two
    zigzag varints: the decimal's digits and exponent), the prompt (its UTF-8 length, a varint, then
    its :mod:`diffc.prompt_code` block padded to a byte)."""
    present = ((_PROMPT if h.prompt is not None else 0) | (_GUIDANCE if h.guidance is not None else 0)
               | (_LABEL if h.class_label is not None else 0))
    if not present:
        return b""
    out = bytearray([present])
    if h.class_label is not None:
        out += varint(h.class_label)
    if h.guidance is not None:
        out += b"".join(varint(_zigzag(v)) for v in _decimal(h.guidance))
    if h.prompt is not None:
        text = h.prompt.encode("utf-8")
        w = _BitWriter()
        prompt_code.encode(text, w.put)
        out += varint(len(text)) + w.to_bytes()
    return bytes(out)


def _range_kind(value_range: tuple[float, float]) -> int:
    if value_range in RANGE_PRESETS:
        return RANGE_PRESETS.index(value_range)
    if all(v.is_integer() and abs(v) <= _EXACT_INTEGERS for v in value_range):
        return _RANGE_INTEGERS
    return _RANGE_FLOATS


def encode_header(h: Header) -> bytes:
    """The header's bytes (docs/container.md); the records' check chain starts from them."""
    kind = _range_kind(h.value_range)
    explicit_coder = h.channel != DEFAULT_CODER
    explicit_size = h.size != default_size(h.shape)
    conditioned = h.conditioning != "none"
    flags1 = ((len(h.shape) - 1) << 6 | kind << 4 | VARIANCE_CODES.index(h.variance) << 3 | int(h.clip) << 2
              | int(explicit_coder) << 1 | int(explicit_size))
    options = conditioning_record(h)
    flags2 = (FAMILIES.index(h.family) << 5 | int(conditioned) << 4 | TIME_GRIDS.index(h.time_grid) << 3
              | int(h.first_time is not None) << 2 | int(bool(options)) << 1)
    out = bytearray(MAGIC)
    out += bytes([FORMAT_VERSION]) + h.model_fingerprint + bytes([flags1, flags2])
    if conditioned:
        out += bytes([CONDITIONING_KINDS.index(h.conditioning)]) + h.conditioning_id + options
    if explicit_coder:
        out += h.channel.to_word().to_bytes(CODER_BYTES, "big")
    if kind == _RANGE_INTEGERS:
        out += b"".join(varint(_zigzag(int(v))) for v in h.value_range)
    elif kind == _RANGE_FLOATS:
        out += _F64X2.pack(*h.value_range)
    out += b"".join(varint(d - 1) for d in h.shape)
    if explicit_size:
        out += b"".join(varint(d - 1) for d in h.size)
    out += varint(h.seed) + varint(h.stop_step - 1) + _encode_times(h)
    return bytes(out)


def _chain_start(header_bytes: bytes) -> bytes:
    return hashlib.blake2b(header_bytes, digest_size=CHAIN_BYTES, person=b"diffc-v5-header").digest()


def _link(state: bytes, body: bytes) -> tuple[bytes, bytes]:
    """A record's check and the chain's next state: one BLAKE2b keyed with the state, over the
    record's length and message, split into the 2-byte check and the 16-byte next state."""
    digest = hashlib.blake2b(body, digest_size=CHECK_BYTES + CHAIN_BYTES, key=state,
                             person=b"diffc-v5-record").digest()
    return digest[:CHECK_BYTES], digest[CHECK_BYTES:]


def framing_bytes(message_bytes: int) -> int:
    """Bytes a record adds around a message of ``message_bytes`` bytes (length varint and check).

    >>> framing_bytes(127), framing_bytes(128)
    (3, 4)
    """
    return len(varint(message_bytes)) + CHECK_BYTES


def max_message_bytes(record_bits: float) -> int:
    """The longest message whose step record (the message and its framing, :func:`framing_bytes`)
    fits in ``record_bits`` bits; -1 when not even an empty one does."""
    room = math.floor(record_bits / 8)
    if room < framing_bytes(0):
        return -1
    longest = room - framing_bytes(room)  # fits: framing grows with the length
    while longest + 1 + framing_bytes(longest + 1) <= room:
        longest += 1
    return longest


def encode_records(header_bytes: bytes, messages: list[bytes] | tuple[bytes, ...]) -> bytes:
    """Step records 0, 1, ... of ``messages``, their checks chained from ``header_bytes``."""
    if any(len(m) >= 2 ** (7 * MAX_RECORD_VARINT) for m in messages):
        raise ValueError("a step message is too long for the format")
    state, out = _chain_start(header_bytes), bytearray()
    for m in messages:
        body = varint(len(m)) + bytes(m)
        check, state = _link(state, body)
        out += body + check
    return bytes(out)


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


class _BitReader:
    """Bits of a block (the step times, a prompt), MSB first, fetched from the byte reader a byte at
    a time."""

    def __init__(self, r: _Reader, what: str = "the step times") -> None:
        self.r, self.what, self.byte, self.left = r, what, 0, 0

    def bit(self) -> int:
        if not self.left:
            self.byte, self.left = self.r.byte(self.what), 8
        self.left -= 1
        return self.byte >> self.left & 1

    def bits(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = value << 1 | self.bit()
        return value

    def exp_golomb(self, k: int) -> int:
        zeros = 0
        while not self.bit():
            zeros += 1
            if zeros > _MAX_EG_ZEROS:
                raise ContainerError("corrupted header: a step-time code is too long")
        return ((1 << (zeros + k)) | self.bits(zeros + k)) - (1 << k)


_OLD_VERSIONS = {
    2: "the channel's message format changed with v3",
    3: "v4 writes the step times, the model family and the image size, and chains the records' checks",
    4: "v5 records the prompt, guidance and class label a file was conditioned on",
}


def _check_magic(r: _Reader) -> None:
    if r.data.startswith(V1_MAGIC):
        raise ContainerError("this is a DiffC v1 file; v1 files are no longer decoded by this version (the "
                             "channel's message format changed with v2): re-encode the original image")
    if r.byte("the magic number") != MAGIC[0]:
        raise ContainerError(f"not a DiffC file (the first byte is not {MAGIC!r})")
    version = r.byte("the version")
    if version in _OLD_VERSIONS:
        raise ContainerError(f"this is a DiffC v{version} file; v{version} files are no longer decoded by "
                             f"this version, which reads v{FORMAT_VERSION} only ({_OLD_VERSIONS[version]}): "
                             "re-encode the original image")
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


def _read_conditioning(r: _Reader, conditioned: bool, with_options: bool) -> dict[str, object]:
    if with_options and not conditioned:
        raise ContainerError("corrupted header: conditioning options without a conditioning")
    if not conditioned:
        return {}
    code = r.byte("the conditioning kind")
    if not 1 <= code < len(CONDITIONING_KINDS):
        raise ContainerError(f"corrupted header: unknown conditioning kind code {code}")
    out = {"conditioning": CONDITIONING_KINDS[code],
           "conditioning_id": r.take(FINGERPRINT_BYTES, "the conditioning digest")}
    return out | (_read_options(r) if with_options else {})


def _read_options(r: _Reader) -> dict[str, object]:
    present = r.byte("the conditioning options")
    if not present or present & ~(_PROMPT | _GUIDANCE | _LABEL):
        raise ContainerError(f"corrupted header: conditioning options byte {present:#04x}")
    out: dict[str, object] = {}
    if present & _LABEL:
        out["class_label"] = r.varint("the class label", 5)
    if present & _GUIDANCE:
        digits, exponent = (_unzigzag(r.varint("the guidance scale", n)) for n in (10, 2))
        out["guidance"] = float(Decimal(digits).scaleb(exponent))
    if present & _PROMPT:
        n = r.varint("the prompt's length", 2)
        if n > MAX_PROMPT_BYTES:
            raise ContainerError(f"corrupted header: a prompt of {n} bytes, more than {MAX_PROMPT_BYTES}")
        text = prompt_code.decode(n, _BitReader(r, "the prompt").bit)
        try:
            out["prompt"] = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ContainerError("corrupted header: the prompt is not valid UTF-8 text") from None
    return out


def _read_times(r: _Reader, stop: int, first_written: bool) -> tuple[int | None, tuple[int, ...]]:
    bits = _BitReader(r)
    k = bits.bits(_FIRST_ORDER_BITS)
    values = []
    for _ in range(stop - 1 + first_written):  # each code costs a bit at least of the bytes that remain
        values.append(bits.exp_golomb(k))
        if values[-1] > MAX_TIME_CODE:
            raise ContainerError(f"corrupted header: a step-time code above {MAX_TIME_CODE}")
        k = _next_order(values[-1])
    first = values.pop(0) if first_written else None
    return first, tuple(v + 1 for v in values)


def _read_header(r: _Reader) -> Header:
    _check_magic(r)
    fingerprint = r.take(FINGERPRINT_BYTES, "the model fingerprint")
    flags1, flags2 = r.byte("the header flags"), r.byte("the header flags")
    if flags2 & 1:
        raise ContainerError("corrupted header: a reserved flag bit is set")
    conditioning = _read_conditioning(r, bool(flags2 >> 4 & 1), bool(flags2 >> 1 & 1))
    coder = _read_coder(r, bool(flags1 >> 1 & 1))
    value_range = _read_range(r, flags1 >> 4 & 3)
    # 5 varint bytes reach 2^35 > MAX_VALUES, 10 reach 2^70 > 2^64; Header checks the exact limits.
    shape = tuple(r.varint("the shape", 5) + 1 for _ in range((flags1 >> 6) + 1))
    size = tuple(r.varint("the image size", 5) + 1 for _ in range(2)) if flags1 & 1 else None
    seed = r.varint("the seed", 10)
    stop = r.varint("the stop step", 2) + 1
    if stop > MAX_STEPS:
        raise ContainerError(f"corrupted header: stop step {stop} is more than {MAX_STEPS}")
    first, gaps = _read_times(r, stop, bool(flags2 >> 2 & 1))
    try:
        header = Header(fingerprint, shape, value_range, seed, coder,
                        variance=VARIANCE_CODES[flags1 >> 3 & 1], clip=bool(flags1 >> 2 & 1),
                        time_grid=TIME_GRIDS[flags2 >> 3 & 1], first_time=first, time_gaps=gaps,
                        family=FAMILIES[flags2 >> 5], size=size, **conditioning)
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
    state = _chain_start(r.data[:header_bytes])
    messages, ends = [], []
    while r.pos < len(r.data):
        k = len(messages)
        if k >= header.stop_step:
            raise ContainerError(f"trailing bytes after the {header.stop_step} steps the header announces")
        start = r.pos
        message = r.take(r.varint(f"the length of step {k}", MAX_RECORD_VARINT), f"step {k}")
        check, state = _link(state, r.data[start:r.pos])
        if r.take(CHECK_BYTES, f"the check of step {k}") != check:
            raise ContainerError(f"check mismatch in step {k}: the record is corrupted, or it or a record "
                                 "before it belongs to another file or position")
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


def _source(source: str) -> str:
    return f" ({source})" if source else ""


def check_model(header: Header, model_fingerprint: bytes, source: str = "") -> None:
    """Raise :class:`ContainerError` unless the file was written for the model of this full SHA-256
    fingerprint (``source``: where the model came from, for the message)."""
    if header.model_fingerprint != fingerprint_id(model_fingerprint):
        raise ContainerError(f"wrong model: the file was encoded with model {header.model_fingerprint.hex()}"
                             f"...; this model{_source(source)} is {model_fingerprint.hex()}")


def check_identity(header: Header, family: str, conditioning: str, conditioning_digest: bytes,
                   model_fingerprint: bytes, source: str = "") -> None:
    """Raise :class:`ContainerError` unless the file was written for a model of this family, this
    conditioning (its kind and full SHA-256 digest) and this fingerprint; the message names what the
    file says and what the model is."""
    if header.family != family:
        raise ContainerError(f"wrong model family: the file was encoded with a {header.family} model; this "
                             f"model{_source(source)} is {family}")
    ours = fingerprint_id(conditioning_digest) if conditioning != "none" else b""
    if (header.conditioning, header.conditioning_id) != (conditioning, ours):
        written = header.conditioning_id
        theirs = header.conditioning + (f" {written.hex()}..." if written else "")
        mine = conditioning + (f" {conditioning_digest.hex()}" if ours else "")
        raise ContainerError(f"wrong conditioning: the file was encoded with conditioning {theirs}; this "
                             f"model{_source(source)} is conditioned on {mine}")
    check_model(header, model_fingerprint, source)
