"""Hybrid coding (universal-quantization candidates inside PFR): exact output law, real bitstreams,
fewer proposals than plain PFR for narrow targets, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from rcc import testing
from rcc.coders import PoissonFunctionalRepresentation
from rcc.core import Message
from rcc.distributions import Custom, Normal, Uniform
from rcc.quantization import HybridCoding

PRIOR = Normal(0.0, 1.0)


def _truncated_normal(center: float, scale: float, half: float) -> tuple[Custom, object]:
    """N(center, scale^2) truncated to center +- half, as a target whose D_inf against the
    hybrid coder's window of width 2 * half is given in closed form."""
    law = stats.truncnorm(-half / scale, half / scale, loc=center, scale=scale)
    dinf = math.log2(2 * half * law.pdf(center))
    return Custom(law.logpdf, kl_bits=None, dinf_bits=dinf, interval=(center - half, center + half)), law


@pytest.mark.slow
@pytest.mark.statistical
def test_output_follows_a_truncated_gaussian_target_exactly(stat_seed) -> None:
    coder, seed = HybridCoding(step=1.0), stat_seed(3)
    centers = np.random.default_rng(stat_seed(1)).normal(size=3000)
    z = []
    for i, c in enumerate(centers):
        target, law = _truncated_normal(float(c), 0.3, 0.5)
        z.append(law.cdf(coder.select(target, PRIOR, seed=seed, stream=(i,)).sample))
    testing.assert_ks(z, stats.uniform(), what="hybrid output, truncated Gaussian target (PIT)")
    testing.assert_independent(centers, z, bins=5, what="hybrid output PIT vs target centre")


@pytest.mark.slow
@pytest.mark.statistical
def test_output_follows_a_narrow_uniform_target_exactly(stat_seed) -> None:
    coder, seed = HybridCoding(step=0.05), stat_seed(4)
    centers = np.random.default_rng(stat_seed(2)).normal(size=3000)
    z = [(coder.select(Uniform(c - 0.01, c + 0.01), PRIOR, seed=seed, stream=(i,)).sample - c + 0.01) / 0.02
         for i, c in enumerate(centers)]
    testing.assert_ks(z, stats.uniform(), what="hybrid output, uniform target")


def test_messages_round_trip() -> None:
    coder = HybridCoding(step=0.5)
    for i, c in enumerate(np.linspace(-3, 3, 15)):
        target, _ = _truncated_normal(float(c), 0.1, 0.25)
        message, st = coder.encode(target, PRIOR, seed=9, stream=(i, 1))
        chosen = coder.select(target, PRIOR, seed=9, stream=(i, 1))
        assert coder.decode(message, PRIOR, seed=9, stream=(i, 1)) == chosen.sample
        assert st.index == chosen.index and st.bits == message.bits and st.proposals >= 1
        assert abs(chosen.sample - c) <= 0.25


def test_many_samples_in_one_bitstream() -> None:
    coder = HybridCoding(step=0.2)
    centers = np.random.default_rng(3).normal(size=200)
    targets = [Uniform(c - 0.05, c + 0.05) for c in centers]
    streams = [(i,) for i in range(200)]
    data, chosen, ideal = coder.encode_many(targets, PRIOR, seed=2, streams=streams)
    np.testing.assert_array_equal(coder.decode_many(data, PRIOR, seed=2, streams=streams),
                                  [c.sample for c in chosen])
    assert abs(8 * len(data) - ideal) <= 0.05 * ideal + 40


def test_fewer_proposals_than_plain_pfr_for_narrow_targets() -> None:
    hybrid, pfr = HybridCoding(step=0.02), PoissonFunctionalRepresentation()
    centers = np.random.default_rng(4).normal(size=100)
    ours, theirs = [], []
    for i, c in enumerate(centers):
        target = Uniform(c - 0.005, c + 0.005)
        ours.append(hybrid.encode(target, PRIOR, seed=1, stream=(i,))[1].proposals)
        theirs.append(pfr.encode(target, PRIOR, seed=1, stream=(i,))[1].proposals)
    # D_inf against the window is 1 bit (about 2 proposals); against N(0, 1) about 8 bits or more.
    assert np.mean(ours) <= 4 and np.mean(theirs) >= 50 * np.mean(ours)


def test_bad_input() -> None:
    coder = HybridCoding(step=0.1)
    with pytest.raises(ValueError, match="no wider than the step"):
        coder.encode(Uniform(0.0, 0.5), PRIOR, seed=0)
    with pytest.raises(ValueError, match="no wider than the step"):
        coder.encode(Normal(0.0, 0.01), PRIOR, seed=0)
    with pytest.raises(ValueError, match="univariate"):
        coder.encode(Normal(np.zeros(2), np.ones(2)), Normal(np.zeros(2), np.ones(2)), seed=0)
    with pytest.raises(ValueError, match="step"):
        HybridCoding(step=0.0)
    with pytest.raises(ValueError, match="step"):
        HybridCoding(step=float("nan"))
    with pytest.raises(TypeError):
        coder.decode(b"\x00", PRIOR, seed=0)
    with pytest.raises(ValueError, match="D_inf"):
        coder.encode(Custom(lambda x: np.zeros_like(x), interval=(0.0, 0.05)), PRIOR, seed=0)
    with pytest.raises(TypeError, match="proposal"):
        coder.encode(Uniform(0.0, 0.05), Custom(lambda x: np.zeros_like(x)), seed=0)
    message, _ = coder.encode(Uniform(0.0, 0.05), PRIOR, seed=0)
    assert isinstance(message, Message)
