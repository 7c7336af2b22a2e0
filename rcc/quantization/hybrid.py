"""Hybrid coding: universal-quantization candidates inside the Poisson functional representation.

Theis & Yosri (2022, "Algorithms for the communication of samples", ICML) combine dithered
quantization with a candidate search. Here, for a univariate target Q whose support lies in an
interval of width at most ``step`` around a centre c (known to the encoder only):

* candidate n has its own shared dither U_n ~ Uniform(-1/2, 1/2) (stream ``(CANDIDATES, *stream)``,
  candidate n) and is the universal quantizer's output for c,
  ``Y_n = step * (K_n + U_n)`` with ``K_n = round(c / step - U_n)``; given c, the Y_n are i.i.d.
  Uniform(c - step/2, c + step/2) (the *window*);
* the encoder runs PFR (Li & El Gamal 2018) over the Y_n with the window as proposal, ratio
  ``w = step * q(Y_n)``, and the D_inf stopping rule, with D_inf[Q || window] = log2(step sup q);
* the message is the PFR index N (an :mod:`rcc.codes` index code, after a one-byte LEB128 length
  prefix so that any index code can be used) followed by K_N entropy coded given U_N under the prior
  that the decoder knows (:mod:`rcc.quantization.entropy`, the proposal P convolved with the uniform
  on the grid shifted by U_N); :meth:`HybridCoding.encode_many` puts many samples behind one prefix;
* the decoder regenerates U_N and outputs ``step * (K_N + U_N)``.

Exact: the output follows Q exactly (PFR with a bounded ratio and its exact stopping rule; the
window law of each Y_n holds for every c). Cost: about 2^D_inf[Q || window] candidates, which does
not grow as Q narrows relative to P, against 2^D_inf[Q || P] for plain PFR: for a target of width w
and a Gaussian proposal of scale v, plain PFR examines O(v / w) candidates and hybrid coding O(1).
The rate is the index's code length plus about H[K | U] = h(P * U) - log2 step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import stats

import rcc_kernels
from rcc.bounds import LN2
from rcc.coders.race import check_dinf, race
from rcc.codes import EliasDeltaCode, IndexCode
from rcc.core import Message, Proposal, Stats, Stream, Target, log_ratio, real_scalar
from rcc.distributions import Normal, ScipyContinuous, Uniform
from rcc.quantization import entropy
from rcc.quantization.entropy import Prior, check_step
from rcc.quantization.universal import quantize, reconstruct
from rcc.randomness import Domain, key_for
from rcc_kernels.errors import InvalidTypeError

__all__ = ["HybridCoding", "HybridSelection", "prior_for"]


def prior_for(proposal: Proposal) -> Prior:
    """The entropy model's prior for a univariate proposal of :mod:`rcc.distributions`."""
    if isinstance(proposal, Normal) and proposal.event_shape == ():
        return Prior.gaussian(float(proposal.loc), float(proposal.scale))
    if isinstance(proposal, ScipyContinuous):
        return Prior.from_scipy(proposal.dist)
    if isinstance(proposal, Uniform):
        return Prior.from_scipy(stats.uniform(proposal.low, proposal.width))
    raise InvalidTypeError("hybrid coding needs a univariate Normal, Uniform or ScipyContinuous proposal, "
                    f"got {type(proposal).__name__}")


def _dithers(key: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Dithers of candidates ``start .. stop-1``: the race's candidate stream, centred."""
    return rcc_kernels.uniform(key, start, stop, 1)[:, 0] - 0.5


def _dither_of(seed: int, stream: Stream, index: int) -> float:
    """The dither of candidate ``index``: all the decoder needs to rebuild the winner."""
    return float(_dithers(key_for(seed, Domain.CANDIDATES, stream), index, index + 1)[0])


def _varint(value: int) -> bytes:
    """LEB128 length prefix: 7 bits per byte, high bit set on all but the last byte."""
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def _read_varint(data: bytes) -> tuple[int, int]:
    """(bytes consumed, value) of the LEB128 prefix of ``data``."""
    value = 0
    for i, byte in enumerate(data[:10]):
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if i + 1 + value > len(data):
                break
            return i + 1, value
    raise ValueError("corrupt message: bad length prefix of the index block")


@dataclass(frozen=True)
class _Window:
    """The race's proposal: candidate n is the universal quantizer's output for the centre with
    dither n, uniform on the window of width ``step`` around the centre."""

    center: float
    step: float
    event_shape: ClassVar[tuple[int, ...]] = ()

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        # Candidates lie in the window by construction; the slack absorbs float64 rounding of y.
        inside = np.abs(np.asarray(x) - self.center) <= self.step * (0.5 + 1e-12)
        return np.where(inside, -math.log(self.step), -np.inf)

    def candidates(self, key: np.ndarray, start: int, stop: int) -> np.ndarray:
        u = _dithers(key, start, stop)
        return reconstruct(quantize(self.center, self.step, u), self.step, u)


@dataclass(frozen=True)
class HybridSelection:
    """The encoder's choice: PFR index, quantization index and dither of that candidate, the
    sample, the candidates examined and log2 dQ/dP at the sample (P: the proposal)."""

    index: int
    k: int
    dither: float
    sample: float
    proposals: int
    log_ratio_bits: float


@dataclass(frozen=True)
class HybridCoding:
    """Hybrid coding with quantization ``step`` (see the module docstring); exact.

    ``code``: the code of the PFR index (default Elias delta). ``max_dinf_bits``: refuse targets
    whose ratio to the window needs more than ``2^max_dinf_bits`` candidates.
    """

    step: float
    code: IndexCode | None = None
    max_dinf_bits: float = 30.0
    exact: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "step", float(check_step(real_scalar(self.step, "step"))))

    @property
    def index_code(self) -> IndexCode:
        return self.code if self.code is not None else EliasDeltaCode()

    def _window(self, target: Target, proposal: Proposal) -> tuple[_Window, float]:
        if tuple(target.event_shape) != () or tuple(proposal.event_shape) != ():
            raise ValueError("hybrid coding sends univariate samples (event shape ())")
        support = getattr(target, "support", None)
        lo, hi = support() if callable(support) else (-math.inf, math.inf)
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi - lo > self.step * (1 + 1e-12):
            raise ValueError(f"hybrid coding needs a target supported on an interval no wider than "
                             f"the step {self.step}, got support ({lo}, {hi})")
        center = 0.5 * (lo + hi)
        half = 0.5 * self.step
        # min/max: center +- half may round inside the support by an ulp.
        divergences = target.divergences(Uniform(min(lo, center - half), max(hi, center + half)))
        return _Window(center, self.step), check_dinf(divergences, "hybrid coding", self.max_dinf_bits)

    def select(self, target: Target, proposal: Proposal, seed: int,
               stream: Stream = ()) -> HybridSelection:
        """Run the encoder's search and return its choice (no bits written)."""
        window, dinf_bits = self._window(target, proposal)
        won = race(target, window, seed, stream, "pfr", None, dinf_bits)
        u = _dither_of(seed, stream, won.index)
        k = int(quantize(window.center, self.step, u))
        sample = float(reconstruct(k, self.step, u))
        ratio = float(log_ratio(target, proposal, np.array([sample]))[0]) / LN2
        return HybridSelection(won.index, k, u, sample, won.proposals, ratio)

    def encode_many(self, targets: list[Target], proposal: Proposal, seed: int,
                    streams: list[Stream]) -> tuple[bytes, list[HybridSelection], float]:
        """One bitstream for several samples (one stream path each): all PFR indices, then all
        quantization indices in one entropy-coded block. Returns the bytes, the selections and the
        ideal bits (index code's ideal lengths plus the entropy model's estimate)."""
        if len(targets) != len(streams):
            raise ValueError(f"{len(targets)} targets but {len(streams)} streams")
        chosen = [self.select(t, proposal, seed, s) for t, s in zip(targets, streams, strict=True)]
        head = self.index_code.encode([c.index for c in chosen])
        body, coding = entropy.encode(np.array([c.k for c in chosen], dtype=np.int64),
                                      np.array([c.dither for c in chosen]), self.step,
                                      prior_for(proposal))
        ideal = sum(self.index_code.ideal_bits(c.index) for c in chosen) + coding.model_bits
        return _varint(len(head)) + head + body, chosen, ideal

    def decode_many(self, data: bytes, proposal: Proposal, seed: int,
                    streams: list[Stream]) -> np.ndarray:
        """The samples of :meth:`encode_many`, in order."""
        if not isinstance(data, bytes | bytearray):
            raise InvalidTypeError(f"data must be bytes, got {type(data).__name__}")
        start, size = _read_varint(bytes(data))
        head, body = bytes(data)[start:start + size], bytes(data)[start + size:]
        indices = self.index_code.decode(head, len(streams))
        u = np.array([_dither_of(seed, s, n) for n, s in zip(indices, streams, strict=True)])
        k = entropy.decode(body, u, self.step, prior_for(proposal))
        return reconstruct(k, self.step, u)

    def encode(self, target: Target, proposal: Proposal, seed: int,
               stream: Stream = ()) -> tuple[Message, Stats]:
        data, (chosen,), ideal = self.encode_many([target], proposal, seed, [stream])
        message = Message(data)
        return message, Stats(index=chosen.index, bits=message.bits, ideal_bits=ideal,
                              proposals=chosen.proposals, log_ratio_bits=chosen.log_ratio_bits)

    def decode(self, message: Message, proposal: Proposal, seed: int,
               stream: Stream = ()) -> np.ndarray:
        if not isinstance(message, Message):
            raise InvalidTypeError(f"expected an rcc.core.Message, got {type(message).__name__}")
        return self.decode_many(message.data, proposal, seed, [stream])[0]
