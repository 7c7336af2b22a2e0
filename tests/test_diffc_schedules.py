"""VP schedules, encoding schedules and their hash, denoiser conversions and the reverse step."""

from __future__ import annotations

import hashlib
import math
import struct

import numpy as np
import pytest

from diffc.diffusion import theory
from diffc.diffusion.denoisers import ConvertedDenoiser, DCT2Basis, GaussianOracle, power_law_spectrum
from diffc.diffusion.reverse import ReverseModel
from diffc.diffusion.schedules import ContinuousVP, DiscreteVP, EncodingSchedule, RectifiedFlowVP, alpha_sigma
from diffc.diffusion.spacing import equal_kl, uniform_log_snr, uniform_t


@pytest.mark.parametrize("kind", ["cosine", "linear_log_snr"])
def test_continuous_endpoints_and_inverse(kind: str) -> None:
    vp = ContinuousVP(kind, -12.0, 10.0)
    assert vp.log_snr(0.0) == pytest.approx(10.0) and vp.log_snr(1.0) == pytest.approx(-12.0)
    for t in np.linspace(0, 1, 11):
        assert vp.t_from_log_snr(vp.log_snr(t)) == pytest.approx(t, abs=1e-12)
        alpha, sigma = alpha_sigma(vp, t)
        assert alpha**2 + sigma**2 == pytest.approx(1.0)
    assert all(np.diff([vp.log_snr(t) for t in np.linspace(0, 1, 50)]) < 0)


def test_discrete_index_convention_matches_diffusers() -> None:
    diffusers = pytest.importorskip("diffusers")
    sched = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    vp = DiscreteVP.from_diffusers(sched)
    # diffusers keeps the table in float32
    np.testing.assert_allclose(vp.alphas_cumprod, DiscreteVP.linear(1000).alphas_cumprod, rtol=1e-5)
    # Z at index i has alpha^2 = alphas_cumprod[i]: exactly what the scheduler's add_noise uses at timestep i
    torch = pytest.importorskip("torch")
    x, noise = torch.ones(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    for i in (0, 499, 999):
        noisy = sched.add_noise(x, noise, torch.tensor([i]))
        assert alpha_sigma(vp, i)[0] == pytest.approx(float(noisy), rel=1e-6)
        assert vp.model_timestep(i) == i
    with pytest.raises(ValueError, match="integer"):
        vp.log_snr(2.5)


def test_flow_time_convention_matches_diffusers() -> None:
    """diffusers' flow scheduler pairs sigma with timestep 1000 sigma and noises as (1 - s) x + s eps:
    RectifiedFlowVP gives the same timestep for the same s, and its VP state times 1 / (alpha + sigma)."""
    diffusers = pytest.importorskip("diffusers")
    torch = pytest.importorskip("torch")
    sched = diffusers.FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0)
    vp = RectifiedFlowVP(1e-3, 1 - 1e-3, 1000)
    x, noise = torch.ones(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    for k in (50, 500, 998):  # sigma = 1 (k = 0) is pure noise, outside every VP schedule
        s, t = float(sched.sigmas[k]), sched.timesteps[k]
        assert vp.model_timestep(s) == pytest.approx(float(t), rel=1e-5, abs=1e-3)
        alpha, sigma = alpha_sigma(vp, s)
        flow_state = float(sched.scale_noise(x, t[None], noise))
        assert alpha / (alpha + sigma) == pytest.approx(flow_state, rel=1e-5, abs=1e-6)


def test_encoding_schedule_digest_is_the_documented_sha256() -> None:
    vp = ContinuousVP("linear_log_snr", -15.0, 15.0)
    s = EncodingSchedule(vp, (0.75, 0.5, 0.25))
    canonical = b"ContinuousVP:linear_log_snr" + struct.pack(">2d", -15.0, 15.0)
    expected = hashlib.sha256(b"diffc-encoding-schedule/1\x00" + canonical + b"\x00"
                              + struct.pack(">3d", 0.75, 0.5, 0.25)).digest()
    assert s.digest() == expected == EncodingSchedule(vp, (0.75, 0.5, 0.25)).digest()
    assert s.digest() != EncodingSchedule(vp, (0.75, 0.5, 0.2)).digest()
    assert s.digest() != EncodingSchedule(ContinuousVP("cosine", -15.0, 15.0), (0.75, 0.5, 0.25)).digest()
    assert hash(s) == hash(EncodingSchedule(vp, (0.75, 0.5, 0.25)))
    assert s.prefix(2).times == (0.75, 0.5)
    with pytest.raises(ValueError, match="decrease"):
        EncodingSchedule(vp, (0.5, 0.75))


def test_presets() -> None:
    vp = ContinuousVP("cosine")
    s = uniform_log_snr(vp, 5, -6.0, 2.0)
    np.testing.assert_allclose(s.log_snrs(), np.linspace(-6, 2, 5), atol=1e-9)
    assert uniform_t(vp, 3, 0.9, 0.1).times == pytest.approx((0.9, 0.5, 0.1))
    ddpm = DiscreteVP.linear(1000)
    assert uniform_t(ddpm, 4, 999, 99).times == (999.0, 699.0, 399.0, 99.0)
    with pytest.raises(ValueError, match="same"):
        uniform_log_snr(DiscreteVP.linear(10), 40, -5.0, 5.0)


def test_equal_kl_builder_equalizes_the_mutual_information_increments() -> None:
    lam = power_law_spectrum((8, 8))
    vp = ContinuousVP("cosine", -15.0, 15.0)
    s = equal_kl(vp, 6, lambda v: theory.mutual_information_bits(lam, math.exp(v)), 3.0)
    bits = [theory.mutual_information_bits(lam, math.exp(v)) for v in s.log_snrs()]
    np.testing.assert_allclose(np.diff([0.0, *bits]), bits[-1] / 6, rtol=1e-6)


def test_v_and_x0_predictions_convert_to_the_same_epsilon() -> None:
    vp = ContinuousVP("cosine")
    oracle = GaussianOracle(vp, power_law_spectrum((4, 4)), basis=DCT2Basis())
    z = np.random.default_rng(0).standard_normal((3, 4, 4))

    def x0_of(z: np.ndarray, t: float) -> np.ndarray:
        alpha, sigma = alpha_sigma(vp, t)
        return (z - sigma * oracle.predict_eps(z, t)) / alpha

    def v_of(z: np.ndarray, t: float) -> np.ndarray:
        alpha, sigma = alpha_sigma(vp, t)
        return alpha * oracle.predict_eps(z, t) - sigma * x0_of(z, t)

    for prediction, fn in (("sample", x0_of), ("v_prediction", v_of)):
        wrapped = ConvertedDenoiser(fn, vp, prediction, b"oracle")
        for t in (0.1, 0.5, 0.9):
            np.testing.assert_allclose(wrapped.predict_eps(z, t), oracle.predict_eps(z, t), atol=1e-10)
    fingerprints = {ConvertedDenoiser(x0_of, vp, p, b"oracle").fingerprint() for p in ("sample", "epsilon")}
    assert len(fingerprints) == 2
    assert oracle.fingerprint() != GaussianOracle(vp, oracle.variances * 2, basis=DCT2Basis()).fingerprint()


def test_posterior_step_matches_ddpm_on_consecutive_indices() -> None:
    """Ho et al. (2020) eq. 7: beta_tilde_i = (1 - abar_{i-1}) / (1 - abar_i) beta_i and the mean
    coefficients sqrt(abar_{i-1}) beta_i / (1 - abar_i) on x0 and
    sqrt(alpha_i)(1 - abar_{i-1}) / (1 - abar_i) on z."""
    vp = DiscreteVP.linear(1000)
    model = ReverseModel(ConvertedDenoiser(lambda z, t: np.zeros_like(z), vp, "sample", b"zero"))
    abar = np.asarray(vp.alphas_cumprod)
    for i in (1, 10, 500, 999):
        beta = 1 - abar[i] / abar[i - 1]
        a_z, a_x, r = model.coefficients(i, i - 1)
        _, sigma_s = alpha_sigma(vp, i - 1)
        assert sigma_s**2 * r == pytest.approx((1 - abar[i - 1]) / (1 - abar[i]) * beta, rel=1e-9)
        assert a_x == pytest.approx(math.sqrt(abar[i - 1]) * beta / (1 - abar[i]), rel=1e-9)
        assert a_z == pytest.approx(math.sqrt(1 - beta) * (1 - abar[i - 1]) / (1 - abar[i]), rel=1e-9)


def test_models_reject_bad_configuration() -> None:
    vp = ContinuousVP()
    with pytest.raises(ValueError, match="exact"):
        ReverseModel(ConvertedDenoiser(lambda z, t: z, vp, "epsilon", b""), "exact")
    with pytest.raises(ValueError, match="positive"):
        GaussianOracle(vp, np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="prediction"):
        ConvertedDenoiser(lambda z, t: z, vp, "score", b"")
    with pytest.raises(ValueError):
        ContinuousVP("cosine", 5.0, -5.0)
