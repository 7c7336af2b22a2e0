"""DiffC on Gaussian data reproduces the closed forms of docs/theory.md (Theis et al. 2022).

Monte Carlo checks at fixed seeds: ``assert_mean`` is a z-test at the suite's per-check level
(about 5 standard errors), ``assert_ks`` a KS test at the same level. The chain of states is sampled
exactly from q (an ideal channel), so these tests isolate the diffusion side; the real channel is
exercised in ``test_diffc_codec.py``. The closed forms are held twice where a parametrization is
involved: for the VP oracle (epsilon) and for the flow oracle (the exact velocity field of the same
data on the rectified-flow schedule, converted as an SD3 or Flux network's output is).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from diffc.diffusion import theory
from diffc.diffusion.denoisers import DCT2Basis, GaussianFlowOracle, GaussianOracle, power_law_spectrum
from diffc.diffusion.reverse import ReverseModel, step_prior, step_target
from diffc.diffusion.samplers import reconstruct
from diffc.diffusion.schedules import ContinuousVP, RectifiedFlowVP, alpha_sigma
from diffc.diffusion.spacing import uniform_log_snr
from rcc.bounds import gaussian_kl_bits_per_coordinate
from rcc.testing import StatisticalTestFailure, assert_ks, assert_mean

VP = ContinuousVP("cosine", -15.0, 15.0)
SHAPE = (4, 4)
LAM = power_law_spectrum(SHAPE, exponent=2.0)
ORACLE = GaussianOracle(VP, LAM, mean=np.linspace(-0.5, 0.5, 16).reshape(SHAPE), basis=DCT2Basis())
FLOW_ORACLE = GaussianFlowOracle(RectifiedFlowVP(1e-3, 1 - 1e-3), LAM, mean=ORACLE.mean, basis=DCT2Basis())
ORACLES = {"vp": ORACLE, "flow": FLOW_ORACLE}
N = 20_000
EVENT = (-2, -1)


def _sources(seed: int, model: ReverseModel) -> np.ndarray:
    """``N`` draws of X in data coordinates."""
    rng = np.random.default_rng(seed)
    return model.from_coords(model.to_coords(ORACLE.mean) + np.sqrt(LAM) * rng.standard_normal((N, *SHAPE)))


def _chain_kl_bits(model: ReverseModel, x: np.ndarray, log_snrs: list[float], seed: int) -> np.ndarray:
    """Per-sample total KL of sending Z through the schedule."""
    rng = np.random.default_rng(seed)
    times = uniform_log_snr(model.schedule, len(log_snrs), log_snrs[0], log_snrs[-1]).times
    x_c, z, total = model.to_coords(x), None, 0.0
    for k in range(len(times)):
        q, p = step_target(model, times, k, z, x_c), step_prior(model, times, k, z)
        total = total + np.sum(gaussian_kl_bits_per_coordinate(q.mean, q.std, p.mean, p.std), axis=EVENT)
        z = q.mean + q.std * rng.standard_normal(x.shape)
    return total


@pytest.mark.statistical
@pytest.mark.parametrize("oracle", ORACLES)
@pytest.mark.parametrize("n_steps", [1, 2, 6])
def test_exact_reverse_conditionals_sum_to_mutual_information(n_steps: int, oracle: str, stat_seed) -> None:
    model = ReverseModel(ORACLES[oracle], "exact")
    log_snrs = list(np.linspace(-6.0, 2.0, n_steps)) if n_steps > 1 else [2.0]
    total = _chain_kl_bits(model, _sources(stat_seed(1), model), log_snrs, seed=stat_seed(2))
    assert_mean(total, theory.mutual_information_bits(LAM, math.exp(2.0)),
                what=f"sum of KLs, {n_steps} steps")


@pytest.mark.statistical
def test_posterior_variance_costs_the_left_riemann_sum_of_i_mmse(stat_seed) -> None:
    model = ReverseModel(ORACLE, "posterior")
    log_snrs = [-6.0, -2.0, 2.0]
    x = _sources(stat_seed(3), model)
    total = _chain_kl_bits(model, x, log_snrs, seed=stat_seed(4))
    expected = theory.posterior_variance_rate_bits(LAM, np.exp(log_snrs))
    assert_mean(total, expected, what="posterior-variance rate")
    ideal = theory.mutual_information_bits(LAM, math.exp(2.0))
    assert expected - ideal > 10 * total.std() / math.sqrt(N), "the gap to I(X;Z_t) should be detectable"


def test_posterior_variance_step_cost_is_the_design_formula() -> None:
    """D = (SNR_s - SNR_u) ||x - x_hat_0(z_u)||^2 / (2 ln 2), sample by sample (docs/theory.md)."""
    model = ReverseModel(ORACLE, "posterior")
    rng = np.random.default_rng(5)
    x = _sources(5, model)[:100]
    u, s = VP.t_from_log_snr(-1.0), VP.t_from_log_snr(1.5)
    alpha_u = math.sqrt(1 / (1 + math.exp(1.0)))
    z_u = alpha_u * model.to_coords(x) + math.sqrt(1 - alpha_u**2) * rng.standard_normal(x.shape)
    q, p = model.target(z_u, model.to_coords(x), u, s), model.prior(z_u, u, s)
    kl = np.sum(gaussian_kl_bits_per_coordinate(q.mean, q.std, p.mean, p.std), axis=EVENT)
    x0 = model.predict(z_u, u)[1]
    formula = 0.5 * (math.exp(1.5) - math.exp(-1.0)) * np.sum((model.to_coords(x) - x0) ** 2, axis=EVENT)
    np.testing.assert_allclose(kl, formula / math.log(2), rtol=1e-9)


def _state_at(model: ReverseModel, log_snr: float, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Sources and Z_t in coding coordinates, drawn exactly from q(z_t | x)."""
    x = _sources(seed, model)
    alpha, sigma = math.sqrt(1 / (1 + math.exp(-log_snr))), math.sqrt(1 / (1 + math.exp(log_snr)))
    z = alpha * model.to_coords(x) + sigma * np.random.default_rng(seed + 1).standard_normal(x.shape)
    return x, z, model.schedule.t_from_log_snr(log_snr)


def _sq_errors(x_hat: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.sum((x_hat - x) ** 2, axis=EVENT)


@pytest.mark.statistical
@pytest.mark.parametrize("oracle", ORACLES)
@pytest.mark.parametrize("log_snr", [-2.0, 0.0, 3.0])
def test_mmse_and_diffc_a_distortions(log_snr: float, oracle: str, stat_seed) -> None:
    model = ReverseModel(ORACLES[oracle], "exact")
    x, z, t = _state_at(model, log_snr, seed=stat_seed(10))
    snr = math.exp(log_snr)
    assert_mean(_sq_errors(reconstruct(model, z, t, method="mmse"), x), theory.mmse(LAM, snr), what="MMSE")
    for steps in (1, 4):
        x_a = reconstruct(model, z, t, method="ancestral", steps=steps, seed=stat_seed(11))
        assert_mean(_sq_errors(x_a, x), theory.diffc_a_mse(LAM, snr), what=f"DiffC-A, {steps} steps")


def test_flow_solvers_converge_to_the_exact_ode_map_at_their_orders() -> None:
    """DDIM is first order, Heun and DPM-Solver++(2M) second order; all approach
    x = z sqrt(lam / (alpha^2 lam + sigma^2))."""
    model = ReverseModel(ORACLE, "posterior")
    _, z, t = _state_at(model, 0.0, seed=20)
    z = z[:200]
    m_c = model.to_coords(ORACLE.mean)
    alpha, sigma = math.sqrt(0.5), math.sqrt(0.5)
    exact = model.from_coords(m_c + np.sqrt(LAM / (alpha**2 * LAM + sigma**2)) * (z - alpha * m_c))

    def error(method: str, steps: int) -> float:
        return float(np.abs(reconstruct(model, z, t, method=method, steps=steps) - exact).max())

    ddim = [error("ddim", n) for n in (40, 80)]
    heun = [error("heun", n) for n in (20, 40)]
    dpm = [error("dpmpp_2m", n) for n in (20, 40, 80)]
    assert 1.7 < ddim[0] / ddim[1] < 2.3, ddim
    assert 3.4 < heun[0] / heun[1] < 4.6, heun
    assert 3.4 < dpm[1] / dpm[2] < 4.6, dpm
    assert heun[1] < 1e-2 and dpm[1] < 1e-2
    assert dpm[0] < ddim[1] / 2  # 20 calls of DPM-Solver++(2M) beat 80 of DDIM


@pytest.mark.statistical
@pytest.mark.parametrize("oracle", ORACLES)
@pytest.mark.parametrize("log_snr", [0.0, 6.0])
def test_diffc_f_distortion(log_snr: float, oracle: str, stat_seed) -> None:
    model = ReverseModel(ORACLES[oracle], "exact")
    x, z, t = _state_at(model, log_snr, seed=stat_seed(30))
    x_f = reconstruct(model, z, t, method="heun", steps=60)
    assert_mean(_sq_errors(x_f, x), theory.diffc_f_mse(LAM, math.exp(log_snr)), what="DiffC-F")


@pytest.mark.statistical
def test_flow_to_ancestral_ratio_tends_to_one_half(stat_seed) -> None:
    snrs = [math.exp(v) for v in (0, 4, 8, 12)]
    ratios = [theory.diffc_f_mse(LAM, s) / theory.diffc_a_mse(LAM, s) for s in snrs]
    assert all(a > b > 0.5 for a, b in zip(ratios[:-1], ratios[1:], strict=True)), ratios
    assert ratios[-1] - 0.5 < 2e-3
    model = ReverseModel(ORACLE, "exact")
    x, z, t = _state_at(model, 8.0, seed=stat_seed(40))
    err_a = _sq_errors(reconstruct(model, z, t, method="ancestral", steps=2, seed=stat_seed(41)), x)
    err_f = _sq_errors(reconstruct(model, z, t, method="heun", steps=60), x)
    assert_mean(err_f - ratios[2] * err_a, 0.0, what="MSE_F - ratio x MSE_A at log-SNR 8")


@pytest.mark.statistical
def test_a_and_f_have_the_source_distribution_and_mmse_does_not(stat_seed) -> None:
    model = ReverseModel(ORACLE, "exact")
    _, z, t = _state_at(model, 0.0, seed=stat_seed(50))
    m_c = model.to_coords(ORACLE.mean)

    def whitened(x_hat: np.ndarray) -> np.ndarray:
        return ((model.to_coords(x_hat) - m_c) / np.sqrt(LAM)).reshape(N, -1)

    for method, kwargs in (("ancestral", {"steps": 3, "seed": stat_seed(51)}), ("heun", {"steps": 60})):
        w = whitened(reconstruct(model, z, t, method=method, **kwargs))
        for i in range(w.shape[1]):
            assert_ks(w[:, i], stats.norm, what=f"{method} coordinate {i}")
    w_mmse = whitened(reconstruct(model, z, t, method="mmse"))
    with pytest.raises(StatisticalTestFailure):
        assert_ks(w_mmse[:, int(np.argmin(LAM))], stats.norm, what="MMSE, smallest-variance coordinate")


def test_rectified_flow_is_the_vp_process_rescaled() -> None:
    """alpha_bar = (1 - s)^2 / ((1 - s)^2 + s^2); the network's timestep is 1000 s; t_from_log_snr inverts."""
    flow = FLOW_ORACLE.schedule
    for s in (1e-3, 0.1, 0.5, 0.9, 1 - 1e-3):
        alpha, sigma = alpha_sigma(flow, s)
        assert alpha**2 == pytest.approx((1 - s) ** 2 / ((1 - s) ** 2 + s**2), rel=1e-12)
        assert sigma / (alpha + sigma) == pytest.approx(s, rel=1e-12)
        assert flow.model_timestep(s) == pytest.approx(1000 * s, rel=1e-15)
        assert flow.t_from_log_snr(flow.log_snr(s)) == pytest.approx(s, rel=1e-12)
    with pytest.raises(ValueError):
        flow.log_snr(0.0)
    with pytest.raises(ValueError):
        RectifiedFlowVP(0.5, 0.2)


def test_flow_velocity_converts_to_the_vp_oracles_epsilon() -> None:
    """The converted velocity of the flow oracle is the VP oracle's epsilon at the same log-SNR."""
    z = np.random.default_rng(60).standard_normal((7, *SHAPE))
    for log_snr in (-8.0, -1.0, 0.0, 2.5, 9.0):
        eps_flow = FLOW_ORACLE.predict_eps(z, FLOW_ORACLE.schedule.t_from_log_snr(log_snr))
        t_vp = VP.t_from_log_snr(log_snr)
        assert VP.log_snr(t_vp) == pytest.approx(log_snr, abs=1e-9)
        np.testing.assert_allclose(eps_flow, ORACLE.predict_eps(z, t_vp), rtol=1e-7, atol=1e-9)


def test_rate_distortion_by_reverse_water_filling() -> None:
    lam = np.array([4.0, 1.0, 0.25])
    assert theory.rate_distortion_mse(lam, 0.0) == pytest.approx(lam.sum())
    # only the two large components active: 1.5 = 1/2 log2(4 / theta) + 1/2 log2(1 / theta)
    theta = 2.0 ** (-(2 * 1.5 - math.log2(4.0)) / 2)
    assert theory.rate_distortion_mse(lam, 1.5) == pytest.approx(2 * theta + 0.25, rel=1e-9)
    # every coordinate active: D = n (prod lam)^(1/n) 2^(-2R/n)
    assert theory.rate_distortion_mse(lam, 6.0) == pytest.approx(
        3 * np.prod(lam) ** (1 / 3) * 2 ** (-2 * 6.0 / 3), rel=1e-9)


def test_gaussian_r_d_lies_below_every_diffc_decoder() -> None:
    for log_snr in (-4.0, 0.0, 4.0, 8.0):
        snr = math.exp(log_snr)
        bound = theory.rate_distortion_mse(LAM, theory.mutual_information_bits(LAM, snr))
        assert bound <= theory.mmse(LAM, snr) + 1e-12
        assert theory.mmse(LAM, snr) < theory.diffc_f_mse(LAM, snr) < theory.diffc_a_mse(LAM, snr)


def test_theory_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        theory.mmse([1.0, -1.0], 1.0)
    with pytest.raises(ValueError):
        theory.mutual_information_bits([1.0], math.nan)
    with pytest.raises(ValueError):
        theory.posterior_variance_rate_bits([1.0], [2.0, 1.0])
