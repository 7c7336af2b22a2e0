"""Closed forms for DiffC on Gaussian data X ~ N(m, diag(lambda)) with the exact model.

From Theis et al. (2022), "Lossy compression with Gaussian diffusion", section on Gaussian data,
for the VP channel ``Z_t = alpha_t X + sigma_t U`` with ``snr = alpha_t^2 / sigma_t^2`` (all sums
over the coordinates of the model's basis; rates in bits, distortions as summed squared error):

* ideal rate to reach Z_t: ``I(X; Z_t) = 1/2 sum log2(1 + snr lambda_i)``, for any number of steps
  when every step uses the exact reverse conditional;
* MMSE estimator ``E[X | Z_t]``: ``sum lambda_i / (1 + snr lambda_i)``;
* DiffC-A (a sample of ``X | Z_t``): twice the MMSE;
* DiffC-F (probability-flow ODE, ``x_i = z_i sqrt(lambda_i / (alpha^2 lambda_i + sigma^2))``):
  ``sum 2 lambda_i (1 - sqrt(snr lambda_i / (1 + snr lambda_i)))``; MSE_F / MSE_A -> 1/2 as
  sigma_t -> 0 (the "3 dB" result);
* with the *posterior* variance on both sides of every step (DDPM's reverse variance,
  docs/theory.md), the expected cost of the step from snr_u to snr_s is
  ``(snr_s - snr_u) MMSE(snr_u) / (2 ln 2)``: a left Riemann sum of the I-MMSE integral (Guo,
  Shamai & Verdu 2005), above I(X; Z_t) and converging to it as the steps get finer;
* Gaussian R(D) by reverse water-filling (Cover & Thomas, theorem 10.3.3).

All formulas are exact; :func:`rate_distortion_mse` solves the water level by bisection
(:func:`bisect`, the diffusion layer's one root finder) to machine precision.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from rcc.bounds import LN2

__all__ = [
    "bisect",
    "diffc_a_mse",
    "diffc_f_mse",
    "mmse",
    "mutual_information_bits",
    "posterior_variance_rate_bits",
    "rate_distortion_mse",
]


def bisect(fn: Callable[[float], float], target: float, lo: float, hi: float,
           iters: int) -> tuple[float, float]:
    """The bracket ``(lo, hi)`` of ``fn(x) = target`` after ``iters`` halvings, ``fn`` increasing.

    Keeps ``fn(lo) < target <= fn(hi)`` when it holds at the start.
    """
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if fn(mid) < target else (lo, mid)
    return lo, hi


def _lam(variances: object) -> np.ndarray:
    lam = np.asarray(variances, dtype=np.float64).ravel()
    if lam.size == 0 or not np.all(np.isfinite(lam)) or np.any(lam <= 0):
        raise ValueError("variances must be finite and positive")
    return lam


def _snr(snr: float) -> float:
    if not (math.isfinite(snr) and snr >= 0):
        raise ValueError(f"snr must be finite and non-negative, got {snr}")
    return float(snr)


def mutual_information_bits(variances: object, snr: float) -> float:
    """``I(X; Z_t)`` in bits."""
    return float(0.5 * np.sum(np.log1p(_snr(snr) * _lam(variances))) / LN2)


def mmse(variances: object, snr: float) -> float:
    """Summed MMSE of estimating X from Z_t."""
    lam = _lam(variances)
    return float(np.sum(lam / (1.0 + _snr(snr) * lam)))


def diffc_a_mse(variances: object, snr: float) -> float:
    """Summed squared error of DiffC-A (an exact posterior sample): 2 x MMSE."""
    return 2.0 * mmse(variances, snr)


def diffc_f_mse(variances: object, snr: float) -> float:
    """Summed squared error of DiffC-F (the exact probability-flow ODE from Z_t)."""
    lam = _lam(variances)
    g = _snr(snr) * lam
    return float(np.sum(2.0 * lam * (1.0 - np.sqrt(g / (1.0 + g)))))


def posterior_variance_rate_bits(variances: object, snrs: Sequence[float]) -> float:
    """Expected total KL of DiffC through ``snrs`` (increasing) with the posterior variance.

    The first step, sent against the exact marginal of Z, costs ``I(X; Z)``; each later step costs
    ``(snr_s - snr_u) MMSE(snr_u) / (2 ln 2)``.
    """
    s = [_snr(v) for v in snrs]
    if not s or any(b <= a for a, b in zip(s[:-1], s[1:], strict=True)):
        raise ValueError("snrs must be non-empty and strictly increasing")
    steps = sum((b - a) * mmse(variances, a) for a, b in zip(s[:-1], s[1:], strict=True))
    return mutual_information_bits(variances, s[0]) + steps / (2 * LN2)


def rate_distortion_mse(variances: object, bits: float) -> float:
    """Smallest summed MSE at ``bits`` for X ~ N(0, diag(lambda)) (reverse water-filling)."""
    lam = _lam(variances)
    if not (math.isfinite(bits) and bits >= 0):
        raise ValueError(f"bits must be finite and non-negative, got {bits}")

    def rate(log_theta: float) -> float:
        return float(0.5 * np.sum(np.maximum(0.0, np.log2(lam) - log_theta / LN2)))

    # rate decreases in the water level: bisect -rate, which increases
    lo, hi = bisect(lambda log_theta: -rate(log_theta), -bits, math.log(lam.min()) - 2 * LN2 * bits / lam.size
                    - 1.0, math.log(lam.max()), 200)
    theta = math.exp(0.5 * (lo + hi))
    return float(np.sum(np.minimum(theta, lam)))
