"""Where the reverse process starts when it refines a classical codec's output.

A codec's decode on the model's scale is ``y = x + e`` with a per-value error variance
``sigma_c^2``. Treating ``e`` as Gaussian noise (the approximation of compress-then-refine decoders:
Hoogeboom et al. 2023, "High-fidelity image compression with score-based generative models", and
the SDEdit start of Meng et al. 2022), ``sqrt(alpha_bar) y = sqrt(alpha_bar) x + sqrt(alpha_bar) e``
is the VP state ``Z_t`` when ``alpha_bar sigma_c^2 = 1 - alpha_bar``, i.e.
``alpha_bar = 1 / (1 + sigma_c^2)``: the reverse process started there removes exactly the codec's
error. :func:`start_time` picks that time (the least noisy time of a discrete table at least that
noisy, so the state can always be completed; ``scale`` multiplies ``sigma_c^2`` first: a decode-time
knob, above 1 more of the image is regenerated, below 1 less) and :func:`start_state` builds
``Z_t = alpha_t y + sqrt(sigma_t^2 - alpha_t^2 sigma_c^2) n``, the fresh noise ``n`` from the
shared seed (stream ``(REFINE_NOISE, 0)``) filling the gap between the codec's error and the
schedule's noise (none when they match; when ``scale < 1`` leaves the state noisier than the model
is told, no noise is added).

Exact: if ``e ~ N(0, sigma_c^2 I)`` independent of ``x``, the state is distributed as ``Z_t | X = x``
for every ``scale >= 1``, so any exact sampler from it samples ``X | Z_t`` (tests/test_refine.py's
Gaussian check). Approximate: a real codec's error is neither Gaussian, white nor independent of
the image, which is where the refinement can hurt.

Determinism: the start index of a discrete table is a comparison of ``1 / (1 + scale sigma_c^2)``
(IEEE basic operations on the file's quantized level) with the table's entries.
"""

from __future__ import annotations

import math

import numpy as np

import rcc_kernels
from diffc.diffusion.checks import MAX_SEED, checked_int, checked_real
from diffc.diffusion.schedules import VPSchedule, alpha_sigma
from rcc.randomness import Domain, key_for

__all__ = ["start_state", "start_time"]


def start_time(schedule: VPSchedule, variance: float, scale: float = 1.0) -> float:
    """The time whose ``alpha_bar`` matches a codec error of ``scale * variance`` (module docstring)."""
    variance, scale = checked_real(variance, "variance"), checked_real(scale, "scale")
    if variance < 0 or scale <= 0:
        raise ValueError(f"need variance >= 0 and scale > 0, got {variance}, {scale}")
    if variance == 0.0:
        return schedule.t_min
    target = 1.0 / (1.0 + scale * variance)
    if schedule.discrete:
        table = schedule.alphas_cumprod
        return float(next((i for i, a in enumerate(table) if a <= target), len(table) - 1))
    return schedule.t_from_log_snr(-math.log(scale * variance))


def start_state(schedule: VPSchedule, y: np.ndarray, variance: float, *, scale: float = 1.0,
                seed: int = 0) -> tuple[np.ndarray, float]:
    """``(Z_t, t)`` from the codec's decode ``y`` (model scale, data coordinates)."""
    seed = checked_int(seed, "seed", 0, MAX_SEED)
    t = start_time(schedule, variance, scale)
    alpha, sigma = alpha_sigma(schedule, t)
    y = np.asarray(y, dtype=np.float64)
    fresh = sigma**2 - alpha**2 * variance
    z = alpha * y
    if fresh > 0:
        z = z + math.sqrt(fresh) * rcc_kernels.normal(key_for(seed, Domain.REFINE_NOISE, (0,)), 0, 1,
                                                      y.size)[0].reshape(y.shape)
    return z, t
