"""Greedy Poisson rejection sampling: the stretch function against direct quadrature, exactness of
the global and branch-and-bound samplers (jointly for a channel), their runtimes, refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from rcc import bounds, testing
from rcc.coders import BranchAndBoundGPRS, GreedyPoissonRejectionSampling, grs
from rcc.coders.gprs import StretchFunction, stretch_function
from rcc.coders.grs import ratio_excess
from rcc.distributions import Categorical, Custom, Normal, ScipyContinuous, Uniform

N_SAMPLES = 2500  # KS resolves CDF errors of about 0.06
N_POWER = 8000  # about 0.033


@pytest.mark.parametrize(("q", "p"), [(Normal(1.0, 0.5), Normal(0.0, 1.0)),
                                      (Normal(0.01, 0.01), Normal(0.0, 1.0))], ids=["1bit", "7bit"])
def test_stretch_function_matches_direct_quadrature(q, p) -> None:
    sigma, excess = stretch_function(q, p), ratio_excess(q, p)
    for fraction in (1e-3, 0.3, 0.9, 0.999):
        h = fraction * sigma.r_max
        ref, _ = integrate.quad(lambda eta: 1 / excess(eta), 0, h, limit=200, epsabs=0,
                                epsrel=1e-13)
        # T just below and just above sigma(h): the decision must flip there.
        t = np.array([ref * (1 - 1e-9), ref * (1 + 1e-9)])
        np.testing.assert_array_equal(sigma.accepts(t, np.full(2, math.log(h))), [True, False])


NORMAL_PAIRS = [(Normal(1.0, 0.5), Normal(0.0, 1.0)), (Normal(0.01, 0.01), Normal(0.0, 1.0)),
                (Normal(0.3, 0.9), Normal(0.0, 1.0)), (Normal(-0.4, 0.3), Normal(0.2, 1.5)),
                (Normal(3.0, 0.5), Normal(0.0, 1.0))]


def _pair_id(d: Normal) -> str:
    return f"N({float(d.loc):g},{float(d.scale):g})"


TABLE_LEVELS = np.array([0.01, 0.5, 1, 2, 4, 6, 8, 12, 16, 20, 25, 30, 35, 39.9])
"""Levels ``v = -log2(1 - eta / r_max)`` of the stretch table, up to its top (40 bits)."""


@pytest.mark.parametrize(("q", "p"), NORMAL_PAIRS, ids=_pair_id)
def test_normal_stretch_integrand_is_exact_up_to_the_top(q, p) -> None:
    """The closed-form integrand d sigma / d v against 60-digit arithmetic, up to 2^-40 below the
    top, where the normal-CDF form of the excess has lost all its digits."""
    mpmath = pytest.importorskip("mpmath")
    mp = mpmath.mp.clone() if hasattr(mpmath.mp, "clone") else mpmath.mp
    mp.dps = 60
    m_q, s_q, m_p, s_p = (mp.mpf(float(v)) for v in (q.loc, q.scale, p.loc, p.scale))
    a = (1 / s_q**2 - 1 / s_p**2) / 2
    x0 = (m_q / s_q**2 - m_p / s_p**2) / (2 * a)
    r_max = mp.exp(mp.log(s_p / s_q) + (m_q - m_p) ** 2 / (2 * (s_p**2 - s_q**2)))
    sigma = stretch_function(q, p)

    def reference(v: float) -> float:
        u = -mp.log(1 - mp.mpf(2) ** -mp.mpf(v))
        half, eta = mp.sqrt(u / a), r_max * mp.exp(-u)
        excess = (mp.ncdf((x0 + half - m_q) / s_q) - mp.ncdf((x0 - half - m_q) / s_q)
                  - eta * (mp.ncdf((x0 + half - m_p) / s_p) - mp.ncdf((x0 - half - m_p) / s_p)))
        return float(r_max * mp.log(2) * mp.mpf(2) ** -mp.mpf(v) / excess)

    np.testing.assert_allclose(sigma._density(TABLE_LEVELS), [reference(v) for v in TABLE_LEVELS],
                               rtol=1e-13)


def _levels(q: Normal, p: Normal) -> np.ndarray:
    """log r from ``e^-31.6 r_max`` to ``r_max e^-0.001``."""
    return q.divergences(p).dinf_bits * math.log(2) - np.logspace(1.5, -3, 19)


@pytest.mark.parametrize(("q", "p"), NORMAL_PAIRS, ids=_pair_id)
def test_normal_stretch_matches_the_cdf_excess_table(q, p) -> None:
    """The Normal path against the general table built from the normal-CDF excess: they agree to
    1e-9 wherever that excess keeps its digits (with the mode far in P's tail its ``Phi(hi) -
    Phi(lo)`` of two values near 1 costs a few); decisions flip at the values."""
    sigma = stretch_function(q, p)
    assert sigma._density is not sigma._density_from_excess  # the Normal path is taken
    levels = _levels(q, p)
    values = sigma(levels)
    assert np.all(np.diff(values) > 0) and np.isinf(sigma(np.array([sigma.log_r_max])))[0]
    np.testing.assert_allclose(values, StretchFunction(grs.ratio_excess(q, p), sigma.log_r_max)(
        levels), rtol=1e-9)
    t = np.concatenate([values * (1 - 1e-12), values * (1 + 1e-12)])
    np.testing.assert_array_equal(sigma.accepts(t, np.concatenate([levels, levels])),
                                  np.repeat([True, False], levels.size))


@pytest.mark.parametrize(("q", "p"), NORMAL_PAIRS[:2], ids=_pair_id)
def test_normal_stretch_matches_the_numeric_tabulation(q, p) -> None:
    """... and against the fully numerical path of any other univariate pair (the excess by
    quadrature of the log-densities, about 1e-9)."""
    sigma = stretch_function(q, p)
    numeric = StretchFunction(grs._quadrature_excess(q, p), sigma.log_r_max)
    np.testing.assert_allclose(sigma(_levels(q, p)), numeric(_levels(q, p)), rtol=1e-6)


def test_uniform_pairs_use_the_closed_form_stretch() -> None:
    sigma = stretch_function(Uniform(0.2, 0.45), Uniform(0.0, 1.0))
    log_r = math.log(0.5 * sigma.r_max)
    closed = -sigma.r_max * math.log(0.5)
    np.testing.assert_array_equal(sigma.accepts(np.array([closed * 0.999, closed * 1.001]),
                                                np.full(2, log_r)), [True, False])


def test_categorical_closed_form_stretch_matches_quadrature() -> None:
    """The excess is piecewise linear between ratio values: sigma is a sum of logarithms."""
    q, p = Categorical([0.02, 0.5, 0.08, 0.3, 0.1]), Categorical([0.3, 0.2, 0.2, 0.1, 0.2])
    sigma, excess = stretch_function(q, p), ratio_excess(q, p)
    kinks = sorted(q.probs / p.probs)
    for h in (0.05, 0.4, 1.0, 2.6, 2.99):
        ref, _ = integrate.quad(lambda eta: 1 / excess(eta), 0, h, points=[k for k in kinks if k < h],
                                limit=200, epsabs=0, epsrel=1e-13)
        t = np.array([ref * (1 - 1e-9), ref * (1 + 1e-9)])
        np.testing.assert_array_equal(sigma.accepts(t, np.full(2, math.log(h))), [True, False])


def _global_gprs_count_survival(q, p, cap: int) -> np.ndarray:
    """``P[N > i]`` for ``i < cap``, N the proposals of global GPRS (Flamich 2023).

    The accepted point's level ``H = sigma^-1(T)`` has ``P[H > h] = E_P[(r - h)^+]`` (the excess:
    ``d/dh log excess = -P[r > h] / excess`` is minus the rate of the accept region at time
    ``sigma(h)``), and the earlier points, all outside the region, are Poisson with mean
    ``sigma(h) + ln excess(h)``: ``N - 1 | H = h`` is Poisson. The mixture over h is summed on
    cells of width 1/64 bit of the gap ``v = -log2(1 - h / r_max)``, up to 24 bits (the excess
    left beyond, about 1e-11, is below what the closed form resolves and what any test sees).
    """
    sigma, excess = stretch_function(q, p), ratio_excess(q, p)
    v = np.linspace(0.0, 24.0, 24 * 64 + 1)
    levels = sigma.r_max * -np.expm1(-v * math.log(2))
    mass = -np.diff([excess(h) for h in levels])
    mid = sigma.r_max * -np.expm1(-0.5 * (v[1:] + v[:-1]) * math.log(2))
    mean = sigma(np.log(mid)) + np.log([excess(h) for h in mid])
    return stats.poisson.sf(np.arange(cap)[:, None] - 1, mean[None, :]) @ mass


@pytest.mark.statistical
@pytest.mark.parametrize("coder", [GreedyPoissonRejectionSampling(), BranchAndBoundGPRS()],
                         ids=["global", "branch-and-bound"])
def test_gprs_samples_a_gaussian_target(coder, stat_seed) -> None:
    q, p = Normal(1.0, 0.5), Normal(0.0, 1.0)
    run = testing.assert_exact_coder(coder, q, p, n=N_SAMPLES, seed=stat_seed(21))
    if isinstance(coder, GreedyPoissonRejectionSampling):
        # N is heavy-tailed (P[N > i] ~ i^-3 on a smooth peak), so its law is tested, not its mean.
        cap = int(64 * bounds.grs_expected_proposals(q.divergences(p).dinf_bits))
        testing.assert_count_law(run.proposals, _global_gprs_count_survival(q, p, cap),
                                 what="global GPRS proposal count")


@pytest.mark.parametrize(("q", "p"), [(Normal(1.0, 0.5), Normal(0.0, 1.0)),
                                      (Normal(1.5, 0.75), Normal(0.0, 1.0))], ids=["near", "far"])
def test_the_law_of_the_gprs_count_has_mean_two_to_the_dinf(q, p) -> None:
    """The law the count is tested against is itself checked: E[N] = sum_i P[N > i] = 2^D_inf."""
    r_max = bounds.grs_expected_proposals(q.divergences(p).dinf_bits)
    survival = _global_gprs_count_survival(q, p, 20_000)
    assert survival[0] == pytest.approx(1.0, abs=1e-9) and np.all(np.diff(survival) <= 1e-12)
    assert survival.sum() == pytest.approx(r_max, rel=2e-3)


@pytest.mark.statistical
def test_global_gprs_samples_a_categorical_target(stat_seed) -> None:
    q = Categorical([0.02, 0.5, 0.08, 0.3, 0.1])
    p = Categorical([0.3, 0.2, 0.2, 0.1, 0.2])
    testing.assert_exact_coder(GreedyPoissonRejectionSampling(), q, p, n=N_SAMPLES, seed=stat_seed(4))


@pytest.mark.slow
@pytest.mark.statistical
@pytest.mark.parametrize("coder", [GreedyPoissonRejectionSampling(), BranchAndBoundGPRS()],
                         ids=["global", "branch-and-bound"])
@pytest.mark.parametrize(("q", "p"), [
    (Normal(-0.4, 0.3), Normal(0.2, 1.5)),
    (Uniform(0.3, 0.5), Uniform(0.0, 1.0)),
], ids=["normal", "uniform"])
def test_gprs_with_power(coder, q, p, stat_seed) -> None:
    testing.assert_exact_coder(coder, q, p, n=N_POWER, seed=stat_seed(6))


@pytest.mark.slow
@pytest.mark.statistical
def test_branch_and_bound_gprs_on_a_quadrature_pair(stat_seed) -> None:
    """N(0.3, 0.5^2) known by its log-density against Laplace(0, 1): excess by quadrature, mode on
    a grid."""
    target = stats.norm(0.3, 0.5)
    p = ScipyContinuous(stats.laplace(0.0, 1.0))
    x = np.linspace(-20, 20, 400_001)
    dinf = float(np.max(target.logpdf(x) - p.log_prob(x))) / math.log(2) + 1e-9
    q = Custom(target.logpdf, dinf_bits=dinf, interval=(-20.0, 20.0))
    run = testing.run_coder(BranchAndBoundGPRS(), q, p, 1200, seed=stat_seed(9))
    testing.assert_ks(run.samples, target.cdf, what="branch-and-bound GPRS by quadrature")


@pytest.mark.slow
@pytest.mark.statistical
def test_branch_and_bound_gprs_simulates_a_channel_jointly(stat_seed) -> None:
    rho = 0.8
    inputs = np.random.default_rng(stat_seed(9)).standard_normal(1200)  # a stretch table per input
    testing.assert_channel_exact(BranchAndBoundGPRS(),
                                 lambda x: Normal(rho * x, math.sqrt(1 - rho**2)),
                                 Normal(0.0, 1.0), inputs, seed=stat_seed(500))


def test_branch_and_bound_gprs_runtime_is_linear_in_dinf() -> None:
    """D_inf of 12 bits: global GPRS needs about 4096 proposals; the path down the tree is short,
    below the leading term D_inf / log2(4/3) of its bound plus a few steps."""
    q, p = Normal(0.3, 2.0**-11.5), Normal(0.0, 1.0)
    dinf = q.divergences(p).dinf_bits
    run = testing.run_coder(BranchAndBoundGPRS(), q, p, n=200, seed=0)
    assert run.proposals.mean() < dinf / math.log2(4 / 3) + 4


def test_gprs_refusals() -> None:
    with pytest.raises(ValueError, match="bounded density ratio"):
        GreedyPoissonRejectionSampling().encode(Normal(1.0, 1.0), Normal(0.0, 1.0), seed=0)
    with pytest.raises(ValueError, match="one-dimensional"):
        BranchAndBoundGPRS().encode(Categorical([0.5, 0.5]), Categorical([0.3, 0.7]), seed=0)
    with pytest.raises(ValueError, match="max_dinf_bits"):
        GreedyPoissonRejectionSampling().encode(Normal(0.0, 1e-9), Normal(0.0, 1.0), seed=0)
    with pytest.raises(TypeError, match="univariate.*exact PFR"):
        GreedyPoissonRejectionSampling().encode(Normal([0.0, 0.1], 0.5), Normal([0.0, 0.0], 1.0),
                                                seed=0)
