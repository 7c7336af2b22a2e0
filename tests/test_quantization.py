"""Universal and layered quantization: exact noise laws, independence of the input, entropy coding
through the real bitstream, the Zamir-Feder identity, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rcc import testing
from rcc.quantization import (
    LayeredQuantizer,
    Prior,
    UniversalQuantizer,
    dither,
    dithered_rate_bits,
    entropy,
    layered_rate_bits,
    quantize,
    reconstruct,
)

N_STAT = 200_000


def _heavy_input(n: int, seed: int) -> np.ndarray:
    """A continuous input far from the prior and from the grid: Student-t with 2 degrees of
    freedom, scaled, plus an offset (dependence between input and error would show here)."""
    return 0.37 + 3.0 * np.random.default_rng(seed).standard_t(2, size=n)


def _assert_decodes(q: object, data: bytes, prior: Prior, x: np.ndarray, seed: int,
                    stream: tuple[int, ...] = ()) -> None:
    """The bitstream decodes to exactly the quantizer's output for x."""
    np.testing.assert_array_equal(q.decompress(data, prior, x.shape, seed=seed, stream=stream),
                                  q.decode(q.encode(x, seed=seed, stream=stream), seed=seed,
                                           stream=stream))


# -- dither and the uniform channel -----------------------------------------------------------------


@pytest.mark.statistical
def test_dither_is_reproducible_uniform_and_stream_specific(stat_seed) -> None:
    seed = stat_seed(11)
    u = dither(seed, (400, 500), stream=(3,))
    assert u.shape == (400, 500) and np.all(np.abs(u) < 0.5)
    np.testing.assert_array_equal(u, dither(seed, (400, 500), stream=(3,)))
    assert not np.array_equal(u, dither(seed, (400, 500), stream=(4,)))
    assert not np.array_equal(u, dither(seed + 1, (400, 500), stream=(3,)))
    testing.assert_ks(u, stats.uniform(-0.5, 1.0), what="dither")


@pytest.mark.statistical
@pytest.mark.parametrize("step", [0.01, 1.0, 7.5])
def test_universal_error_is_uniform_and_independent_of_input(step: float, stat_seed) -> None:
    x = _heavy_input(N_STAT, seed=stat_seed(int(step * 100)))
    q, seed, stream = UniversalQuantizer(step), stat_seed(1), (int(step * 100),)
    y = q.decode(q.encode(x, seed=seed, stream=stream), seed=seed, stream=stream)
    err = y - x
    assert np.all(np.abs(err) <= step / 2 * (1 + 1e-9))
    testing.assert_ks(err, stats.uniform(-step / 2, step), what=f"UQ error, step {step}")
    testing.assert_independent(x, err, bins=10, what=f"UQ error vs input, step {step}")


@pytest.mark.statistical
def test_universal_error_given_a_fixed_input_is_uniform(stat_seed) -> None:
    """The law holds for every x, not only on average over inputs: one x, many dithers."""
    x, seed = np.full(N_STAT, 2.718281828), stat_seed(9)
    y = UniversalQuantizer(0.3).decode(UniversalQuantizer(0.3).encode(x, seed=seed), seed=seed)
    testing.assert_ks(y - x, stats.uniform(-0.15, 0.3), what="UQ error at a fixed input")


def test_independence_check_catches_quantization_without_dither() -> None:
    """The joint check has power: deterministic rounding (no subtractive dither) fails it."""
    x = _heavy_input(N_STAT, seed=5)
    err = np.rint(x / 1.0) - x
    with pytest.raises(testing.StatisticalTestFailure):
        testing.independence(x, err, bins=10).check(what="undithered rounding (expected to fail)")


@pytest.mark.statistical
def test_universal_with_per_element_steps(stat_seed) -> None:
    steps = np.where(np.arange(N_STAT) % 2 == 0, 0.5, 2.0)
    x, seed = _heavy_input(N_STAT, seed=stat_seed(6)), stat_seed(2)
    q = UniversalQuantizer(steps)
    err = q.decode(q.encode(x, seed=seed), seed=seed) - x
    testing.assert_ks(err / steps, stats.uniform(-0.5, 1.0), what="UQ error / per-element step")
    testing.assert_independent(steps, err / steps, bins=2, what="scaled error vs step")


def test_scalar_and_vector_calls_agree() -> None:
    u = dither(3, 50)
    x = np.linspace(-4, 4, 50)
    k = quantize(x, 0.7, u)
    for i in (0, 17, 49):
        assert int(quantize(float(x[i]), 0.7, float(u[i]))) == k[i]
        assert float(reconstruct(int(k[i]), 0.7, float(u[i]))) == reconstruct(k, 0.7, u)[i]
    assert quantize(1.0, 0.5, 0.25).shape == ()


# -- the layered quantizer: exact Gaussian noise ----------------------------------------------------


@pytest.mark.statistical
@pytest.mark.parametrize("scale", [0.05, 1.0, 40.0])
def test_layered_error_is_gaussian_and_independent_of_input(scale: float, stat_seed) -> None:
    x = _heavy_input(N_STAT, seed=stat_seed(7))
    q, seed, stream = LayeredQuantizer(scale), stat_seed(4), (int(scale * 100),)
    err = q.decode(q.encode(x, seed=seed, stream=stream), seed=seed, stream=stream) - x
    testing.assert_ks(err, stats.norm(0, scale), what=f"layered error, scale {scale}")
    testing.assert_independent(x, err, bins=10, what=f"layered error vs input, scale {scale}")


@pytest.mark.statistical
def test_layered_error_given_a_fixed_input_is_gaussian(stat_seed) -> None:
    x, seed = np.full(N_STAT, -1.25), stat_seed(8)
    q = LayeredQuantizer(0.2)
    testing.assert_ks(q.decode(q.encode(x, seed=seed), seed=seed) - x, stats.norm(0, 0.2),
                      what="layered error at a fixed input")


@pytest.mark.statistical
def test_layered_steps_are_maxwell_half_widths(stat_seed) -> None:
    b = LayeredQuantizer(2.0).half_widths(seed=stat_seed(1), shape=(100_000,))
    testing.assert_ks(b, stats.chi(3, scale=2.0), what="layered half-widths")


@pytest.mark.statistical
@settings(max_examples=4)
@given(scale=st.floats(1e-3, 1e3), loc=st.floats(-1e3, 1e3), seed=st.integers(0, 2**63))
def test_layered_noise_law_for_drawn_parameters(scale: float, loc: float, seed: int) -> None:
    x = loc + scale * np.random.default_rng(seed % 2**32).normal(size=20_000)
    q = LayeredQuantizer(scale)
    err = q.decode(q.encode(x, seed=seed), seed=seed) - x
    testing.assert_ks(err / scale, stats.norm(), what="layered error, drawn parameters")


# -- entropy coding ---------------------------------------------------------------------------------

PRIORS = {
    "gaussian": Prior.gaussian(0.2, 1.5),
    "logistic": Prior.logistic(-0.1, 0.8),
    "student_t": Prior.from_scipy(stats.t(3, loc=0.0, scale=1.2)),
    "laplace": Prior.from_scipy(stats.laplace(0.5, 1.0)),
}


@pytest.mark.parametrize("name", sorted(PRIORS))
@pytest.mark.parametrize("quantizer", [UniversalQuantizer(0.4), LayeredQuantizer(0.3)],
                         ids=["uq", "layered"])
def test_round_trip_through_the_bitstream(name: str, quantizer: object) -> None:
    prior = PRIORS[name]
    x = prior.frozen().rvs(size=(30, 70), random_state=np.random.default_rng(1))
    data, coding = quantizer.compress(x, prior, seed=5, stream=(1, 2))
    _assert_decodes(quantizer, data, prior, x, seed=5, stream=(1, 2))
    assert coding.bits == 8 * len(data) and coding.elements == x.size


def test_round_trip_with_per_element_prior_parameters() -> None:
    rng = np.random.default_rng(2)
    loc, scale = rng.normal(size=5000) * 10, np.exp(rng.normal(size=5000))
    x = rng.normal(loc, scale)
    for prior in (Prior.gaussian(loc, scale), Prior.logistic(loc, scale)):
        q = UniversalQuantizer(0.25)
        data, _ = q.compress(x, prior, seed=3)
        _assert_decodes(q, data, prior, x, seed=3)


@pytest.mark.parametrize("name", sorted(PRIORS))
@pytest.mark.parametrize("snr_db", [-20.0, 0.0, 30.0])
def test_bitstream_length_matches_the_model_estimate(name: str, snr_db: float) -> None:
    """The tensorflow-compression criterion: real length within 1% + 2 bytes of the model's own
    information content, with the data drawn from the prior."""
    prior = PRIORS[name]
    n = 200_000 if snr_db < 0 else 20_000
    x = prior.frozen().rvs(size=n, random_state=np.random.default_rng(int(snr_db) + 50))
    step = float(np.std(x)) * math.sqrt(12 / 10 ** (snr_db / 10))
    _, coding = UniversalQuantizer(step).compress(x, prior, seed=7)
    assert coding.escapes == 0
    assert abs(coding.bits - coding.model_bits) <= 0.01 * coding.model_bits + 16, coding


@pytest.mark.statistical
@pytest.mark.parametrize("snr_db", [-20.0, 0.0, 30.0])
def test_zamir_feder_identity(snr_db: float, stat_seed) -> None:
    """Measured rate of a Gaussian source = h(X + U) - log2(step), within sampling error plus the
    coder's overhead. The per-element information content is recomputed here from scipy's normal
    cdf, independently of the coder's model."""
    sigma, n = 2.0, 200_000
    step = sigma * math.sqrt(12 / 10 ** (snr_db / 10))
    x, seed = np.random.default_rng(stat_seed(int(snr_db) + 100)).normal(0, sigma, n), stat_seed(13)
    q = UniversalQuantizer(step)
    data, coding = q.compress(x, Prior.gaussian(0.0, sigma), seed=seed)
    k, u = q.encode(x, seed=seed), dither(seed, n)
    cell = stats.norm(0, sigma).cdf
    p = cell(step * (k + u + 0.5)) - cell(step * (k + u - 0.5))
    info = -np.log2(p)
    rate = dithered_rate_bits(stats.norm(0, sigma), step)
    # -log2 of a Gaussian cell's mass grows like x^2: light tails, so a z-test of its mean is valid.
    testing.assert_mean(info, rate, what=f"information content at {snr_db} dB")
    assert abs(8 * len(data) - info.sum()) <= 0.01 * info.sum() + 16
    assert abs(coding.model_bits - info.sum()) <= 1e-6 * info.sum() + 1e-3


def test_dithered_rate_closed_forms() -> None:
    # Uniform(0, step) source: X + U is triangular, so I = log2(e) / 2 exactly.
    assert dithered_rate_bits(stats.uniform(0, 3.0), 3.0) == pytest.approx(math.log2(math.e) / 2, abs=1e-6)
    # Fine steps: h(X) - log2(step) (+ step^2 / (24 sigma^2 ln 2) correction, negligible here).
    h = 0.5 * math.log2(2 * math.pi * math.e * 4.0)
    assert dithered_rate_bits(stats.norm(0, 2.0), 1e-3) == pytest.approx(h - math.log2(1e-3), abs=1e-6)


def test_layered_rate_matches_its_expectation() -> None:
    rng = np.random.default_rng(21)
    x = rng.normal(size=100_000)
    q = LayeredQuantizer(0.5)
    _, coding = q.compress(x, Prior.gaussian(0.0, 1.0), seed=2)
    expected = layered_rate_bits(stats.norm(), 0.5)
    assert coding.bits / x.size == pytest.approx(expected, abs=0.02)
    assert expected > 0.5 * math.log2(1 + 1 / 0.25)  # the decoder learns the step too


@pytest.mark.parametrize("name", sorted(PRIORS))
def test_outliers_go_through_the_escape(name: str) -> None:
    prior = PRIORS[name]
    x = np.array([0.1, 1e6, -3e7, 5.0, 2.0**40, -0.3])
    q = UniversalQuantizer(0.5)
    data, coding = q.compress(x, prior, seed=1)
    assert coding.escapes >= 3
    _assert_decodes(q, data, prior, x, seed=1)


def test_prior_with_zero_mass_at_the_data_still_codes() -> None:
    """A bounded prior gives zero mass to cells outside its support: those symbols go through the
    escape and in-range cells of tiny mass keep the coder's smallest probability."""
    prior = Prior.from_scipy(stats.uniform(0.0, 1.0))
    x = np.array([0.5, 0.999, 1.0, 1.2, -0.4, 30.0, 0.0])
    q = UniversalQuantizer(0.1)
    data, coding = q.compress(x, prior, seed=4)
    _assert_decodes(q, data, prior, x, seed=4)
    assert math.isfinite(coding.model_bits)


def test_small_messages_are_trimmed_and_round_trip() -> None:
    q, prior = UniversalQuantizer(0.5), Prior.gaussian()
    for seed in range(20):
        x = np.array([np.random.default_rng(seed).normal()])
        data, coding = q.compress(x, prior, seed=seed)
        assert len(data) <= 4
        _assert_decodes(q, data, prior, x, seed=seed)


def test_corrupted_bitstreams_fail_cleanly_or_decode() -> None:
    rng = np.random.default_rng(0)
    u = rng.uniform(-0.5, 0.5, 300)
    for prior in (Prior.gaussian(), Prior.logistic()):
        for _ in range(10):
            try:
                k = entropy.decode(rng.bytes(int(rng.integers(0, 60))), u, 0.3, prior)
            except ValueError:
                continue
            assert k.shape == u.shape and k.dtype == np.int64


# -- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_rejected(bad: float) -> None:
    q = UniversalQuantizer(1.0)
    with pytest.raises(ValueError, match="finite"):
        q.encode(np.array([0.0, bad]), seed=1)
    with pytest.raises(ValueError, match="finite"):
        LayeredQuantizer(1.0).compress(np.array([bad]), Prior.gaussian(), seed=1)


@pytest.mark.parametrize("step", [0.0, -1.0, np.nan, np.inf])
def test_bad_steps_are_rejected(step: float) -> None:
    with pytest.raises(ValueError, match="step"):
        UniversalQuantizer(step)
    with pytest.raises(ValueError, match="step"):
        quantize(1.0, step, 0.0)
    with pytest.raises(ValueError):
        LayeredQuantizer(step)


def test_bad_priors_are_rejected() -> None:
    with pytest.raises(ValueError, match="scale"):
        Prior.gaussian(0.0, 0.0)
    with pytest.raises(ValueError, match="finite"):
        Prior.logistic(np.nan, 1.0)
    with pytest.raises(TypeError):
        Prior.from_scipy(stats.poisson(3.0))
    with pytest.raises(TypeError):
        Prior.from_scipy("norm")
    with pytest.raises(ValueError, match="shape"):
        Prior.from_scipy(stats.t(-1.0))
    with pytest.raises(TypeError):
        UniversalQuantizer(1.0).compress(np.zeros(3), stats.norm(), seed=0)


def test_other_bad_inputs() -> None:
    with pytest.raises(ValueError, match="2\\^52"):
        quantize(1e300, 1e-10, 0.0)
    with pytest.raises(TypeError, match="integer"):
        reconstruct(np.array([1.5]), 1.0, 0.0)
    with pytest.raises(ValueError, match="broadcast"):
        UniversalQuantizer(np.ones(3)).encode(np.zeros(4), seed=0)
    with pytest.raises(ValueError, match="broadcast"):
        UniversalQuantizer(1.0).compress(np.zeros(4), Prior.gaussian(np.zeros(3), 1.0), seed=0)
    with pytest.raises(TypeError):
        entropy.decode("not bytes", np.zeros(2), 1.0, Prior.gaussian())
    with pytest.raises(ValueError, match="shape"):
        entropy.encode(np.zeros(3, dtype=np.int64), np.zeros(4), 1.0, Prior.gaussian())
    with pytest.raises(ValueError, match="negative"):
        dither(0, (-1, 2))
