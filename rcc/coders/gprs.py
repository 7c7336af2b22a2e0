"""Greedy Poisson rejection sampling (Flamich 2023, "Greedy Poisson rejection sampling", NeurIPS).

GPRS runs through the points ``(T_1, X_1), (T_2, X_2), ...`` of a unit-rate Poisson process with
base measure P (``T`` increasing) and accepts the first point that lies under the graph of
``sigma(r(x))``, ``r = dQ/dP``, where the *stretch function* is

    sigma(h) = integral_0^h d eta / (w_Q(eta) - eta w_P(eta)),   w_D(eta) = D[r(X) >= eta].

The accepted location follows Q **exactly**. The denominator is ``E_P[(r - eta)^+]``, the same
excess that climbs greedy rejection sampling's staircase (:func:`rcc.coders.grs.ratio_excess`):
GPRS is GRS in continuous time. What is closed form and what is numerical:

* Uniform pairs: ``sigma(h) = -r_max log(1 - h / r_max)``, closed form.
* Categorical pairs: the excess is piecewise linear in eta, so sigma is a sum of logarithms,
  closed form.
* Univariate Normal Q = N(m_q, s_q^2) against a wider Normal P: ``log r = log r_max - a (x -
  x0)^2``, so ``{r >= eta}`` is the interval ``x0 +- sqrt(u / a)`` with ``u = log(r_max / eta)``,
  and ``w_Q``, ``w_P`` and the excess are closed form in the normal CDF. ``sigma`` itself is not
  known in closed form: ``1 / (w_Q - eta w_P)`` of such CDF differences has no known
  antiderivative in elementary or standard special functions, and neither has the inverse
  ``phi = sigma^-1`` (time to level), which solves ``phi' = w_Q(phi) - phi w_P(phi)``. So sigma
  is the integral of that closed-form integrand by Gauss-Legendre quadrature (the table below),
  with the integrand written without cancellation (normal masses from the tail where both CDFs
  are small, so a mode far in P's tail costs nothing): the CDF form ``Q(I) - eta P(I)`` loses all
  its digits near the top (at ``u = 1e-10`` its relative error is about 0.3), so for ``u <= 1/16``
  the excess is evaluated as ``eta * integral over I of p(x) expm1(u - a (x - x0)^2) dx``, a
  positive integrand, by 32-point Gauss-Legendre (relative error about 1e-14 up to the table's
  top, tested against 60-digit arithmetic). See :func:`_normal_stretch_density`.
* Every other univariate pair: the excess by quadrature (as in GRS, about 1e-9), then the same
  table.

The table: sigma is tabulated once per pair by 8-point Gauss-Legendre in ``v = -log2(1 - eta /
r_max)`` (where the integrand is smooth; about 1e-14 relative error for a closed-form integrand),
and each accept/reject decision that falls between two table nodes is settled by integrating from
the lower node to the point's own level. Ratios within ``2^-40`` of ``r_max``, where ``sigma`` is
above every table node, are accepted. The decision ``T <= sigma(r)`` compares two continuous
quantities, like the scores of PFR: an ulp of difference in a transcendental function can flip it
only when ``T`` lies within an ulp of ``sigma(r)``.

* :class:`GreedyPoissonRejectionSampling` -- global GPRS: the points are the i.i.d. candidates of
  P with Poisson arrival times; the index of the accepted candidate is sent. ``E[#proposals] =
  2^D_inf``; the paper bounds the index's codelength by ``D_KL + O(log D_KL)`` bits, and
  ``E[log2 K]`` is printed beside Li & El Gamal's ``D_KL + log2(e)/e + 1`` by the benchmarks.
* :class:`BranchAndBoundGPRS` -- for one-dimensional pairs with a unimodal ratio: after
  rejecting a point left of the mode no later point to its left can be accepted (``r`` and
  ``sigma`` increase towards the mode), so the search continues on the interval to its right,
  and vice versa. The search is a single path down the tree of :mod:`rcc.coders.intervals`
  (sample splitting), whose expected length is linear in D_inf (the leading term is
  ``D_inf / log2(4/3)``: on average each step keeps at most 3/4 of the interval's P-mass). The
  heap index of the accepted node is sent (Elias delta by default).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from scipy import special

from rcc.coders.batch import BatchCoder
from rcc.coders.grs import Excess, ratio_excess
from rcc.coders.intervals import (
    child,
    decode_heap,
    node_exponential,
    position,
    unimodal_ratio,
)
from rcc.coders.normal_batch import CandidateBatchCoder
from rcc.coders.race import (
    PairCache,
    arrival_times,
    candidate_log_ratios,
    check_dinf,
    check_pair,
    decode_candidate,
    finish,
)
from rcc.codes import EliasDeltaCode, IndexCode
from rcc.core import Message, Proposal, Stats, Target
from rcc.distributions import Categorical, Normal, Uniform
from rcc.randomness import Domain, key_for

__all__ = ["BranchAndBoundGPRS", "GreedyPoissonRejectionSampling", "StretchFunction"]

NODES_PER_BIT = 8
GRADED_PANELS = 40
TOP_BITS = 40
"""Levels above ``r_max (1 - 2^-TOP_BITS)`` are accepted outright (sigma is astronomically large)."""
FIRST_BLOCK = 16
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(8)


ClosedForm = Callable[[np.ndarray], np.ndarray]
"""``gap -> sigma(r_max e^gap)`` for gaps ``log r - log r_max <= 0``."""
Density = Callable[[np.ndarray], np.ndarray]
"""``v -> d sigma / d v`` at levels ``eta = r_max (1 - 2^-v)``."""


def _table_level(gap: np.ndarray) -> np.ndarray:
    """``v = -log2(1 - e^gap)`` to full relative precision (+inf at the top, 0 where r = 0): from
    ``log1p`` of the exponential below the middle, where ``1 - e^gap`` would round."""
    with np.errstate(divide="ignore", over="ignore"):
        return np.where(gap < -1, -np.log1p(-np.exp(gap)), -np.log(-np.expm1(gap))) / math.log(2)


def _table_gap(v: np.ndarray) -> np.ndarray:
    """``u = -log(1 - 2^-v)`` (the gap below the top, nats) to full relative precision."""
    with np.errstate(divide="ignore"):
        return np.where(v >= 1, -np.log1p(-np.exp2(-v)), -np.log(-np.expm1(-v * math.log(2))))


class StretchFunction:
    """``sigma`` of one pair, with exact accept/reject decisions ``T <= sigma(r)``.

    ``excess``: ``eta -> E_P[(r - eta)^+]``; ``log_r_max``: D_inf in nats; ``closed_form``: sigma
    as a function of the gap ``log r - log r_max``, where one is known (else it is tabulated);
    ``density``: the integrand ``d sigma / d v`` of the table, where the pair gives a better one
    than ``(d eta / d v) / excess(eta)``.
    """

    def __init__(self, excess: Excess, log_r_max: float, closed_form: ClosedForm | None = None,
                 density: Density | None = None) -> None:
        self._excess = excess
        self.log_r_max = log_r_max
        self.r_max = math.exp(log_r_max)
        self._closed_form = closed_form
        self._density = density if density is not None else self._density_from_excess
        if closed_form is None:
            # Geometric panels towards v = 0, where the excess is smooth but not analytic (its
            # correction term behaves like eta^(1 + k)), then equal panels up to the top.
            first = 1.0 / NODES_PER_BIT
            self._v = np.concatenate(([0.0], first * np.exp2(-np.arange(GRADED_PANELS, 0, -1)),
                                      np.arange(1, TOP_BITS * NODES_PER_BIT + 1) * first))
            half = 0.5 * np.diff(self._v)[:, None]
            nodes = self._v[:-1, None] + half * (_GL_NODES + 1)  # all panels' nodes in one call
            panels = (half * self._density(nodes.ravel()).reshape(nodes.shape)) @ _GL_WEIGHTS
            self._sigma = np.concatenate(([0.0], np.cumsum(panels)))

    def _density_from_excess(self, v: np.ndarray) -> np.ndarray:
        deta_dv = self.r_max * math.log(2) * np.exp2(-v)
        excess = np.array([self._excess(self.r_max * -math.expm1(-t * math.log(2))) for t in v])
        with np.errstate(divide="ignore"):  # the excess underflows to 0 only at the very top
            return deta_dv / excess

    def _integral(self, v0: float, v1: float) -> float:
        """sigma(eta(v1)) - sigma(eta(v0)) with ``eta(v) = r_max (1 - 2^-v)``, by Gauss-Legendre."""
        half = 0.5 * (v1 - v0)
        return float(half * np.dot(_GL_WEIGHTS, self._density(v0 + half * (_GL_NODES + 1))))

    def __call__(self, log_ratios: np.ndarray) -> np.ndarray:
        """``sigma(r)`` at log-ratios ``log r`` (nats); inf within ``2^-TOP_BITS`` of the top."""
        gap = np.minimum(np.asarray(log_ratios, dtype=np.float64) - self.log_r_max, 0.0)
        v = _table_level(gap)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self._closed_form is not None:
                return np.where(v >= TOP_BITS, np.inf, self._closed_form(gap))
        j = np.minimum(np.searchsorted(self._v, v, side="right") - 1, self._v.size - 2)
        out = np.full(v.shape, np.inf)
        for i in np.flatnonzero(v < TOP_BITS):
            out[i] = self._sigma[j[i]] + self._integral(float(self._v[j[i]]), float(v[i]))
        return out

    def accepts(self, arrivals: np.ndarray, log_ratios: np.ndarray) -> np.ndarray:
        """``T <= sigma(r)`` for each point (arrival ``T``, ``log r`` in nats)."""
        t = np.asarray(arrivals, dtype=np.float64)
        gap = np.minimum(np.asarray(log_ratios, dtype=np.float64) - self.log_r_max, 0.0)
        v = _table_level(gap)
        top = v >= TOP_BITS
        if self._closed_form is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                return top | (t <= self._closed_form(gap))
        j = np.minimum(np.searchsorted(self._v, v, side="right") - 1, self._v.size - 2)
        lower, upper = self._sigma[j], self._sigma[j + 1]
        out = top | (t <= lower)
        for i in np.flatnonzero(~out & (t <= upper)):  # between two nodes: integrate to the point
            out[i] = t[i] <= lower[i] + self._integral(float(self._v[j[i]]), float(v[i]))
        return out


def _uniform_sigma(r_max: float) -> ClosedForm:
    """r is 0 or r_max, the excess ``1 - eta / r_max``: ``sigma(h) = -r_max log(1 - h / r_max)``."""
    return lambda gap: -r_max * np.log(-np.expm1(gap))


def _categorical_sigma(q: Categorical, p: Categorical, log_r_max: float) -> ClosedForm:
    """Between consecutive ratio values the excess is linear, ``A_j - B_j eta`` (the Q- and P-mass
    of the symbols with ``r > eta``), so sigma is a sum of logarithms."""
    support = p.probs > 0
    r = np.sort(q.probs[support] / p.probs[support])
    pk = p.probs[support][np.argsort(q.probs[support] / p.probs[support])]
    a = np.cumsum((r * pk)[::-1])[::-1]  # Q-mass of the symbols from j up
    b = np.cumsum(pk[::-1])[::-1]
    starts = np.concatenate(([0.0], r[:-1]))  # piece j covers levels [starts[j], r[j])
    with np.errstate(divide="ignore"):
        pieces = np.log((a - b * starts) / np.maximum(a - b * r, 0.0)) / b
    knots = np.concatenate(([0.0], np.cumsum(pieces)))  # sigma(starts[j])
    r_max = math.exp(log_r_max)

    def sigma(gap: np.ndarray) -> np.ndarray:
        h = r_max * np.exp(gap)
        j = np.minimum(np.searchsorted(r, h, side="right"), r.size - 1)
        return knots[j] + np.log((a[j] - b[j] * starts[j]) / (a[j] - b[j] * h)) / b[j]

    return sigma


NORMAL_SWITCH_NATS = 1 / 16
"""Gaps ``u = log(r_max / eta)`` at or below which the Normal excess is integrated (no
cancellation) rather than taken from normal CDFs (which lose about ``1e-16 / u^1.5`` relatively)."""
_GL32_NODES, _GL32_WEIGHTS = np.polynomial.legendre.leggauss(32)


def _interval_mass(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``Phi(hi) - Phi(lo)`` from the tail where both CDFs are small (no 1 - 1 cancellation)."""
    upper = lo > 0
    return np.where(upper, special.ndtr(-lo) - special.ndtr(-hi), special.ndtr(hi) - special.ndtr(lo))


def _normal_stretch_density(q: Normal, p: Normal, log_r_max: float) -> Density:
    """``d sigma / d v`` of a univariate Normal pair with ``s_q < s_p``, from closed forms.

    With ``u = log(r_max / eta) = -log(1 - 2^-v)`` and ``J = excess / eta``, ``d sigma / d v =
    log(2) / (expm1(v log 2) J(u))``. ``J`` is ``e^u Q(I) / r_max - P(I)`` over ``I = x0 +-
    sqrt(u / a)`` above :data:`NORMAL_SWITCH_NATS` and ``integral over I of p(x) expm1(u - a (x -
    x0)^2) dx`` (32-point Gauss-Legendre, positive terms) at and below it. The switch comes down
    for pairs whose P-density varies by more than a factor of about e^4 across ``I`` there (a mode
    ``x0`` far in P's tail), so that the 32 points stay exact.
    """
    m_q, s_q, m_p, s_p = (float(v) for v in (q.loc, q.scale, p.loc, p.scale))
    a = 0.5 * (1 / s_q**2 - 1 / s_p**2)
    x0 = (m_q / s_q**2 - m_p / s_p**2) / (2 * a)
    r_max = math.exp(log_r_max)
    width = min(4 * s_p**2 / abs(x0 - m_p) if x0 != m_p else math.inf, 2 * s_p)
    switch = min(NORMAL_SWITCH_NATS, a * width**2)
    norm = 1 / (s_p * math.sqrt(2 * math.pi))

    def j_of(u: np.ndarray) -> np.ndarray:
        out = np.empty(u.shape)
        near = u <= switch
        half = np.sqrt(u[~near] / a)
        lo, hi = x0 - half, x0 + half
        with np.errstate(over="ignore", invalid="ignore"):
            out[~near] = (np.exp(u[~near]) / r_max * _interval_mass((lo - m_q) / s_q, (hi - m_q) / s_q)
                          - _interval_mass((lo - m_p) / s_p, (hi - m_p) / s_p))
        half = np.sqrt(u[near] / a)
        x = x0 + half[:, None] * _GL32_NODES
        terms = (norm * np.exp(-0.5 * ((x - m_p) / s_p) ** 2)
                 * np.expm1(u[near, None] * (1 - _GL32_NODES**2)))
        out[near] = half * (terms @ _GL32_WEIGHTS)
        return out

    def density(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=np.float64)
        u = _table_gap(v)
        with np.errstate(divide="ignore"):
            return math.log(2) / (np.expm1(v * math.log(2)) * np.maximum(j_of(u), 0.0))

    return density


def stretch_function(target: Target, proposal: Proposal) -> StretchFunction:
    """The pair's stretch function (D_inf must be finite): closed-form for Uniform and categorical
    pairs; tabulated from a closed-form integrand for univariate Normal pairs and from the excess
    otherwise (see the module docstring)."""
    try:
        excess = ratio_excess(target, proposal)
    except TypeError as err:
        raise TypeError("greedy Poisson rejection sampling needs a categorical or univariate "
                        "continuous pair (its stretch function integrates E_P[(r - eta)^+]); use "
                        "exact PFR or global A* coding for this pair") from err
    log_r_max = target.divergences(proposal).dinf_bits * math.log(2)
    closed_form = None
    if isinstance(target, Uniform) and isinstance(proposal, Uniform):
        closed_form = _uniform_sigma(math.exp(log_r_max))
    elif isinstance(target, Categorical) and isinstance(proposal, Categorical):
        closed_form = _categorical_sigma(target, proposal, log_r_max)
    elif (isinstance(target, Normal) and isinstance(proposal, Normal) and target.event_shape == ()
          and float(target.scale) < float(proposal.scale)):
        return StretchFunction(excess, log_r_max,
                               density=_normal_stretch_density(target, proposal, log_r_max))
    return StretchFunction(excess, log_r_max, closed_form)


def _stretch_cache() -> PairCache:
    return PairCache(stretch_function)


@dataclass(frozen=True)
class _StretchCoder:
    """What both GPRS variants share: the index code (default Elias delta) and the per-pair cache
    of stretch functions."""

    code: IndexCode | None = None
    _stretches: PairCache = field(default_factory=_stretch_cache, init=False, repr=False,
                                  compare=False)

    @property
    def index_code(self) -> IndexCode:
        return self.code if self.code is not None else EliasDeltaCode()

    def stretch(self, target: Target, proposal: Proposal) -> StretchFunction:
        return self._stretches(target, proposal)


@dataclass(frozen=True)
class GreedyPoissonRejectionSampling(_StretchCoder, CandidateBatchCoder):
    """Global GPRS (exact). ``code`` defaults to Elias delta; ``max_dinf_bits`` refuses pairs that
    would need more than ``2^max_dinf_bits`` proposals on average."""

    max_dinf_bits: float = 20.0
    exact: ClassVar[bool] = True

    def encode(self, target: Target, proposal: Proposal, seed: int,
               stream: tuple[int, ...] = ()) -> tuple[Message, Stats]:
        check_dinf(check_pair(target, proposal), "greedy Poisson rejection sampling",
                   self.max_dinf_bits)
        stretch = self.stretch(target, proposal)
        cand_key = key_for(seed, Domain.CANDIDATES, stream)
        arr_key = key_for(seed, Domain.ARRIVALS, stream)
        k0, block, carry = 0, FIRST_BLOCK, 0.0
        while True:
            k1 = k0 + block
            arrivals = arrival_times("pfr", arr_key, k0, k1, carry, None)
            lr = candidate_log_ratios(target, proposal, cand_key, k0, k1)
            hits = np.flatnonzero(stretch.accepts(arrivals, lr))
            if hits.size:
                j = int(hits[0])
                return finish(self.index_code, k0 + j, k0 + j + 1, float(lr[j]))
            k0, block, carry = k1, min(2 * block, 1 << 16), float(arrivals[-1])

    def decode(self, message: Message, proposal: Proposal, seed: int,
               stream: tuple[int, ...] = ()) -> np.ndarray:
        return decode_candidate(self.index_code, message, proposal, seed, stream, None)


@dataclass(frozen=True)
class BranchAndBoundGPRS(_StretchCoder, BatchCoder):
    """Branch-and-bound GPRS (exact) for univariate pairs with a unimodal ratio; ``code`` codes
    the 0-based heap index (default Elias delta)."""

    max_dinf_bits: float = 40.0
    exact: ClassVar[bool] = True

    def encode(self, target: Target, proposal: Proposal, seed: int,
               stream: tuple[int, ...] = ()) -> tuple[Message, Stats]:
        ratio = unimodal_ratio(target, proposal, "branch-and-bound GPRS", self.max_dinf_bits)
        stretch = self.stretch(target, proposal)
        cand_key = key_for(seed, Domain.CANDIDATES, stream)
        arr_key = key_for(seed, Domain.ARRIVALS, stream)
        node, a, b, arrival, steps = 1, 0.0, 1.0, 0.0, 1
        while True:
            arrival += node_exponential(arr_key, node) / (b - a)
            u = position(cand_key, node, a, b)
            lr = ratio.log_ratio(u)
            if stretch.accepts(np.array([arrival]), np.array([lr]))[0]:
                return finish(self.index_code, node - 1, steps, lr)
            # Rejected left of the mode: nothing left of u can be accepted later (and vice versa).
            node, a, b = child(node, a, b, u, "sample", right=ratio.left_of_mode(u))
            if not b > a:
                raise ValueError("branch-and-bound GPRS narrowed the interval below float "
                                 "resolution; use GreedyPoissonRejectionSampling for this pair")
            steps += 1

    def decode(self, message: Message, proposal: Proposal, seed: int,
               stream: tuple[int, ...] = ()) -> np.ndarray:
        return decode_heap(self.index_code, message, proposal, seed, stream, "sample")
