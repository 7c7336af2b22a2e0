"""Index codes: how a coder's candidate index becomes bits.

* :class:`FixedLengthCode` — ``ceil(log2 N)`` bits for an index below ``N``;
* :class:`EliasGammaCode`, :class:`EliasDeltaCode` — universal codes of ``k + 1`` (Elias 1975),
  written with :class:`BitWriter` / read with :class:`BitReader`;
* :class:`ZipfCode` — the Zipf law ``P(k) ∝ (k + 1)^-λ`` with ``λ = 1 + 1/α``,
  ``α = D + log2(e)/e + 1`` (Li & El Gamal 2018), optionally truncated to ``N`` indices, entropy
  coded with constriction's range coder (24-bit precision).

Every code maps a *sequence* of 0-based indices to bytes and back, so benchmarks can write many
messages into one stream and count real bits from its bytes. ``ideal_bits`` gives the code's ideal
length of one index (its information content under the code's model) to print beside them.

Range coding an unbounded Zipf law needs a finite model, so the value ``m = k + 1`` is coded in two
stages that multiply to the exact law: its octave ``e = floor(log2 m)`` with a categorical model over
octaves, then the position inside the octave by binary halving, each half chosen with a Bernoulli
model whose probability is the Zipf mass of that half over the mass of the interval. Encoder and
decoder compute these masses with the same function, written with IEEE basic operations only
(:mod:`rcc.portable`, ``docs/determinism.md``), so they are the same bits on every machine and
rounding can only cost rate, never decodability. The range coder's 32-bit words are written
big-endian, and its decoder reads a stream cut inside the last word as padded with ones
(:func:`pad_words`), so that :func:`trim` can drop the slack of the final word.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol, runtime_checkable

import constriction
import numpy as np
from scipy import special

from kernels.errors import InvalidTypeError
from rcc import portable
from rcc.bounds import LOG2E_OVER_E
from rcc.core import real_scalar

__all__ = [
    "BitReader",
    "BitWriter",
    "EliasDeltaCode",
    "EliasGammaCode",
    "FixedLengthCode",
    "IndexCode",
    "PFRIndexCode",
    "ZipfCode",
    "elias_delta_read",
    "elias_delta_write",
    "elias_gamma_read",
    "elias_gamma_write",
    "pad_words",
    "trim",
    "zipf_alpha",
]

MAX_INDEX_BITS = 62
"""Indices must be below 2**62 (coders never get near; the cap keeps every code finite)."""
MAX_COUNT = 1 << 22
"""Most indices one decode call reads (a channel call has at most one chunk per dimension)."""
MAX_ALPHA = 2.0**40
"""Largest Zipf alpha (a KL of about 2^40 bits per index): beyond it ``lambda = 1 + 1/alpha``
comes too close to 1 for the octave masses (and at 2^53 it rounds to 1, a division by zero)."""


# -- bit streams --------------------------------------------------------------------------------


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


RANGE_CODED_FILL = 0xFF
"""A range-coded stream's missing tail reads as bytes of all ones: constriction seals its stream so
that all-ones padding lets more of the last word go (1.7 bytes of 4 on average, measured on Zipf
streams, against 0.02 with zeros)."""


def pad_words(data: bytes) -> np.ndarray:
    """A range-coded stream, cut anywhere, as the 32-bit big-endian words the decoder reads."""
    padded = bytes(data) + bytes([RANGE_CODED_FILL]) * (-len(data) % 4)
    return np.frombuffer(padded, dtype=">u4").astype(np.uint32)


def trim(data: bytes, decodes: Callable[[bytes], bool], max_cut: int) -> bytes:
    """``data`` less the most trailing bytes (at most ``max_cut``) it can lose while ``decodes``
    still holds (a range coder's final word is often partly slack; see :func:`pad_words`). A
    ``ValueError`` from ``decodes`` (a prefix its decoder rejects) counts as not decoding."""
    for cut in range(min(max_cut, len(data)), 0, -1):
        try:
            if decodes(data[:-cut]):
                return data[:-cut]
        except ValueError:
            continue
    return data


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


# -- index codes --------------------------------------------------------------------------------


@runtime_checkable
class IndexCode(Protocol):
    """A prefix-free code for sequences of 0-based candidate indices."""

    def encode(self, indices: Iterable[int]) -> bytes: ...

    def decode(self, data: bytes, count: int) -> list[int]: ...

    def ideal_bits(self, index: int) -> float: ...


def _check_index(index: object, limit: int) -> int:
    if not _is_int(index):
        raise InvalidTypeError(f"an index must be an integer, got {type(index).__name__}")
    k = int(index)
    if not 0 <= k < limit:
        raise ValueError(f"index {k} is outside the code's range [0, {limit})")
    return k


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_indices(indices: Iterable[int], limit: int) -> list[int]:
    if isinstance(indices, (str, bytes)) or not isinstance(indices, Iterable):
        raise InvalidTypeError(f"indices must be an iterable of integers, got {type(indices).__name__}")
    return [_check_index(k, limit) for k in indices]


def _check_count(count: int) -> int:
    """A decoder's count of indices, refused above MAX_COUNT before anything is allocated (a code of
    one index, or a range code, reads any count from a few bytes)."""
    if not _is_int(count) or not 0 <= count <= MAX_COUNT:
        raise ValueError(f"count must be an integer in [0, {MAX_COUNT}], got {count!r}")
    return int(count)


@dataclass(frozen=True)
class FixedLengthCode:
    """``ceil(log2 n)`` bits per index in ``[0, n)``; ``n = 1`` costs nothing."""

    n: int

    def __post_init__(self) -> None:
        if not _is_int(self.n) or not 1 <= self.n <= 1 << MAX_INDEX_BITS:
            raise ValueError(f"n must be an integer in [1, 2**{MAX_INDEX_BITS}], got {self.n!r}")

    @property
    def width(self) -> int:
        return (int(self.n) - 1).bit_length()

    def encode(self, indices: Iterable[int]) -> bytes:
        writer = BitWriter()
        for k in _check_indices(indices, self.n):
            writer.write(k, self.width)
        return writer.to_bytes()

    def decode(self, data: bytes, count: int) -> list[int]:
        reader = BitReader(data)
        count = _check_count(count)
        if count * self.width > reader.bits_left:
            raise ValueError(f"message truncated: {count} indices of {self.width} bits, "
                             f"{reader.bits_left} bits left")
        out = [reader.read(self.width) for _ in range(count)]
        if any(k >= self.n for k in out):
            raise ValueError(f"corrupt message: index beyond n={self.n}")
        return out

    def ideal_bits(self, index: int) -> float:
        _check_index(index, self.n)
        return math.log2(self.n)


@dataclass(frozen=True)
class _EliasCode:
    def encode(self, indices: Iterable[int]) -> bytes:
        writer = BitWriter()
        for k in _check_indices(indices, 1 << MAX_INDEX_BITS):
            self._write(writer, k + 1)
        return writer.to_bytes()

    def decode(self, data: bytes, count: int) -> list[int]:
        reader = BitReader(data)
        return [self._read(reader) - 1 for _ in range(_check_count(count))]

    def ideal_bits(self, index: int) -> float:
        writer = BitWriter()
        self._write(writer, _check_index(index, 1 << MAX_INDEX_BITS) + 1)
        return float(writer.bits_written)


class EliasGammaCode(_EliasCode):
    """Elias gamma code of ``k + 1``: ``2 floor(log2(k + 1)) + 1`` bits."""

    _write = staticmethod(elias_gamma_write)
    _read = staticmethod(elias_gamma_read)


class EliasDeltaCode(_EliasCode):
    """Elias delta code of ``k + 1``: ``log2 k + 2 log2 log2 k + O(1)`` bits."""

    _write = staticmethod(elias_delta_write)
    _read = staticmethod(elias_delta_read)


def zipf_alpha(kl_bits: float) -> float:
    """Li & El Gamal's Zipf parameter ``α = D + log2(e)/e + 1`` for a KL of ``kl_bits``."""
    kl = real_scalar(kl_bits, "kl_bits")
    if not math.isfinite(kl) or kl < 0:
        raise ValueError(f"kl_bits must be finite and non-negative, got {kl_bits}")
    return kl + LOG2E_OVER_E + 1


_DIRECT_SUM = 256  # ranges this short are summed term by term


def _power_sum(lam: float, lo: int, hi: int) -> float:
    """sum_{m=lo}^{hi-1} m^-lam, term by term: ``m^-lam = exp2(-lam log2 m)``, summed exactly."""
    m = np.arange(lo, hi, dtype=np.float64)
    return math.fsum(portable.exp2(-lam * portable.log2(m)))


def _midpoint_mass(lam: float, lo: int, hi: int) -> float:
    """The midpoint rule ``integral_{lo-1/2}^{hi-1/2} x^-lam dx`` (relative error below
    lam^2 / (24 lo^2)), written with expm1/log1p so that it does not cancel."""
    s = lam - 1.0
    a, b = lo - 0.5, hi - 0.5
    a_s = portable.exp2(-s * portable.log2(a))
    return -a_s * portable.expm1(-s * portable.log1p((b - a) / a)) / s


def _zipf_mass(lam: float, lo: int, hi: int) -> float:
    """sum_{m=lo}^{hi-1} m^-lam for 1 <= lo < hi (hi may be 2**MAX_INDEX_BITS + 1 meaning ~inf).

    Terms below ``_DIRECT_SUM`` (and short ranges) are summed exactly, the rest by the midpoint
    rule. Only :mod:`rcc.portable` functions and :func:`math.fsum` are used, so the value, and the
    range coder's tables built from it, are the same bits on every CPU (``docs/determinism.md``).
    """
    if hi - lo <= _DIRECT_SUM:
        return _power_sum(lam, lo, hi)
    if lo >= _DIRECT_SUM:
        return _midpoint_mass(lam, lo, hi)
    return _power_sum(lam, lo, _DIRECT_SUM) + _midpoint_mass(lam, _DIRECT_SUM, hi)


@dataclass(frozen=True)
class _OctaveCode(ABC):
    """Range code of an index law given by the masses of the octaves ``floor(log2(k + 1))`` and,
    inside an octave, the Zipf law ``(k + 1)^-λ``, ``λ = 1 + 1/α``, on ``k < n`` (or all k): the
    octave first, then the binary halvings that locate ``k`` in it. Subclasses give the octaves'
    masses (:meth:`_octave_masses`), computed with :mod:`rcc.portable` so that encoder and decoder
    build the same tables on every CPU."""

    alpha: float
    n: int | None = None

    def __post_init__(self) -> None:
        if (isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float, np.integer, np.floating))
                or not 0 < self.alpha <= MAX_ALPHA):
            raise ValueError(f"alpha must be a number in (0, {MAX_ALPHA:g}], got {self.alpha!r}")
        if self.n is not None and (not _is_int(self.n)
                                   or not 1 <= self.n <= 1 << MAX_INDEX_BITS):
            raise ValueError(f"n must be None or an integer in [1, 2**{MAX_INDEX_BITS}]")

    @property
    def lam(self) -> float:
        return 1.0 + 1.0 / self.alpha

    @property
    def _limit(self) -> int:
        """Number of codable indices."""
        return int(self.n) if self.n is not None else 1 << MAX_INDEX_BITS

    @abstractmethod
    def _octave_masses(self) -> list[float]:
        """Unnormalised masses of the octaves ``e = 0 .. (n - 1).bit_length()`` (values ``m = k + 1``
        in ``[2^e, 2^(e+1))``)."""

    @cached_property
    def _masses(self) -> list[float]:
        """:meth:`_octave_masses`, computed once per code (the model and every ideal length use them)."""
        return self._octave_masses()

    @cached_property
    def _octave_model(self) -> constriction.stream.model.Categorical | None:
        """Categorical model of ``floor(log2(k + 1))``; None when there is a single octave.
        Built once per code: it depends on the code's parameters only."""
        probs = self._masses
        if len(probs) == 1:
            return None
        return constriction.stream.model.Categorical(np.asarray(probs), perfect=False)

    @property
    def _n_octaves(self) -> int:
        return self._limit.bit_length()  # values m = k + 1 lie in [1, limit + 1)

    def _octave(self, e: int) -> tuple[int, int]:
        """Values ``m = k + 1`` of octave ``e``: ``[lo, hi)``."""
        return 1 << e, min(2 << e, self._limit + 1)

    def _splits(self, m: int) -> Iterable[tuple[int, int, int]]:
        """The binary halvings that locate ``m`` inside its octave: (lo, mid, hi) per step."""
        lo, hi = self._octave(m.bit_length() - 1)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            yield lo, mid, hi
            lo, hi = (mid, hi) if m >= mid else (lo, mid)

    @cached_property
    def _halvings(self) -> dict[tuple[int, int], float]:
        """Probabilities of the upper half already computed, by (lo, hi): encoders and decoders
        walk the same few paths of the tree many times."""
        return {}

    def _p_upper(self, lo: int, mid: int, hi: int) -> float:
        p = self._halvings.get((lo, hi))
        if p is None:
            upper = _zipf_mass(self.lam, mid, hi)
            p = self._halvings[lo, hi] = min(1.0, upper / (_zipf_mass(self.lam, lo, mid) + upper))
        return p

    def encode(self, indices: Iterable[int]) -> bytes:
        values = [k + 1 for k in _check_indices(indices, self._limit)]
        octaves = np.array([m.bit_length() - 1 for m in values], dtype=np.int32)
        bits, probs = [], []
        for m in values:
            for lo, mid, hi in self._splits(m):
                bits.append(int(m >= mid))
                probs.append(self._p_upper(lo, mid, hi))
        encoder = constriction.stream.queue.RangeEncoder()
        octave_model = self._octave_model
        if octave_model is not None:
            encoder.encode(octaves, octave_model)
        if bits:
            encoder.encode(np.array(bits, dtype=np.int32),
                           constriction.stream.model.Bernoulli(perfect=False),
                           np.array(probs, dtype=np.float64))
        # Big-endian words: the last word's slack is then in the stream's last bytes (see trim).
        return encoder.get_compressed().astype(">u4").tobytes()

    def decode(self, data: bytes, count: int) -> list[int]:
        """The ``count`` indices at the start of ``data``, which may be cut inside its last word
        (:func:`pad_words`); ``ValueError`` when constriction rejects the data."""
        if not isinstance(data, (bytes, bytearray)):
            raise InvalidTypeError(f"expected bytes, got {type(data).__name__}")
        count = _check_count(count)
        decoder = constriction.stream.queue.RangeDecoder(pad_words(data))
        try:
            return self._decode_values(decoder, count)
        except AssertionError as err:  # constriction's report of data no model could have produced
            raise ValueError(f"corrupt message: the range decoder rejected it ({err})") from err

    def _decode_values(self, decoder: constriction.stream.queue.RangeDecoder, count: int) -> list[int]:
        octave_model = self._octave_model
        octaves = (np.zeros(count, dtype=np.int32) if octave_model is None
                   else decoder.decode(octave_model, count))
        bernoulli = constriction.stream.model.Bernoulli(perfect=False)
        out = []
        for e in octaves:
            lo, hi = self._octave(int(e))
            while hi - lo > 1:
                mid = (lo + hi) // 2
                p = np.array([self._p_upper(lo, mid, hi)])
                lo, hi = (mid, hi) if decoder.decode(bernoulli, p)[0] else (lo, mid)
            out.append(lo - 1)
        return out

    def ideal_bits(self, index: int) -> float:
        """``-log2`` of the index's probability under the code's law (what an ideal entropy coder
        of that law would spend)."""
        m = _check_index(index, self._limit) + 1
        e = m.bit_length() - 1
        masses = self._masses
        lo, hi = self._octave(e)
        within = self.lam * math.log2(m) + math.log2(_zipf_mass(self.lam, lo, hi))
        return math.log2(math.fsum(masses) / masses[e]) + within


@dataclass(frozen=True)
class ZipfCode(_OctaveCode):
    """Range code of the Zipf law ``P(k) ∝ (k + 1)^-λ``, ``λ = 1 + 1/α``, on ``k < n`` (or all k).

    Build it with :meth:`for_kl` to use Li & El Gamal's ``α = D + log2(e)/e + 1``, under which the
    Poisson functional representation's index costs at most ``D + log2(D + 1) + 4`` bits on average.
    The decoder must know ``α`` (and ``n``): either both sides know D, or the caller sends it.
    """

    @classmethod
    def for_kl(cls, kl_bits: float, n: int | None = None) -> ZipfCode:
        return cls(zipf_alpha(kl_bits), n)

    def _octave_masses(self) -> list[float]:
        top = self._limit + 1
        return [_zipf_mass(self.lam, 1 << e, min(2 << e, top)) for e in range(self._n_octaves)]

    @cached_property
    def _log_normaliser(self) -> float:
        # A statistic, not a coding table (nothing the decoder needs), so scipy's accurate Hurwitz
        # zeta may serve; short ranges are summed as the tables are.
        top = self._limit + 1
        if top - 1 <= _DIRECT_SUM:
            return math.log2(_power_sum(self.lam, 1, top))
        return math.log2(float(special.zeta(self.lam, 1) - special.zeta(self.lam, top)))

    def log_normaliser(self) -> float:
        """log2 of the sum of ``m^-λ`` over codable values ``m``."""
        return self._log_normaliser

    def ideal_bits(self, index: int) -> float:
        k = _check_index(index, self._limit)
        return self.lam * math.log2(k + 1) + self.log_normaliser()


_EULER_LOG2E = 0.8327462808512272  # Euler's gamma times log2(e): -E[log2 E] for E ~ Exp(1)
_VAR_LOG2_EXP = 3.4237525915150416  # Var[log2 E] = pi^2 / (6 ln^2 2)
_TWO_LOG2E = 2.8853900817779268  # 2 / ln 2


@dataclass(frozen=True)
class PFRIndexCode(_OctaveCode):
    """Range code of the index law of the Poisson functional representation on a Gaussian chunk.

    PFR selects ``K`` with arrival time ``T_K = w(Z) E``, ``E ~ Exp(1)`` independent of the sample
    ``Z ~ Q`` (Li & El Gamal 2018), and ``K`` is about ``T_K``; for a Gaussian chunk whose KL is
    ``D`` bits with equal variances, ``log2 w(Z)`` is normal with mean ``D`` and variance
    ``2 D / ln 2``. So ``log2 K`` is modelled as normal with mean ``D - γ log2 e`` and variance
    ``2 D / ln 2 + π² / (6 ln² 2)``: the octaves ``floor(log2 K)`` get that law's masses (the first
    and last octave its tails), and inside an octave the Zipf law of :class:`ZipfCode` locates the
    index. Approximate by design: the law ignores the discreteness of small ``K``, truncation at
    ``n`` (whose excess mass the last octave takes) and the spread of the chunks' KLs around the
    ``D`` the decoder knows; any error costs rate, never decodability. On the DiffC Gaussian
    benchmark's chunks it spends about 2.5% fewer bits than the truncated Zipf law of the same D.
    """

    kl_bits: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        kl = real_scalar(self.kl_bits, "kl_bits")
        if not 0 <= kl <= MAX_ALPHA:
            raise ValueError(f"kl_bits must be in [0, {MAX_ALPHA:g}], got {self.kl_bits!r}")

    @classmethod
    def for_kl(cls, kl_bits: float, n: int | None = None) -> PFRIndexCode:
        return cls(zipf_alpha(kl_bits), n, float(kl_bits))

    def _octave_masses(self) -> list[float]:
        mean = self.kl_bits - _EULER_LOG2E
        sd = math.sqrt(_TWO_LOG2E * self.kl_bits + _VAR_LOG2_EXP)
        inner = (np.arange(1, self._n_octaves, dtype=np.float64) - mean) / sd  # octave boundaries
        # Below the mean from the lower tail, above it from the upper one: no cancellation.
        below = np.concatenate([[0.0], portable.ndtr(inner), [1.0]])
        above = np.concatenate([[1.0], portable.ndtr(-inner), [0.0]])
        mid = (np.arange(self._n_octaves) + 0.5 - mean) / sd
        return [float(below[e + 1] - below[e]) if mid[e] < 0 else float(above[e] - above[e + 1])
                for e in range(self._n_octaves)]
