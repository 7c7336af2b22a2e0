"""One step of VP diffusion backwards: the posterior q(z_s | z_u, x) and the model's p(z_s | z_u).

For times ``s < u`` (u noisier) of a VP schedule, the forward posterior is Gaussian (Ho et al.
2020, eq. 6-7; Kingma et al. 2021, appendix A), with ``r = 1 - SNR_u / SNR_s``:

    q(z_s | z_u, x) = N(a_z z_u + a_x x, sigma_s^2 r I),   a_x = alpha_s r,
                                                          a_z = (1 - r) alpha_s / alpha_u.

The model replaces x by the denoiser's estimate ``x_hat_0(z_u)``. Its variance is either
``"posterior"`` -- the same ``sigma_s^2 r`` as q (DDPM's choice), so that a step costs
``D = (SNR_s - SNR_u) ||x - x_hat_0||^2 / (2 ln 2)`` bits (docs/theory.md) -- or ``"exact"`` -- the
posterior variance plus ``a_x^2 Var(X | z_u)``, the true reverse conditional when the model knows
``Var(X | Z_u)`` (a :class:`~diffc.diffusion.denoisers.GaussianPosteriorModel`; the optimal variance
of Bao et al. 2022, "Analytic-DPM"). With "exact" on Gaussian data the expected KLs of DiffC's
steps add up to I(X; Z_t) for any number of steps (Theis et al. 2022); with "posterior" they
exceed it by a discretisation gap that vanishes as the steps get finer.

DiffC's step k (:func:`step_target`, :func:`step_prior`) sends ``Z_{t_k}`` from q against p; step 0
sends ``q(z | x) = N(alpha x, sigma^2 I)`` against the model's marginal of Z (exact for a Gaussian
model, N(0, I) otherwise).

All arrays are in *coding coordinates*: the model's orthonormal basis (the identity for networks).
Both q and p are diagonal there, which is what the Gaussian channel needs; the diffusion noise is
isotropic, so the change of basis is exact. ``project`` maps ``x_hat_0`` in data coordinates
(:class:`Box`: clipping to a value range), identically for the encoder and every decoder.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from diffc.diffusion.denoisers import Denoiser, GaussianPosteriorModel, IdentityBasis
from diffc.diffusion.schedules import VPSchedule, alpha_sigma

__all__ = ["VARIANCES", "Box", "Gaussian", "Projection", "ReverseModel", "step_prior", "step_target"]

VARIANCES = ("posterior", "exact")


@dataclass(frozen=True)
class Gaussian:
    """Diagonal Gaussian: mean and standard deviation arrays (broadcastable)."""

    mean: np.ndarray
    std: np.ndarray

    def flat(self, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation broadcast to ``shape`` and flattened (the channel's input)."""
        return tuple(np.ascontiguousarray(np.broadcast_to(a, shape), dtype=np.float64).ravel()
                     for a in (self.mean, self.std))


Projection = Callable[[np.ndarray], np.ndarray]
"""A map of ``x_hat_0`` in data coordinates onto the set where the data lie (leading batch axes allowed)."""


@dataclass(frozen=True)
class Box:
    """The projection onto ``[low, high]`` in every coordinate: clipping, as DDPM's samplers clip x0."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"clip range must be (low, high) with low < high, got {(self.low, self.high)}")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x, self.low, self.high)


@dataclass(frozen=True, eq=False)
class ReverseModel:
    """The denoiser seen as a reverse process, with its variance choice and an optional projection of x0."""

    denoiser: Denoiser
    variance: str = "posterior"
    project: Projection | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.denoiser, Denoiser):
            raise TypeError(f"{type(self.denoiser).__name__} does not implement the Denoiser protocol")
        if self.variance not in VARIANCES:
            raise ValueError(f"variance must be one of {VARIANCES}, got {self.variance!r}")
        if self.variance == "exact" and not self.knows_posterior:
            raise ValueError('variance="exact" needs a model that knows Var(X | Z_t) (e.g. GaussianOracle)')

    @property
    def knows_posterior(self) -> bool:
        return isinstance(self.denoiser, GaussianPosteriorModel)

    @property
    def basis(self) -> object:
        return self.denoiser.basis if self.knows_posterior else IdentityBasis()

    @property
    def schedule(self) -> VPSchedule:
        return self.denoiser.schedule

    def to_coords(self, x: np.ndarray) -> np.ndarray:
        return self.basis.forward(np.asarray(x, dtype=np.float64))

    def from_coords(self, c: np.ndarray) -> np.ndarray:
        return self.basis.inverse(c)

    def predict(self, z: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        """``(eps_hat, x_hat_0)`` in coding coordinates; after the projection they stay consistent with z."""
        alpha, sigma = alpha_sigma(self.schedule, t)
        eps = self.to_coords(self.denoiser.predict_eps(self.from_coords(z), t))
        x0 = (z - sigma * eps) / alpha
        if self.project is None:
            return eps, x0
        x0 = self.to_coords(self.project(self.from_coords(x0)))
        return (z - alpha * x0) / sigma, x0

    def coefficients(self, u: float, s: float) -> tuple[float, float, float]:
        """``(a_z, a_x, r)`` of the posterior step from u to s (see the module docstring)."""
        lam_u, lam_s = self.schedule.log_snr(u), self.schedule.log_snr(s)
        if not lam_s > lam_u:
            raise ValueError(f"a reverse step needs s less noisy than u (got u={u}, s={s})")
        alpha_u, _ = alpha_sigma(self.schedule, u)
        alpha_s, _ = alpha_sigma(self.schedule, s)
        r = -math.expm1(lam_u - lam_s)
        return (1.0 - r) * alpha_s / alpha_u, alpha_s * r, r

    def first_prior(self, t: float) -> Gaussian:
        """The model's marginal of ``Z_t``: exact for a Gaussian model, N(0, I) otherwise
        (the usual assumption that the noisiest step carries almost no signal)."""
        if self.knows_posterior:
            return Gaussian(*self.denoiser.marginal(t))
        return Gaussian(np.zeros(()), np.ones(()))

    def first_target(self, x_c: np.ndarray, t: float) -> Gaussian:
        """``q(z_t | x) = N(alpha_t x, sigma_t^2 I)``."""
        alpha, sigma = alpha_sigma(self.schedule, t)
        return Gaussian(alpha * x_c, np.full((), sigma))

    def target(self, z_u: np.ndarray, x_c: np.ndarray, u: float, s: float) -> Gaussian:
        """``q(z_s | z_u, x)``."""
        a_z, a_x, r = self.coefficients(u, s)
        _, sigma_s = alpha_sigma(self.schedule, s)
        return Gaussian(a_z * z_u + a_x * x_c, np.full((), sigma_s * math.sqrt(r)))

    def prior(self, z_u: np.ndarray, u: float, s: float, x0: np.ndarray | None = None) -> Gaussian:
        """The model's ``p(z_s | z_u)``, with the variance choice of this model; ``x0`` is the
        model's x0 prediction at ``(z_u, u)`` when the caller already has it."""
        a_z, a_x, _ = self.coefficients(u, s)
        if x0 is None:
            _, x0 = self.predict(z_u, u)
        return Gaussian(a_z * z_u + a_x * x0, self.ancestral_std(u, s))

    def ancestral_std(self, u: float, s: float) -> np.ndarray:
        """Standard deviation of ``p(z_s | z_u)`` (does not depend on ``z_u``)."""
        _, a_x, r = self.coefficients(u, s)
        _, sigma_s = alpha_sigma(self.schedule, s)
        var = np.full((), sigma_s**2 * r)
        if self.variance == "exact":
            var = var + a_x**2 * self.denoiser.x0_variance(u)
        return np.sqrt(var)


def step_prior(model: ReverseModel, times: Sequence[float], k: int, z_prev: np.ndarray | None,
               x0_prev: np.ndarray | None = None) -> Gaussian:
    """What the decoder knows before DiffC's step ``k`` to ``times[k]``: the model's distribution of
    ``Z_{t_k}`` (``x0_prev``: the model's x0 prediction from ``z_prev``, when already computed)."""
    if k == 0:
        return model.first_prior(times[0])
    return model.prior(z_prev, times[k - 1], times[k], x0_prev)


def step_target(model: ReverseModel, times: Sequence[float], k: int, z_prev: np.ndarray | None,
                x_c: np.ndarray) -> Gaussian:
    """What the encoder wants the decoder to sample at DiffC's step ``k`` (``x_c``: X in coding
    coordinates)."""
    if k == 0:
        return model.first_target(x_c, times[0])
    return model.target(z_prev, x_c, times[k - 1], times[k])
