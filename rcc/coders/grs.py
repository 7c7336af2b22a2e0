"""Greedy rejection sampling (Harsha, Jain, McAllester & Radhakrishnan 2007, "The communication
complexity of correlation", CCC; continuous form as in Flamich & Theis 2023, "Adaptive greedy
rejection sampling").

Candidates ``X_1, X_2, ...`` come i.i.d. from P (shared randomness). Step ``i`` accepts ``X_i``
with probability ``(min(r, L_i) - min(r, L_{i-1})) / (L_i - L_{i-1})`` at ``r = dQ/dP(X_i)``, where
the levels ``L_0 = 0``, ``L_{i+1} = L_i + E_P[(r(X) - L_i)^+]`` are the "greedy" staircase: after
``i`` steps exactly ``min(q, L_i p)`` of the target mass has been placed. The accepted candidate
follows Q **exactly**, and the number of proposals has mean ``sup r = 2^D_inf`` (the levels climb
to ``sup r``, and ``P[N > i] = L_{i+1} - L_i``). The index is sent; acceptance uniforms come from
the shared ``ACCEPT`` stream.

The staircase needs ``E_P[(r - L)^+]`` at every level. It is closed-form for categorical pairs,
a univariate Normal against a wider Normal, and Uniform against Uniform: there GRS is exact to
double precision (a step whose level increment underflows accepts unconditionally; reaching it has
probability of order 1e-16). For any other **univariate continuous** pair it is computed by
Gauss-Legendre quadrature over the target's quantile range ``[F^-1(1e-13), F^-1(1 - 1e-13)]`` (the
target needs a ``ppf`` or a finite ``support``), and GRS is exact up to that quadrature error
(about 1e-9 in the level increments). Levels depend only on the pair, so each coder caches the
staircases of its most recent pairs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from scipy import special

import rcc_kernels
from rcc.bounds import LN2, gaussian_dinf_bits
from rcc.coders.batch import BatchStats
from rcc.coders.normal_batch import CandidateBatchCoder, grs_normal_batch, normal_pairs
from rcc.coders.race import (
    PairCache,
    block_sizes,
    candidate_log_ratios,
    check_dinf,
    check_pair,
    decode_candidate,
    finish,
)
from rcc.codes import EliasGammaCode, IndexCode
from rcc.core import Message, Proposal, Stats, Target
from rcc.distributions import Categorical, Normal, Uniform
from rcc.randomness import Domain, key_for

__all__ = ["GreedyRejectionSampling", "Staircase", "ratio_excess"]

Excess = Callable[[float], float]
FIRST_BLOCK = 16


def _categorical_excess(q: Categorical, p: Categorical) -> Excess:
    support = p.probs > 0
    ratio = q.probs[support] / p.probs[support]
    order = np.argsort(ratio)
    r, pk = ratio[order], p.probs[support][order]
    # Tail sums over the symbols with r > L: Q-mass and P-mass, summed from the top down.
    q_tail = np.concatenate((np.cumsum((r * pk)[::-1])[::-1], [0.0]))
    p_tail = np.concatenate((np.cumsum(pk[::-1])[::-1], [0.0]))

    def excess(level: float) -> float:
        j = int(np.searchsorted(r, level, side="right"))
        return max(0.0, float(q_tail[j] - level * p_tail[j]))

    return excess


def _normal_excess(q: Normal, p: Normal) -> Excess:
    m_q, s_q, m_p, s_p = (float(v) for v in (q.loc, q.scale, p.loc, p.scale))
    if s_q == s_p:  # bounded only when the laws coincide: r = 1
        return lambda level: max(0.0, 1.0 - level)
    # log r(x) = log_r_max - a (x - x0)^2, so {r > L} is an interval around x0.
    a = 0.5 * (1 / s_q**2 - 1 / s_p**2)
    x0 = (m_q / s_q**2 - m_p / s_p**2) / (2 * a)
    log_r_max = gaussian_dinf_bits(m_q, s_q, m_p, s_p) * LN2

    def excess(level: float) -> float:
        if level <= 0:
            return 1.0 - level
        gap = log_r_max - math.log(level)
        if gap <= 0:
            return 0.0
        half = math.sqrt(gap / a)
        lo, hi = x0 - half, x0 + half
        q_in = special.ndtr((hi - m_q) / s_q) - special.ndtr((lo - m_q) / s_q)
        p_in = special.ndtr((hi - m_p) / s_p) - special.ndtr((lo - m_p) / s_p)
        return max(0.0, float(q_in - level * p_in))

    return excess


def _uniform_excess(q: Uniform, p: Uniform) -> Excess:
    r_max = p.width / q.width  # r = r_max on Q's support, 0 elsewhere; P(r > 0) = 1 / r_max
    return lambda level: max(0.0, (r_max - max(level, 0.0)) / r_max)


QUADRATURE_PANELS = 4096
QUADRATURE_TAIL = 1e-13


def target_range(target: Target, tail: float) -> tuple[float, float]:
    """Where a univariate target lives: its ``[F^-1(tail), F^-1(1 - tail)]`` when it has a ppf,
    else its support (possibly infinite)."""
    ppf = getattr(target, "ppf", None)
    if ppf is not None:
        lo, hi = (float(v) for v in ppf(np.array([tail, 1 - tail])))
        return lo, hi
    return target.support() if hasattr(target, "support") else (-math.inf, math.inf)


def _quadrature_excess(target: Target, proposal: Proposal) -> Excess:
    """E_P[(r - L)^+] = integral of (q - L p)^+ over the target's quantile range, by 8-point
    Gauss-Legendre on equal panels; q and p are evaluated once, each level costs one dot product."""
    lo, hi = target_range(target, QUADRATURE_TAIL)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise TypeError("greedy rejection sampling of a general univariate target needs its ppf "
                        f"or a finite support, which {type(target).__name__} does not give")
    nodes, weights = np.polynomial.legendre.leggauss(8)
    edges = np.linspace(lo, hi, QUADRATURE_PANELS + 1)
    half = 0.5 * np.diff(edges)[:, None]
    x = (edges[:-1, None] + half * (nodes + 1)).ravel()
    w = (half * weights).ravel()
    q = np.exp(target.log_prob(x))
    p = np.exp(proposal.log_prob(x))

    def excess(level: float) -> float:
        return float(np.dot(w, np.maximum(q - level * p, 0.0)))

    return excess


def ratio_excess(target: Target, proposal: Proposal) -> Excess:
    """``L -> E_P[(dQ/dP - L)^+]``: closed form where one exists, quadrature for other univariate
    continuous pairs; TypeError for anything else."""
    if isinstance(target, Categorical) and isinstance(proposal, Categorical):
        return _categorical_excess(target, proposal)
    if isinstance(target, Normal) and isinstance(proposal, Normal) and target.event_shape == ():
        return _normal_excess(target, proposal)
    if isinstance(target, Uniform) and isinstance(proposal, Uniform):
        return _uniform_excess(target, proposal)
    if tuple(target.event_shape) == () and not isinstance(target, Categorical):
        return _quadrature_excess(target, proposal)
    raise TypeError("greedy rejection sampling supports categorical and univariate continuous "
                    f"pairs, not {type(target).__name__} against {type(proposal).__name__} "
                    f"with event shape {tuple(target.event_shape)}")


class Staircase:
    """The levels ``L_0 = 0 < L_1 < ...`` of one pair, computed once and extended on demand."""

    def __init__(self, excess: Excess) -> None:
        self._excess = excess
        self._levels = [0.0]

    def levels(self, k0: int, k1: int) -> np.ndarray:
        """``L_k0 .. L_k1`` (k1 - k0 + 1 values): candidate k is step k + 1, between L_k, L_k+1."""
        while len(self._levels) <= k1:
            last = self._levels[-1]
            self._levels.append(last + self._excess(last))
        return np.asarray(self._levels[k0:k1 + 1])



@dataclass(frozen=True)
class GreedyRejectionSampling(CandidateBatchCoder):
    """GRS coder (exact). ``code`` defaults to Elias gamma; ``max_dinf_bits`` refuses pairs that
    would need more than ``2^max_dinf_bits`` proposals on average."""

    code: IndexCode | None = None
    max_dinf_bits: float = 20.0
    exact: ClassVar[bool] = True
    _staircases: PairCache = field(
        default_factory=lambda: PairCache(lambda q, p: Staircase(ratio_excess(q, p))),
        init=False, repr=False, compare=False)

    @property
    def index_code(self) -> IndexCode:
        return self.code if self.code is not None else EliasGammaCode()

    def staircase(self, target: Target, proposal: Proposal) -> Staircase:
        """The pair's staircase, from this coder's cache of its most recent pairs."""
        return self._staircases(target, proposal)

    def encode(self, target: Target, proposal: Proposal, seed: int,
               stream: tuple[int, ...] = ()) -> tuple[Message, Stats]:
        check_dinf(check_pair(target, proposal), "greedy rejection sampling", self.max_dinf_bits)
        staircase = self.staircase(target, proposal)
        cand_key = key_for(seed, Domain.CANDIDATES, stream)
        accept_key = key_for(seed, Domain.ACCEPT, stream)
        # Most samples are accepted within a few steps, so start with a small block.
        block, largest = FIRST_BLOCK, block_sizes(tuple(proposal.event_shape))[1]
        k0 = 0
        while True:
            k1 = k0 + block
            levels = staircase.levels(k0, k1)
            lower, upper = levels[:-1], levels[1:]
            lr = candidate_log_ratios(target, proposal, cand_key, k0, k1)
            r = np.exp(lr)
            width = upper - lower
            with np.errstate(invalid="ignore", divide="ignore"):
                accept_prob = np.where(width > 0, (np.minimum(r, upper) - np.minimum(r, lower))
                                       / width, 1.0)
            u = rcc_kernels.uniform(accept_key, k0, k1, 1)[:, 0]
            hits = np.flatnonzero(u < accept_prob)
            if hits.size:
                j = int(hits[0])
                return finish(self.index_code, k0 + j, k0 + j + 1, float(lr[j]))
            k0, block = k1, min(2 * block, largest)

    def _encode_fast(self, targets: object, proposal: Proposal, seeds: np.ndarray,
                     paths: np.ndarray) -> tuple[list[Message], BatchStats] | None:
        pairs = normal_pairs(targets, proposal)
        return None if pairs is None else grs_normal_batch(self.index_code, pairs,
                                                           self.max_dinf_bits, seeds, paths)

    def decode(self, message: Message, proposal: Proposal, seed: int,
               stream: tuple[int, ...] = ()) -> np.ndarray:
        return decode_candidate(self.index_code, message, proposal, seed, stream, None)
