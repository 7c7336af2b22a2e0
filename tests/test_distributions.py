"""Targets and proposals: candidates from shared randomness, closed-form divergences, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

import rcc_kernels
from rcc import testing
from rcc.core import Distribution, Proposal, Target, log_ratio
from rcc.distributions import Categorical, Custom, Normal, ScipyContinuous, Uniform

KEY = rcc_kernels.stream_key(11, (1, 2))
LN2 = math.log(2.0)

PROPOSALS = [
    Normal(0.5, 2.0),
    Normal([0.0, 1.0, -1.0], [1.0, 0.5, 3.0]),
    Uniform(-1.0, 3.0),
    Categorical([0.1, 0.0, 0.6, 0.3]),
    ScipyContinuous(stats.laplace(1.0, 0.5)),
    Custom(stats.expon.logpdf, sampler=lambda u: -np.log(u[:, 0]), interval=(0.0, math.inf)),
]


@pytest.mark.parametrize("dist", PROPOSALS, ids=lambda d: type(d).__name__)
def test_candidate_k_is_addressable_in_o1(dist: Proposal) -> None:
    """Candidate k drawn alone equals candidate k of a block: the decoder's O(1) regeneration."""
    assert isinstance(dist, Proposal) and isinstance(dist, Target)
    block = dist.candidates(KEY, 1000, 1300)
    assert block.shape == (300, *dist.event_shape)
    for k in (1000, 1001, 1177, 1299):
        np.testing.assert_array_equal(dist.candidates(KEY, k, k + 1)[0], block[k - 1000])
    assert np.all(np.isfinite(dist.log_prob(block)))


@pytest.mark.statistical
@pytest.mark.parametrize("dist", [d for d in PROPOSALS if d.event_shape == ()],
                         ids=lambda d: type(d).__name__)
def test_candidates_follow_the_law(dist: Proposal, stat_seed) -> None:
    x = dist.candidates(rcc_kernels.stream_key(stat_seed(11), (1, 2)), 0, 50_000)
    if isinstance(dist, Categorical):
        testing.assert_chi2_counts(np.bincount(x, minlength=dist.size), dist.probs)
    elif isinstance(dist, Custom):
        testing.assert_ks(x, stats.expon.cdf)
    else:
        testing.assert_ks(x, dist.cdf)


@pytest.mark.statistical
def test_diagonal_normal_candidates_follow_the_joint_law(stat_seed) -> None:
    dist = PROPOSALS[1]
    testing.assert_follows(dist.candidates(rcc_kernels.stream_key(stat_seed(11), (1, 2)), 0, 30_000), dist,
                           what="diagonal normal")


def test_log_prob_matches_scipy() -> None:
    x = np.linspace(-3, 4, 11)
    np.testing.assert_allclose(Normal(0.5, 2.0).log_prob(x), stats.norm(0.5, 2.0).logpdf(x))
    np.testing.assert_allclose(Uniform(-1, 3).log_prob(x), stats.uniform(-1, 4).logpdf(x))
    xs = np.stack([x, x + 1, x - 1], axis=1)
    d = PROPOSALS[1]
    expected = sum(stats.norm(d.loc[i], d.scale[i]).logpdf(xs[:, i]) for i in range(3))
    np.testing.assert_allclose(d.log_prob(xs), expected)
    c = Categorical([1, 0, 3])
    np.testing.assert_allclose(c.log_prob(np.array([0, 1, 2, 3, -1])),
                               [math.log(0.25), -np.inf, math.log(0.75), -np.inf, -np.inf])


def _numeric_divergences(q: Distribution, p: Distribution, lo: float, hi: float) -> tuple:
    def ratio(x: float) -> float:
        return float(log_ratio(q, p, np.array([x]))[0])

    kl = integrate.quad(lambda x: math.exp(q.log_prob(np.array([x]))[0]) * ratio(x), lo, hi,
                        limit=200)[0]
    grid = np.linspace(lo, hi, 200_001)
    return kl / LN2, float(np.max(log_ratio(q, p, grid))) / LN2


@pytest.mark.parametrize(("q", "p", "lo", "hi"), [
    (Normal(1.0, 0.5), Normal(0.0, 1.0), -6, 8),
    (Normal(-2.0, 0.3), Normal(0.5, 2.0), -10, 10),
    (Normal(0.7, 1.0), Normal(0.0, 1.0), -8, 9),
    (Uniform(0.2, 0.5), Uniform(-1.0, 1.0), 0.2, 0.5),
    (Uniform(0.5, 2.5), Normal(0.0, 1.5), 0.5, 2.5),
])
def test_closed_form_divergences_match_numerical_integration(q, p, lo, hi) -> None:
    div = q.divergences(p)
    kl, dinf_on_grid = _numeric_divergences(q, p, lo, hi)
    assert div.kl_bits == pytest.approx(kl, rel=1e-6, abs=1e-9)
    if math.isfinite(div.dinf_bits):
        assert div.dinf_bits == pytest.approx(dinf_on_grid, rel=1e-6, abs=1e-9)
    else:  # equal variances, different means: the ratio grows without bound
        assert div.dinf_bits == math.inf and dinf_on_grid > 5


def test_diagonal_divergences_add_over_coordinates() -> None:
    q = Normal([1.0, -0.5], [0.5, 0.8])
    p = Normal([0.0, 0.0], [1.0, 1.0])
    parts = [Normal(q.loc[i], q.scale[i]).divergences(Normal(0.0, 1.0)) for i in range(2)]
    div = q.divergences(p)
    assert div.kl_bits == pytest.approx(sum(d.kl_bits for d in parts))
    assert div.dinf_bits == pytest.approx(sum(d.dinf_bits for d in parts))
    assert Normal([0.0, 1.0], [1.0, 1.0]).divergences(p).dinf_bits == math.inf
    assert Normal([0.0, 0.0], [1.0, 1.0]).divergences(p).dinf_bits == 0.0


def test_categorical_divergences() -> None:
    q, p = Categorical([0.5, 0.5, 0.0]), Categorical([0.25, 0.25, 0.5])
    div = q.divergences(p)
    assert div.kl_bits == pytest.approx(1.0) and div.dinf_bits == pytest.approx(1.0)
    assert div.ratio_bounded


def test_unknown_pairs_report_none_and_custom_reports_what_it_is_given() -> None:
    laplace = ScipyContinuous(stats.laplace())
    assert laplace.divergences(Normal(0, 1)).kl_bits is None
    custom = Custom(stats.norm.logpdf, kl_bits=0.5, dinf_bits=1.5)
    assert custom.divergences(Normal(0, 1)).dinf_bits == 1.5


@pytest.mark.parametrize("make", [
    lambda: Normal(float("nan"), 1.0),
    lambda: Normal(0.0, -1.0),
    lambda: Normal(0.0, 0.0),
    lambda: Normal([0.0, 1.0], [1.0, float("inf")]),
    lambda: Normal(np.zeros((2, 2)), 1.0),
    lambda: Uniform(1.0, 1.0),
    lambda: Uniform(0.0, float("nan")),
    lambda: Categorical([0.5, -0.1, 0.6]),
    lambda: Categorical([0.0, 0.0]),
    lambda: Categorical([0.5, float("nan")]),
    lambda: Categorical([]),
    lambda: Custom(stats.norm.logpdf, dinf_bits=float("nan")),
    lambda: Custom(stats.norm.logpdf, n_uniforms=0),
])
def test_bad_parameters_raise_value_error(make) -> None:
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize(("q", "p"), [
    (Uniform(0.0, 2.0), Uniform(0.0, 1.0)),
    (Normal(0.0, 1.0), Uniform(-5.0, 5.0)),
    (Categorical([0.5, 0.5]), Categorical([1.0, 0.0])),
    (Categorical([0.5, 0.5]), Categorical([0.2, 0.3, 0.5])),
    (ScipyContinuous(stats.norm()), ScipyContinuous(stats.expon())),
    (Normal([0.0, 0.0], 1.0), Normal(0.0, 1.0)),
])
def test_target_outside_the_proposals_support_is_refused(q, p) -> None:
    with pytest.raises(ValueError):
        q.divergences(p)


def test_wrong_kinds_raise_type_error() -> None:
    with pytest.raises(TypeError):
        ScipyContinuous(stats.poisson(3))
    with pytest.raises(TypeError):
        Categorical([0.5, 0.5]).divergences(Normal(0, 1))
    with pytest.raises(TypeError):
        Custom(stats.norm.logpdf).candidates(KEY, 0, 3)
    with pytest.raises(ValueError, match="shape"):
        Custom(stats.norm.logpdf, sampler=lambda u: u).candidates(KEY, 0, 3)
