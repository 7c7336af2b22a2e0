"""A* coding: the global search is exact PFR's search; branch and bound is exact on unimodal 1-D
ratios, jointly for a channel, with runtime linear in D_inf; clear refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from rcc import testing
from rcc.coders import AStarCoding, BranchAndBoundAStarCoding, PoissonFunctionalRepresentation
from rcc.codes import EliasDeltaCode
from rcc.core import Message
from rcc.distributions import Categorical, Custom, Normal, ScipyContinuous, Uniform

BRANCH_AND_BOUND = [BranchAndBoundAStarCoding(), BranchAndBoundAStarCoding(split="sample")]
N_SAMPLES = 2500  # KS resolves CDF errors of about 0.06
N_POWER = 8000  # about 0.033


def _name(coder: object) -> str:
    return f"{type(coder).__name__}({getattr(coder, 'split', 'global')})"


def test_global_a_star_is_the_exact_pfr_search() -> None:
    q, p = Normal(0.7, 0.4), Normal(0.0, 1.0)
    for seed in range(100):
        _, a_star = AStarCoding().encode(q, p, seed, (2,))
        _, pfr = PoissonFunctionalRepresentation().encode(q, p, seed, (2,))
        assert (a_star.index, a_star.proposals) == (pfr.index, pfr.proposals)


@pytest.mark.statistical
@pytest.mark.parametrize("coder", [AStarCoding(), *BRANCH_AND_BOUND], ids=_name)
def test_a_star_samples_a_gaussian_target(coder, stat_seed) -> None:
    testing.assert_exact_coder(coder, Normal(1.0, 0.5), Normal(0.0, 1.0), n=N_SAMPLES, seed=stat_seed(11))


@pytest.mark.slow
@pytest.mark.statistical
@pytest.mark.parametrize("coder", BRANCH_AND_BOUND, ids=_name)
@pytest.mark.parametrize(("q", "p"), [
    (Normal(-0.4, 0.1), Normal(0.2, 1.5)),
    (Uniform(0.3, 0.5), Uniform(0.0, 1.0)),
], ids=["narrow-normal", "uniform"])
def test_branch_and_bound_a_star_with_power(coder, q, p, stat_seed) -> None:
    testing.assert_exact_coder(coder, q, p, n=N_POWER, seed=stat_seed(5))


def _normal_against_laplace() -> tuple[Custom, ScipyContinuous, object]:
    """N(0.3, 0.5^2) known only by its log-density, against Laplace(0, 1): the ratio is unimodal
    (mode 0.55) but has no closed-form mode here, so it is found on a grid."""
    target = stats.norm(0.3, 0.5)
    p = ScipyContinuous(stats.laplace(0.0, 1.0))
    x = np.linspace(-20, 20, 400_001)
    dinf = float(np.max(target.logpdf(x) - p.log_prob(x))) / math.log(2) + 1e-9
    return Custom(target.logpdf, dinf_bits=dinf, interval=(-20.0, 20.0)), p, target


@pytest.mark.slow
@pytest.mark.statistical
def test_branch_and_bound_a_star_on_a_numerical_mode(stat_seed) -> None:
    q, p, target = _normal_against_laplace()
    run = testing.run_coder(BranchAndBoundAStarCoding(), q, p, N_SAMPLES, seed=stat_seed(3))
    testing.assert_ks(run.samples, target.cdf, what="AD*, Normal target, Laplace proposal")


@pytest.mark.slow
@pytest.mark.statistical
@pytest.mark.parametrize("coder", BRANCH_AND_BOUND, ids=_name)
def test_branch_and_bound_a_star_simulates_a_channel_jointly(coder, stat_seed) -> None:
    rho = 0.8
    inputs = np.random.default_rng(stat_seed(8)).standard_normal(N_SAMPLES)
    testing.assert_channel_exact(coder, lambda x: Normal(rho * x, math.sqrt(1 - rho**2)),
                                 Normal(0.0, 1.0), inputs, seed=stat_seed(77))


def test_branch_and_bound_runtime_is_linear_in_dinf() -> None:
    """D_inf of 12 bits: the global search examines about 4096 proposals, branch and bound tens."""
    q, p = Normal(0.3, 2.0**-11.5), Normal(0.0, 1.0)
    dinf = q.divergences(p).dinf_bits
    for coder in BRANCH_AND_BOUND:
        run = testing.run_coder(coder, q, p, n=100, seed=0)
        assert run.proposals.mean() < 4 * dinf, _name(coder)
    assert dinf > 11.5


def test_refusals_say_what_is_needed() -> None:
    coder = BranchAndBoundAStarCoding()
    with pytest.raises(ValueError, match="bounded density ratio"):
        coder.encode(Normal(1.0, 1.0), Normal(0.0, 1.0), seed=0)
    with pytest.raises(ValueError, match="one-dimensional"):
        coder.encode(Normal([0.0, 0.0], 0.5), Normal([0.0, 0.0], 1.0), seed=0)
    with pytest.raises(ValueError, match="one-dimensional"):
        coder.encode(Categorical([0.5, 0.5]), Categorical([0.3, 0.7]), seed=0)
    bimodal = stats.norm(-1.5, 0.3)

    def log_mixture(x: np.ndarray) -> np.ndarray:
        return np.logaddexp(bimodal.logpdf(x), bimodal.logpdf(-np.asarray(x))) - math.log(2)

    with pytest.raises(ValueError, match="unimodal.*global variant"):
        coder.encode(Custom(log_mixture, dinf_bits=3.0, interval=(-4.0, 4.0)), Normal(0.0, 1.0),
                     seed=0)
    with pytest.raises(ValueError, match="max_dinf_bits"):
        coder.encode(Normal(0.0, 1e-15), Normal(0.0, 1.0), seed=0)
    with pytest.raises(ValueError, match="split"):
        BranchAndBoundAStarCoding(split="median")


def test_a_corrupt_heap_index_is_refused() -> None:
    p = Normal(0.0, 1.0)
    with pytest.raises(ValueError, match="heap index"):
        BranchAndBoundAStarCoding().decode(Message(EliasDeltaCode().encode([2**62 - 1])), p, 0)
    with pytest.raises(TypeError):
        BranchAndBoundAStarCoding().decode(b"\x80", p, seed=0)
