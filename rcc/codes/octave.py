"""The octave code: a range code of an index law given octave by octave.

Range coding an unbounded Zipf law needs a finite model, so the value ``m = k + 1`` is coded in two
stages that multiply to the law: its octave ``e = floor(log2 m)`` with a categorical model over
octaves, then the position inside the octave by binary halving, each half chosen with a Bernoulli
model whose probability is the Zipf mass of that half over the mass of the interval. A subclass
gives the octaves' masses (:class:`rcc.codes.ZipfCode`: the Zipf law's own;
:class:`rcc.codes.PFRIndexCode`: a log-normal law). Encoder and decoder compute these masses with
the same functions, written with IEEE basic operations only (:mod:`rcc.portable`,
``docs/determinism.md``), so they are the same bits on every machine and rounding can only cost
rate, never decodability. Entropy coded with constriction's range coder (24-bit precision); the
stream's words are big-endian (:mod:`rcc.codes.range_coding`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import constriction
import numpy as np

from rcc import portable
from rcc.codes.base import (
    MAX_INDEX_BITS,
    bit_length,
    check_count,
    check_index,
    check_indices,
    check_known,
    is_int,
)
from rcc.codes.range_coding import pad_words
from rcc.codes.zipf_law import zipf_mass
from rcc_kernels.errors import InvalidTypeError

__all__ = ["FLOOR_SLACK", "MAX_ALPHA", "OctaveCode"]

MAX_ALPHA = 2.0**40
"""Largest Zipf alpha (a KL of about 2^40 bits per index): beyond it ``lambda = 1 + 1/alpha``
comes too close to 1 for the octave masses (and at 2^53 it rounds to 1, a division by zero)."""
FLOOR_SLACK = 2.0**-10
"""What :meth:`OctaveCode.floor_bits` adds to every probability of the law before taking its cost:
room for constriction's 24-bit quantization (a few 2^-24) and for :func:`zipf_mass`'s midpoint
rule (relative error below 2^-12 while ``λ <= FLOOR_MAX_LAM``)."""
FLOOR_MAX_LAM = 16.0
"""Above this ``λ`` the floor counts no halving cost (the midpoint rule's error bound grows as ``λ^2``)."""


@dataclass(frozen=True)
class OctaveCode(ABC):
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
        if self.n is not None and (not is_int(self.n)
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
            upper = zipf_mass(self.lam, mid, hi)
            p = self._halvings[lo, hi] = min(1.0, upper / (zipf_mass(self.lam, lo, mid) + upper))
        return p

    def encode(self, indices: Iterable[int]) -> bytes:
        values = [k + 1 for k in check_indices(indices, self._limit)]
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
        count = check_count(count)
        decoder = constriction.stream.queue.RangeDecoder(pad_words(data))
        try:
            return self._decode_values(decoder, count)
        except AssertionError as err:  # constriction's report of data no model could have produced
            raise ValueError(f"corrupt message: the range decoder rejected it ({err})") from err

    @cached_property
    def _octave_floors(self) -> np.ndarray:
        """Per octave ``e``, a floor on the information content of any index in it under the
        quantized law: the octave's cost plus ``e`` halvings' least cost, every probability raised
        by :data:`FLOOR_SLACK`. Inside a whole octave ``[2^e, 2^(e+1))`` every halving splits an
        interval ``[lo, hi)`` into equal halves of ``s <= lo / 2`` values; pairing ``m`` with
        ``m + s`` puts the upper half's Zipf mass at least ``1.5^-λ`` times the lower's, so either
        half costs at least ``log2(1 + 1.5^-λ)`` bits. A partial last octave's halvings count nothing."""
        masses = self._masses
        total = math.fsum(masses)
        ratio = float(portable.exp2(-self.lam * float(portable.log2(1.5))))
        halving = (-float(portable.log2(min(1.0, 1.0 / (1.0 + ratio) + FLOOR_SLACK)))
                   if self.lam <= FLOOR_MAX_LAM else 0.0)
        floors = []
        for e, mass in enumerate(masses):
            octave = 0.0 if len(masses) == 1 else -float(portable.log2(min(1.0, mass / total + FLOOR_SLACK)))
            lo, hi = self._octave(e)
            floors.append(octave + (e * halving if hi - lo == 1 << e else 0.0))
        return np.array(floors)

    def floor_bits(self, count: int, known: Sequence[int] | np.ndarray = ()) -> int:
        """A floor on ``8 * len(encode(indices))`` for any ``count`` indices among which are the
        ``known`` ones, in any places: the octave floors of the known indices and the least of them
        for each other one (information content is a sum over the symbols, whatever their order).
        Exact as a floor, because constriction's range coder keeps its range of ``2^64`` at least
        ``2^32`` wide, so the words it emits hold the information content of its symbols less 32
        bits, and it seals the stream with at least one word more."""
        count = check_count(count)
        values = check_known(known, count, self._limit)
        octaves = bit_length(values + np.uint64(1)) - 1
        floors = self._octave_floors
        bits = math.fsum(floors[octaves]) + (count - values.size) * float(floors.min())
        return math.floor(bits)

    @cached_property
    def _halving_models(self) -> dict[tuple[int, int], constriction.stream.model.Bernoulli]:
        """The decoder's Bernoulli model of each halving, by (lo, hi): a model with its probability
        built in quantizes it as the encoder's parameterized one does (the same bits), and decodes
        one bit per call without an array round trip, the decoder's inner loop."""
        return {}

    def _decode_values(self, decoder: constriction.stream.queue.RangeDecoder, count: int) -> list[int]:
        octave_model = self._octave_model
        octaves = (np.zeros(count, dtype=np.int32) if octave_model is None
                   else decoder.decode(octave_model, count))
        models, decode = self._halving_models, decoder.decode
        out = []
        for e in octaves.tolist():
            lo, hi = self._octave(e)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                model = models.get((lo, hi))
                if model is None:
                    model = models[lo, hi] = constriction.stream.model.Bernoulli(
                        self._p_upper(lo, mid, hi), perfect=False)
                lo, hi = (mid, hi) if decode(model) else (lo, mid)
            out.append(lo - 1)
        return out

    def ideal_bits(self, index: int) -> float:
        """``-log2`` of the index's probability under the code's law (what an ideal entropy coder
        of that law would spend)."""
        m = check_index(index, self._limit) + 1
        e = m.bit_length() - 1
        masses = self._masses
        lo, hi = self._octave(e)
        within = self.lam * math.log2(m) + math.log2(zipf_mass(self.lam, lo, hi))
        return math.log2(math.fsum(masses) / masses[e]) + within
