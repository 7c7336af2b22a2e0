"""What the branch-and-bound coders share: one-dimensional pairs with a unimodal density ratio, and
the binary tree of intervals they search (branch-and-bound A* coding, Flamich, Markou &
Hernandez-Lobato 2022; branch-and-bound GPRS, Flamich 2023).

Positions are quantiles of the proposal, ``u = F_P(x)`` in (0, 1): P restricted to an interval
``(a, b)`` of quantiles is uniform there, with mass ``b - a``, so a point of the Poisson process
with base measure P restricted to ``(a, b)`` sits at ``a + (b - a) U`` and arrives after an
``Exp(1) / (b - a)`` wait. Samples are ``x = F_P^-1(u)``, so the proposal needs ``cdf`` and ``ppf``.

Nodes are numbered as in a binary heap: the root is 1, the children of ``h`` are ``2h`` (left)
and ``2h + 1`` (right). Node ``h`` draws its position uniform from candidate ``h`` of the
``CANDIDATES`` stream (shared: the decoder walks the path from the root to ``h`` and rebuilds each
position with the same arithmetic) and its exponential from candidate ``h`` of the ``ARRIVALS``
stream (encoder only). A node splits its interval at its own position (``"sample"``: the AS*
variant) or at the interval's quantile midpoint (``"dyadic"``: AD*).

A ratio ``r = dQ/dP`` is unimodal when it rises to its maximum and then falls: then the supremum of
``r`` over an interval is ``r_max`` if the interval meets the mode, else ``r`` at the endpoint nearer
the mode. The mode is closed-form for a univariate Normal against a wider Normal and for Uniform
against Uniform (a plateau); for other univariate pairs it is located numerically on a grid of
the target's quantile range, and a pair whose log-ratio is not unimodal on that grid is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import optimize

import rcc_kernels
from rcc.bounds import LN2
from rcc.coders.grs import target_range
from rcc.coders.race import check_dinf, check_pair
from rcc.codes import IndexCode
from rcc.core import (
    InvalidTypeError,
    Message,
    Proposal,
    Target,
    check_implements,
    check_message,
    log_ratio,
)
from rcc.distributions import Categorical, Normal, Uniform
from rcc.randomness import Domain, key_for

Split = Literal["sample", "dyadic"]
MAX_DEPTH = 61
"""Deepest node: heap indices stay below 2**62, the index codes' range."""
RESOLUTION_ULPS = 2**16
GRID_POINTS = 4097
GRID_TAIL = 1e-12


def _refusal(coder: str, need: str) -> ValueError:
    return ValueError(f"{coder} needs {need}; use the global variant of the coder (or PFR / GRS) "
                      "for this pair")


def _normal_mode(q: Normal, p: Normal) -> tuple[float, float]:
    m_q, s_q, m_p, s_p = (float(v) for v in (q.loc, q.scale, p.loc, p.scale))
    if s_q == s_p:  # bounded only for equal laws (r = 1): the mode is everywhere
        return -math.inf, math.inf
    x0 = (m_q / s_q**2 - m_p / s_p**2) / (1 / s_q**2 - 1 / s_p**2)
    return x0, x0


def _grid_mode(target: Target, proposal: Proposal, coder: str) -> tuple[float, float]:
    """Mode of a log-ratio that must be unimodal on a grid of the target's quantile range."""
    lo, hi = target_range(target, GRID_TAIL)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise _refusal(coder, "a target with a ppf or a finite support, to find the mode of dQ/dP")
    x = np.linspace(lo, hi, GRID_POINTS)
    lr = log_ratio(target, proposal, x)
    j = int(np.argmax(lr))
    steps = np.diff(lr)
    slack = 1e-9 * (1 + np.abs(lr[1:]))
    with np.errstate(invalid="ignore"):
        if np.any(steps[:j] < -slack[:j]) or np.any(steps[j:] > slack[j:]):
            raise _refusal(coder, "a unimodal density ratio dQ/dP (it rises, then falls), which "
                           "this pair does not have")
    a, b = x[max(j - 1, 0)], x[min(j + 1, x.size - 1)]
    res = optimize.minimize_scalar(lambda v: -float(log_ratio(target, proposal, np.array([v]))[0]),
                                   bounds=(a, b), method="bounded", options={"xatol": 1e-12})
    return float(res.x), float(res.x)


@dataclass(frozen=True)
class UnimodalRatio:
    """``r = dQ/dP`` of a univariate pair as a function of the proposal quantile ``u``.

    ``mode``: the quantile interval where ``r = r_max`` (one point unless ``r`` has a plateau);
    ``log_r_max``: ``D_inf`` in nats.
    """

    target: Target
    proposal: Proposal
    mode: tuple[float, float]
    log_r_max: float

    def log_ratio(self, u: float) -> float:
        """log dQ/dP (nats) at quantile ``u``; ``-inf`` outside Q's support and at 0 and 1."""
        x = self.proposal.ppf(np.array([u]))
        return float(log_ratio(self.target, self.proposal, x)[0])

    def log_sup(self, a: float, b: float) -> float:
        """log of the supremum of ``r`` over the quantile interval ``(a, b)``."""
        if b >= self.mode[0] and a <= self.mode[1]:
            return self.log_r_max
        return self.log_ratio(b if b < self.mode[0] else a)

    def left_of_mode(self, u: float) -> bool:
        return u < self.mode[0]


def unimodal_ratio(target: Target, proposal: Proposal, coder: str,
                   max_dinf_bits: float) -> UnimodalRatio:
    """Check that the pair suits a branch-and-bound coder and locate the mode of its ratio."""
    divergences = check_pair(target, proposal)
    if tuple(target.event_shape) != () or isinstance(target, Categorical):
        raise _refusal(coder, "a one-dimensional continuous target (event shape ())")
    if not (callable(getattr(proposal, "ppf", None)) and callable(getattr(proposal, "cdf", None))):
        raise _refusal(coder, "a proposal with a cdf and a ppf (to restrict it to intervals)")
    dinf_bits = check_dinf(divergences, coder, max_dinf_bits)
    if isinstance(target, Normal) and isinstance(proposal, Normal):
        lo, hi = _normal_mode(target, proposal)
    elif isinstance(target, Uniform) and isinstance(proposal, Uniform):
        lo, hi = target.low, target.high
    else:
        lo, hi = _grid_mode(target, proposal, coder)
    mode = tuple(float(v) for v in proposal.cdf(np.array([lo, hi])))
    # Q lives on quantile intervals of P-mass about 2^-D_inf around the mode: they must span many
    # representable quantiles there, or the tree cannot be refined (and sampling would be coarse).
    if 2.0**-dinf_bits < RESOLUTION_ULPS * np.spacing(max(abs(mode[0]), abs(mode[1]))):
        raise _refusal(coder, "a target that is not too concentrated for double-precision "
                       f"quantiles of the proposal (D_inf = {dinf_bits:.1f} bits at quantile "
                       f"{mode[0]:.3g})")
    return UnimodalRatio(target, proposal, mode, dinf_bits * LN2)


# -- the tree of intervals ----------------------------------------------------------------------


def node_uniform(key: np.ndarray, node: int) -> float:
    return float(rcc_kernels.uniform(key, node, node + 1, 1)[0, 0])


def node_exponential(key: np.ndarray, node: int) -> float:
    return float(rcc_kernels.exponential(key, node, node + 1, 1)[0, 0])


def position(key: np.ndarray, node: int, a: float, b: float) -> float:
    """The node's point in ``(a, b)``; encoder and decoder both compute it here, bit for bit."""
    return a + (b - a) * node_uniform(key, node)


def child(node: int, a: float, b: float, u: float, split: Split,
          right: bool) -> tuple[int, float, float]:
    """The left or right child of ``node`` (interval ``(a, b)``, position ``u``)."""
    if node >= 1 << MAX_DEPTH:
        raise ValueError(f"the search went deeper than {MAX_DEPTH} levels (beyond the 64-bit heap "
                         "index); the pair is too concentrated for a branch-and-bound coder")
    cut = u if split == "sample" else 0.5 * (a + b)
    return (2 * node + 1, cut, b) if right else (2 * node, a, cut)


def position_of(key: np.ndarray, node: int, split: Split) -> float:
    """Quantile of ``node``'s point, rebuilt by walking from the root (what the decoder does)."""
    if node < 1 or node >= 1 << (MAX_DEPTH + 1):
        raise ValueError(f"corrupt message: heap index {node} outside [1, 2**{MAX_DEPTH + 1})")
    current, a, b = 1, 0.0, 1.0
    u = position(key, current, a, b)
    for bit in bin(node)[3:]:  # the path below the root, most significant first
        current, a, b = child(current, a, b, u, split, bit == "1")
        u = position(key, current, a, b)
    return u


def decode_heap(code: IndexCode, message: Message, proposal: Proposal, seed: int,
                stream: tuple[int, ...], split: Split) -> np.ndarray:
    """The sample of the node whose 0-based heap index ``h - 1`` the message carries."""
    check_implements(proposal, "proposal")
    if not callable(getattr(proposal, "ppf", None)):
        raise InvalidTypeError(f"the proposal must have a ppf, got {type(proposal).__name__}")
    (index,) = code.decode(check_message(message).data, 1)
    u = position_of(key_for(seed, Domain.CANDIDATES, stream), index + 1, split)
    return np.asarray(proposal.ppf(np.float64(u)))
