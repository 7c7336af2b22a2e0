"""The Zipf law ``P(k) ∝ (k + 1)^-λ``: Li & El Gamal (2018)'s parameter and its masses.

:func:`zipf_alpha` is ``α = D + log2(e)/e + 1`` (with ``λ = 1 + 1/α``), under which the Poisson
functional representation's index costs at most ``D + log2(D + 1) + 4`` bits on average.
:func:`zipf_mass` sums the law over a range of values: short ranges and the first terms exactly,
the rest by the midpoint rule (relative error below ``λ^2 / (24 lo^2)``), with :mod:`rcc.portable`
functions only, so that the range coders' tables built from it are the same bits on every CPU
(``docs/determinism.md``).
"""

from __future__ import annotations

import math

import numpy as np

from rcc import portable
from rcc.bounds import LOG2E_OVER_E
from rcc.core import real_scalar

__all__ = ["DIRECT_SUM", "power_sum", "zipf_alpha", "zipf_mass"]


def zipf_alpha(kl_bits: float) -> float:
    """Li & El Gamal's Zipf parameter ``α = D + log2(e)/e + 1`` for a KL of ``kl_bits``."""
    kl = real_scalar(kl_bits, "kl_bits")
    if not math.isfinite(kl) or kl < 0:
        raise ValueError(f"kl_bits must be finite and non-negative, got {kl_bits}")
    return kl + LOG2E_OVER_E + 1


DIRECT_SUM = 256  # ranges this short are summed term by term


def power_sum(lam: float, lo: int, hi: int) -> float:
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


def zipf_mass(lam: float, lo: int, hi: int) -> float:
    """sum_{m=lo}^{hi-1} m^-lam for 1 <= lo < hi (hi may be 2**MAX_INDEX_BITS + 1 meaning ~inf).

    Terms below ``DIRECT_SUM`` (and short ranges) are summed exactly, the rest by the midpoint
    rule. Only :mod:`rcc.portable` functions and :func:`math.fsum` are used, so the value, and the
    range coder's tables built from it, are the same bits on every CPU (``docs/determinism.md``).
    """
    if hi - lo <= DIRECT_SUM:
        return power_sum(lam, lo, hi)
    if lo >= DIRECT_SUM:
        return _midpoint_mass(lam, lo, hi)
    return power_sum(lam, lo, DIRECT_SUM) + _midpoint_mass(lam, DIRECT_SUM, hi)
