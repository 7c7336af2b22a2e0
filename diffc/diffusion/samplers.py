"""Reconstructions of X from a noisy state ``Z_t``: the samplers of DiffC's decoders.

Each sampler is a function of a :class:`~diffc.diffusion.reverse.ReverseModel`, a state ``z`` in
its coding coordinates (leading batch axes allowed) and its time ``t``, and returns X in data
coordinates (Theis et al. 2022, "Lossy compression with Gaussian diffusion"):

* :func:`ancestral` -- DiffC-A: ancestral sampling of the reverse process (Ho et al. 2020) with
  seeded noise (:func:`noise`). With the exact reverse conditionals of a Gaussian model it samples
  ``X | Z_t`` exactly for any step count; with DDPM's posterior variance it is exact only as
  steps -> infinity.
* :func:`ddim` -- DiffC-F with DDIM at eta = 0 (Song et al. 2021, "Denoising diffusion implicit
  models"): the first-order exponential-integrator solution of the probability-flow ODE.
* :func:`heun` -- DiffC-F with Heun's second-order method on the same ODE written as
  ``d(z / alpha) / d(sigma / alpha) = eps_hat`` (Song et al. 2021, eq. 14; Karras et al. 2022).
* :func:`dpmpp_2m` -- DiffC-F with DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++: fast solver for
  guided sampling of diffusion probabilistic models", Algorithm 2): DDIM's step with ``x_hat_0``
  replaced by its linear extrapolation in log-SNR from the last two evaluations; second order at
  one denoiser call per step.
  The three solvers converge to the exact ODE map as the step count grows; none is exact.
* :func:`ddim_eta` -- the DDIM family between them: ``eta = 0`` is :func:`ddim`, ``eta = 1``
  :func:`ancestral`; the noise variance is ``eta^2`` times the ancestral one.
* :func:`mmse` -- the denoiser's ``x_hat_0(Z_t)`` (the exact posterior mean for the Gaussian oracle).

The samplers step along :func:`time_grid`: from t down to the schedule's least noisy time,
uniformly in log-SNR (rounded to table indices for a discrete schedule), at most ``steps`` times,
then jump to the data endpoint with the last ``x_hat_0`` (plus, for ancestral sampling with exact
variances, a sample of ``Var(X | Z)``). :func:`reconstruct` picks a sampler by name.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

import rcc_kernels
from diffc.diffusion.checks import MAX_SEED, checked_int
from diffc.diffusion.reverse import ReverseModel
from diffc.diffusion.schedules import VPSchedule, alpha_sigma
from rcc.randomness import Domain, key_for

__all__ = ["MAX_SOLVER_STEPS", "METHODS", "SOLVERS", "ancestral", "ddim", "ddim_eta", "dpmpp_2m", "heun",
           "mmse", "noise", "reconstruct", "time_grid"]

SOLVERS = ("ddim", "heun", "dpmpp_2m")
"""The probability-flow ODE solvers (DiffC-F)."""
METHODS = ("ancestral", *SOLVERS, "eta", "mmse")
MAX_SOLVER_STEPS = 10_000


def time_grid(schedule: VPSchedule, t: float, steps: int) -> list[float]:
    """Times from t down to the least noisy time, uniform in log-SNR, at most ``steps`` of them."""
    steps = checked_int(steps, "steps", 1, MAX_SOLVER_STEPS)
    lams = np.linspace(schedule.log_snr(t), schedule.log_snr(schedule.t_min), steps) if steps > 1 \
        else [schedule.log_snr(t)]
    times = [float(t)] + [schedule.t_from_log_snr(lam) for lam in lams[1:]]
    return [a for i, a in enumerate(times) if i == 0 or a < times[i - 1]]


def noise(seed: int, j: int, like: np.ndarray) -> np.ndarray:
    """The decoder's standard normal noise for step ``j`` of a sampler, shaped like ``like``: stream
    ``(DIFFC_NOISE, j)`` of the shared randomness, row 0, coordinates in C order (docs/randomness.md)."""
    return rcc_kernels.normal(key_for(seed, Domain.DIFFC_NOISE, (j,)), 0, 1, like.size)[0].reshape(like.shape)


def _eta_sample(model: ReverseModel, z: np.ndarray, grid: list[float], eta: float, seed: int) -> np.ndarray:
    """Generalized DDIM (Song et al. 2021, eq. 12) along ``grid``, then the jump to data."""
    for j, (u, s) in enumerate(zip(grid[:-1], grid[1:], strict=True)):
        eps, x0 = model.predict(z, u)
        alpha_s, sigma_s = alpha_sigma(model.schedule, s)
        _, _, r = model.coefficients(u, s)
        z = alpha_s * x0 + math.sqrt(sigma_s**2 * (1.0 - eta**2 * r)) * eps
        if eta > 0:
            z = z + eta * model.ancestral_std(u, s) * noise(seed, j, z)
    _, x0 = model.predict(z, grid[-1])
    if eta > 0 and model.variance == "exact":
        x0 = x0 + eta * np.sqrt(model.denoiser.x0_variance(grid[-1])) * noise(seed, len(grid) - 1, x0)
    return x0


def _valid_eta(eta: object) -> bool:
    return isinstance(eta, numbers.Real) and not isinstance(eta, bool) and 0 <= eta <= 1


def ddim_eta(model: ReverseModel, z: np.ndarray, t: float, eta: float, *, steps: int = 50,
             seed: int = 0) -> np.ndarray:
    """The DDIM family with noise scale ``eta`` in [0, 1], over at most ``steps`` times."""
    if not _valid_eta(eta):
        raise ValueError(f"eta must be a number in [0, 1], got {eta!r}")
    seed = checked_int(seed, "seed", 0, MAX_SEED)
    return model.from_coords(_eta_sample(model, z, time_grid(model.schedule, t, steps), eta, seed))


def ancestral(model: ReverseModel, z: np.ndarray, t: float, *, steps: int = 50, seed: int = 0) -> np.ndarray:
    """DiffC-A: ancestral sampling with the noise of ``seed``."""
    return ddim_eta(model, z, t, 1.0, steps=steps, seed=seed)


def ddim(model: ReverseModel, z: np.ndarray, t: float, *, steps: int = 50) -> np.ndarray:
    """DiffC-F by DDIM (no noise)."""
    return ddim_eta(model, z, t, 0.0, steps=steps)


def heun(model: ReverseModel, z: np.ndarray, t: float, *, steps: int = 50) -> np.ndarray:
    """DiffC-F by Heun's method on ``dy / d(nsr) = eps_hat``, ``y = z / alpha``, ``nsr = sigma / alpha``
    (about ``2 * steps`` denoiser calls)."""
    def nsr(t: float) -> tuple[float, float]:
        alpha, sigma = alpha_sigma(model.schedule, t)
        return alpha, sigma / alpha

    grid = time_grid(model.schedule, t, steps)
    for u, s in zip(grid[:-1], grid[1:], strict=True):
        (alpha_u, nsr_u), (alpha_s, nsr_s) = nsr(u), nsr(s)
        eps_u, _ = model.predict(z, u)
        y = z / alpha_u
        y_euler = y + (nsr_s - nsr_u) * eps_u
        eps_s, _ = model.predict(alpha_s * y_euler, s)
        z = alpha_s * (y + (nsr_s - nsr_u) * 0.5 * (eps_u + eps_s))
    return model.from_coords(model.predict(z, grid[-1])[1])


def dpmpp_2m(model: ReverseModel, z: np.ndarray, t: float, *, steps: int = 50) -> np.ndarray:
    """DiffC-F by DPM-Solver++(2M) (``steps`` denoiser calls). With ``h`` the step in half log-SNR,
    ``z_s = (sigma_s / sigma_u) z_u - alpha_s expm1(-h) D``, where ``D`` is ``x_hat_0(z_u)`` on the
    first step and ``x_hat_0 + (x_hat_0 - x_hat_0_previous) h / (2 h_previous)`` after it."""
    grid = time_grid(model.schedule, t, steps)
    previous: tuple[np.ndarray, float] | None = None
    for u, s in zip(grid[:-1], grid[1:], strict=True):
        _, x0 = model.predict(z, u)
        (_, sigma_u), (alpha_s, sigma_s) = alpha_sigma(model.schedule, u), alpha_sigma(model.schedule, s)
        h = 0.5 * (model.schedule.log_snr(s) - model.schedule.log_snr(u))
        d = x0 if previous is None else x0 + (x0 - previous[0]) * (h / (2.0 * previous[1]))
        z = (sigma_s / sigma_u) * z - alpha_s * math.expm1(-h) * d
        previous = x0, h
    return model.from_coords(model.predict(z, grid[-1])[1])


def mmse(model: ReverseModel, z: np.ndarray, t: float) -> np.ndarray:
    """The denoiser's estimate ``x_hat_0(z)`` (one denoiser call)."""
    return model.from_coords(model.predict(z, t)[1])


def reconstruct(model: ReverseModel, z: np.ndarray, t: float, *, method: str = "ancestral", steps: int = 50,
                eta: float | None = None, seed: int = 0) -> np.ndarray:
    """X in data coordinates by the sampler ``method`` (one of :data:`METHODS`) from ``z`` at ``t``.

    ``steps`` (1 .. :data:`MAX_SOLVER_STEPS`) bounds the time grid (denoiser calls: ``steps`` for
    the DDIM family and DPM-Solver++(2M), about twice that for Heun); ``eta`` is required by, and only
    accepted for, ``method="eta"``; ``seed`` seeds the noise of ancestral and eta sampling.
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    steps = checked_int(steps, "steps", 1, MAX_SOLVER_STEPS)
    seed = checked_int(seed, "seed", 0, MAX_SEED)
    if (eta is not None) != (method == "eta") or not (eta is None or _valid_eta(eta)):
        raise ValueError('give eta in [0, 1] exactly when method="eta"')
    if method == "mmse":
        return mmse(model, z, t)
    if method == "heun":
        return heun(model, z, t, steps=steps)
    if method == "dpmpp_2m":
        return dpmpp_2m(model, z, t, steps=steps)
    eta = {"ancestral": 1.0, "ddim": 0.0}.get(method, eta)
    return ddim_eta(model, z, t, eta, steps=steps, seed=seed)
