"""Denoisers: predict the noise epsilon of ``Z_t = alpha_t X + sigma_t U``, and the exact Gaussian oracle.

The protocol is the epsilon parametrization of Ho et al. (2020): given ``z_t`` and a time ``t`` of
the denoiser's own VP schedule (:mod:`diffc.diffusion.schedules`), return ``eps_hat`` with the shape
of ``z``. Leading batch axes are allowed: ``z`` has shape ``(..., *shape)``. Networks trained to
predict ``v = alpha eps - sigma x`` (Salimans & Ho 2022) or ``x0`` are wrapped by
:class:`ConvertedDenoiser`, which turns their output into epsilon with the exact identities of
:mod:`diffc.diffusion.parametrizations`; nothing downstream sees any other parametrization.

:class:`GaussianFlowOracle` is the same data seen as flow matching sees it: the exact velocity field
``E[U - X | Z_f = z_f]`` on a :class:`~diffc.diffusion.schedules.RectifiedFlowVP`, called through
:class:`ConvertedDenoiser` like an SD3 or Flux network, so the flow conversions are held to the
same closed forms (tests/test_diffc_theory.py).

:class:`GaussianOracle` is the exact posterior-mean denoiser for ``X ~ N(m, Sigma)`` with Sigma
diagonal in an orthonormal basis (identity, or the 2-D orthonormal DCT with a power-law spectrum,
a stand-in for natural images). Being Gaussian, it also knows ``Var(X | Z_t)`` and the marginal of
``Z_t`` exactly, which DiffC's theory (Theis et al. 2022, section on Gaussian data) needs; it
implements :class:`GaussianPosteriorModel` as well as :class:`Denoiser`. Everything in it is exact
up to floating point.

A denoiser's :meth:`fingerprint` is a SHA-256 of everything that determines its output (weights or
parameters, and the schedule); the container refuses to decode with a different one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import scipy.fft

from diffc.diffusion.parametrizations import CONVERSIONS, network_input
from diffc.diffusion.schedules import RectifiedFlowVP, VPSchedule, alpha_sigma

__all__ = [
    "DCT2Basis",
    "ConvertedDenoiser",
    "Denoiser",
    "GaussianFlowOracle",
    "GaussianOracle",
    "GaussianPosteriorModel",
    "IdentityBasis",
    "power_law_spectrum",
]


@runtime_checkable
class Denoiser(Protocol):
    """Predicts epsilon from ``z_t`` at a time of ``schedule`` (the schedule the model was trained on)."""

    schedule: VPSchedule

    def predict_eps(self, z: np.ndarray, t: float) -> np.ndarray: ...
    def fingerprint(self) -> bytes: ...


@runtime_checkable
class GaussianPosteriorModel(Denoiser, Protocol):
    """A denoiser whose posterior ``X | Z_t`` is Gaussian with covariance diagonal in ``basis``."""

    basis: IdentityBasis | DCT2Basis

    def x0_variance(self, t: float) -> np.ndarray: ...
    def marginal(self, t: float) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class ConvertedDenoiser:
    """Wraps ``fn(z, model_timestep) -> output`` predicting ``prediction`` into an epsilon denoiser.

    ``prediction`` uses diffusers' names: "epsilon", "v_prediction", "sample" (x0) or
    "flow_prediction" (whose network sees the flow state,
    :func:`~diffc.diffusion.parametrizations.network_input`).
    ``identity`` is the caller's fingerprint of the weights and configuration.
    """

    fn: Callable[[np.ndarray, float], np.ndarray]
    schedule: VPSchedule
    prediction: str
    identity: bytes

    def __post_init__(self) -> None:
        if self.prediction not in CONVERSIONS:
            raise ValueError(f"prediction must be one of {sorted(CONVERSIONS)}, got {self.prediction!r}")

    def predict_eps(self, z: np.ndarray, t: float) -> np.ndarray:
        alpha, sigma = alpha_sigma(self.schedule, t)
        z_in = network_input(self.prediction, z, alpha, sigma)
        out = np.asarray(self.fn(z_in, self.schedule.model_timestep(t)), dtype=np.float64)
        return CONVERSIONS[self.prediction](out, z, alpha, sigma)

    def fingerprint(self) -> bytes:
        return hashlib.sha256(b"ConvertedDenoiser:" + self.prediction.encode() + b"\x00" + self.identity
                              + self.schedule.canonical_bytes()).digest()


@dataclass(frozen=True)
class IdentityBasis:
    """The standard basis: coefficients are the values themselves."""

    name = "identity"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    def inverse(self, c: np.ndarray) -> np.ndarray:
        return c


@dataclass(frozen=True)
class DCT2Basis:
    """Orthonormal 2-D DCT-II over the last two axes (``scipy.fft.dctn(norm="ortho")``)."""

    name = "dct2"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return scipy.fft.dctn(x, axes=(-2, -1), norm="ortho")

    def inverse(self, c: np.ndarray) -> np.ndarray:
        return scipy.fft.idctn(c, axes=(-2, -1), norm="ortho")


def power_law_spectrum(shape: tuple[int, int], exponent: float = 2.0, total_variance: float | None = None
                       ) -> np.ndarray:
    """DCT-coefficient variances ``(1 + k1^2 + k2^2)^(-exponent / 2)``, scaled to mean 1 (or to sum
    ``total_variance``): the 1/f^exponent power spectrum of natural images, in the DCT basis."""
    if len(shape) != 2 or min(shape) < 1 or not exponent >= 0:
        raise ValueError("need a 2-D shape and a non-negative exponent")
    k1, k2 = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    lam = (1.0 + k1**2 + k2**2) ** (-exponent / 2)
    scale = (total_variance if total_variance is not None else lam.size) / lam.sum()
    return lam * scale


@dataclass(frozen=True, eq=False)
class GaussianOracle:
    """Exact denoiser for ``X ~ N(mean, B^T diag(variances) B)``, ``B`` an orthonormal ``basis``.

    ``mean`` is in data coordinates, ``variances`` in basis coordinates; both have the data shape.
    """

    schedule: VPSchedule
    variances: np.ndarray
    mean: np.ndarray | None = None
    basis: IdentityBasis | DCT2Basis = field(default_factory=IdentityBasis)
    _mean_b: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lam = np.asarray(self.variances, dtype=np.float64)
        if lam.ndim == 0 or not np.all(np.isfinite(lam)) or np.any(lam <= 0):
            raise ValueError("variances must be a finite, positive array with the data shape")
        if isinstance(self.basis, DCT2Basis) and lam.ndim < 2:
            raise ValueError("the 2-D DCT basis needs data with at least two axes")
        mean = np.zeros_like(lam) if self.mean is None else np.asarray(self.mean, dtype=np.float64)
        if mean.shape != lam.shape or not np.all(np.isfinite(mean)):
            raise ValueError(f"mean must be finite with shape {lam.shape}")
        object.__setattr__(self, "variances", lam)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "_mean_b", self.basis.forward(mean))

    @property
    def shape(self) -> tuple[int, ...]:
        return self.variances.shape

    def predict_eps(self, z: np.ndarray, t: float) -> np.ndarray:
        alpha, sigma = alpha_sigma(self.schedule, t)
        z_b = self.basis.forward(np.asarray(z, dtype=np.float64))
        m_b, lam = self._mean_b, self.variances
        x0_b = m_b + alpha * lam / (alpha**2 * lam + sigma**2) * (z_b - alpha * m_b)
        return self.basis.inverse((z_b - alpha * x0_b) / sigma)

    def x0_variance(self, t: float) -> np.ndarray:
        """``Var(X | Z_t)`` per basis coordinate: ``lambda sigma^2 / (alpha^2 lambda + sigma^2)``."""
        alpha, sigma = alpha_sigma(self.schedule, t)
        return self.variances * sigma**2 / (alpha**2 * self.variances + sigma**2)

    def marginal(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of ``Z_t`` per basis coordinate."""
        alpha, sigma = alpha_sigma(self.schedule, t)
        return alpha * self._mean_b, np.sqrt(alpha**2 * self.variances + sigma**2)

    def fingerprint(self) -> bytes:
        h = hashlib.sha256(b"GaussianOracle:" + self.basis.name.encode() + b"\x00")
        h.update(np.asarray(self.shape, dtype=">i8").tobytes())
        h.update(self.variances.astype(">f8").tobytes())
        h.update(self.mean.astype(">f8").tobytes())
        h.update(self.schedule.canonical_bytes())
        return h.digest()


@dataclass(frozen=True, eq=False)
class GaussianFlowOracle(GaussianOracle):
    """The exact flow-matching velocity of ``X ~ N(mean, B^T diag(variances) B)``, as a network.

    :meth:`velocity` takes the flow state ``z_f = (1 - s) X + s U`` and the network timestep
    ``s * train_timesteps`` and returns ``E[U - X | z_f]``, derived in flow coordinates (never from
    the VP oracle): with ``a = 1 - s``, ``x_hat = m + a lambda / (a^2 lambda + s^2) (z_f - a m)`` per
    basis coordinate and ``u_hat = (z_f - a x_hat) / s``. :meth:`predict_eps` goes through
    :class:`ConvertedDenoiser` exactly as a flow network does. The posterior variance and marginal
    are parametrization-free and inherited.
    """

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, RectifiedFlowVP):
            raise ValueError("a flow oracle needs a RectifiedFlowVP schedule")
        super().__post_init__()

    def velocity(self, z_f: np.ndarray, timestep: float) -> np.ndarray:
        s = timestep / self.schedule.train_timesteps
        a, lam, m_b = 1.0 - s, self.variances, self._mean_b
        z_b = self.basis.forward(np.asarray(z_f, dtype=np.float64))
        x_b = m_b + a * lam / (a**2 * lam + s**2) * (z_b - a * m_b)
        return self.basis.inverse((z_b - a * x_b) / s - x_b)

    def predict_eps(self, z: np.ndarray, t: float) -> np.ndarray:
        return ConvertedDenoiser(self.velocity, self.schedule, "flow_prediction", b"").predict_eps(z, t)

    def fingerprint(self) -> bytes:
        return hashlib.sha256(b"GaussianFlowOracle:" + super().fingerprint()).digest()
