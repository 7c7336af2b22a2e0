"""Hypothesis strategies for property tests of channel simulators: target/proposal pairs with a
bounded KL, a bounded or an unbounded D_inf, univariate Gaussian and categorical, and seeds.

>>> from hypothesis import given
>>> from rcc.testing import strategies as rst
>>> @given(pair=rst.gaussian_pairs(max_kl_bits=3.0, max_dinf_bits=5.0), seed=rst.seeds())
... def test_my_coder(pair, seed): ...                                          # doctest: +SKIP

Every pair is built so that its divergences meet the bounds by construction (no rejection
sampling of examples): a drawn offset and scale ratio are pulled towards the proposal until they
do, which keeps shrinking well behaved. Bounds are in bits; ``max_dinf_bits=None`` asks for pairs
whose ratio ``dQ/dP`` is unbounded (a target at least as wide as its proposal, with a different
mean or width), which exact coders must refuse and truncated coders must handle.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from rcc.distributions import Categorical, Normal

__all__ = ["categorical_pairs", "gaussian_pairs", "pairs", "seeds"]

MAX_SEED = 2**63
"""Largest seed drawn: leaves room for the ``seed + i`` of :func:`rcc.testing.run_coder`."""


def seeds() -> st.SearchStrategy[int]:
    """Seeds for the shared randomness."""
    return st.integers(0, MAX_SEED)


def _within(kl: float, dinf: float, max_kl_bits: float, max_dinf_bits: float | None) -> bool:
    if kl > max_kl_bits:
        return False
    return math.isinf(dinf) if max_dinf_bits is None else dinf <= max_dinf_bits


def _check_bounds(max_kl_bits: float, max_dinf_bits: float | None) -> None:
    if not max_kl_bits > 0:
        raise ValueError(f"max_kl_bits must be positive, got {max_kl_bits}")
    if max_dinf_bits is not None and not max_dinf_bits > 0:
        raise ValueError(f"max_dinf_bits must be positive or None, got {max_dinf_bits}")


@st.composite
def gaussian_pairs(draw: st.DrawFn, max_kl_bits: float = 8.0,
                   max_dinf_bits: float | None = 8.0) -> tuple[Normal, Normal]:
    """``(Q, P)``: univariate Normals with ``D_KL <= max_kl_bits`` and ``D_inf <= max_dinf_bits``
    (a target narrower than its proposal), or ``D_inf = inf`` when ``max_dinf_bits`` is None."""
    _check_bounds(max_kl_bits, max_dinf_bits)
    s_p = draw(st.floats(0.5, 2.0))
    m_p = draw(st.floats(-1.0, 1.0))
    bounded = max_dinf_bits is not None
    log_ratio = draw(st.floats(math.log(0.05), math.log(0.95)) if bounded
                     else st.floats(0.0, math.log(1.5)))
    offset = draw(st.floats(-2.0, 2.0))
    if not bounded and offset == 0.0:
        offset = 0.5  # different means keep the ratio unbounded however close the widths get
    for _ in range(200):
        q, p = Normal(m_p + offset * s_p, s_p * math.exp(log_ratio)), Normal(m_p, s_p)
        div = q.divergences(p)
        if _within(div.kl_bits, div.dinf_bits, max_kl_bits, max_dinf_bits):
            return q, p
        # Pull the target towards the proposal: both divergences fall. An unbounded pair keeps
        # a width ratio or a mean offset that double precision still tells apart from P's.
        offset = 0.7 * offset if bounded else math.copysign(max(0.7 * abs(offset), 1e-3), offset)
        log_ratio = 0.7 * log_ratio if bounded or log_ratio == 0 else max(0.7 * log_ratio, 1e-6)
    raise AssertionError("unreachable: the pair converges to the proposal")  # pragma: no cover


@st.composite
def categorical_pairs(draw: st.DrawFn, max_kl_bits: float = 8.0,
                      max_dinf_bits: float | None = 8.0, min_size: int = 2,
                      max_size: int = 16) -> tuple[Categorical, Categorical]:
    """``(Q, P)`` on ``min_size .. max_size`` symbols within the bounds. Categorical ratios are
    always bounded (P charges every symbol); ``max_dinf_bits=None`` only lifts the bound."""
    _check_bounds(max_kl_bits, max_dinf_bits)
    size = draw(st.integers(min_size, max_size))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    p = rng.dirichlet(np.full(size, draw(st.floats(0.5, 8.0))))
    p = np.maximum(p, 1e-6)
    p /= p.sum()
    q = rng.dirichlet(np.full(size, draw(st.floats(0.1, 2.0))))
    limit = math.inf if max_dinf_bits is None else max_dinf_bits
    for _ in range(200):
        div = Categorical(q).divergences(Categorical(p))
        if div.kl_bits <= max_kl_bits and div.dinf_bits <= limit:
            return Categorical(q), Categorical(p)
        q = 0.5 * (q + p)  # mixing with P lowers both divergences (convexity)
    raise AssertionError("unreachable: the mixture converges to the proposal")  # pragma: no cover


def pairs(max_kl_bits: float = 8.0,
          max_dinf_bits: float | None = 8.0) -> st.SearchStrategy[tuple[object, object]]:
    """Gaussian or categorical pairs within the bounds (categorical only when D_inf is bounded)."""
    gaussian = gaussian_pairs(max_kl_bits, max_dinf_bits)
    if max_dinf_bits is None:
        return gaussian
    return st.one_of(gaussian, categorical_pairs(max_kl_bits, max_dinf_bits))
