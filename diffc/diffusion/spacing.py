"""Spacing rules: the times at which DiffC sends Z (an :class:`~diffc.diffusion.schedules.EncodingSchedule`).

DiffC (Theis et al. 2022, "Lossy compression with Gaussian diffusion") sends Z at a decreasing
sequence of times of a schedule. The rules:

* :func:`uniform_log_snr`, :func:`uniform_t`: evenly spaced in log-SNR or in t;
* :func:`equal_kl`: where a caller-supplied cumulative rate (e.g. the Gaussian ``I(X; Z_t)`` of
  :mod:`diffc.diffusion.theory`) grows by the same amount at every step;
* :func:`image_schedule`: the image codec's rule. The noisiest Z of the table goes first (almost
  free), then steps of equal expected cost under a 1/f^2 Gaussian model
  (:func:`~diffc.diffusion.denoisers.power_law_spectrum`, per-value variance
  :data:`SPACING_VARIANCE`) up to log-SNR :data:`LAST_LOG_SNR`. With the posterior variance on
  both sides, a step from SNR ``g`` to ``g'`` costs ``(g' - g) mmse(g) / (2 ln 2)`` bits per value
  (:mod:`diffc.diffusion.theory`), so the SNRs follow ``g' = g + c / mmse(g)`` with ``c`` set to
  land on the last SNR: small steps while the estimate is poor, larger ones later. The Gaussian
  model only spaces the steps; the learned model decides what each one really costs. A learned
  model's error falls far faster with the SNR than a Gaussian's of the photographs' own variance
  (about 0.25 in [-1, 1]) once the first steps have fixed the coarse layout, so that variance put
  a third of the rate into the first step, where the left-endpoint sum ``(g' - g) mmse(g)`` most
  overstates the integral of ``mmse``; the default variance is calibrated instead on a trained
  model's measured per-step rates (docs/image_schedule.md), which spaces the early steps finer.

Both searches solve a monotone equation by :func:`diffc.diffusion.theory.bisect`; discrete
schedules round each time to the nearest table index. A file writes the times it was encoded at
(docs/container.md), so these rules' arithmetic is not part of the format: the decoder never reruns them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

from diffc.diffusion.denoisers import power_law_spectrum
from diffc.diffusion.schedules import EncodingSchedule, VPSchedule
from diffc.diffusion.theory import bisect

__all__ = [
    "DEFAULT_STEPS",
    "LAST_LOG_SNR",
    "MAX_IMAGE_STEPS",
    "SPACING_VARIANCE",
    "equal_kl",
    "image_schedule",
    "uniform_log_snr",
    "uniform_t",
]

LAST_LOG_SNR = 4.0
"""The log-SNR of the image codec's last step."""
SPACING_VARIANCE = 8.0
"""Per-value variance of the Gaussian model that spaces the image steps: not the photographs' variance
(about 0.25) but a value calibrated on the default model's measured rates (docs/image_schedule.md,
``benchmarks/image_schedule.py``)."""
MAX_IMAGE_STEPS = 128
DEFAULT_STEPS = 16
"""The image codec's number of steps when none is given."""


def _from_log_snrs(vp: VPSchedule, log_snrs: Sequence[float]) -> EncodingSchedule:
    times = [vp.t_from_log_snr(lam) for lam in log_snrs]
    if len(set(times)) != len(times):
        raise ValueError("two steps fall on the same time of the schedule (too many steps for the table)")
    return EncodingSchedule(vp, tuple(times))


def uniform_log_snr(vp: VPSchedule, n_steps: int, log_snr_first: float,
                    log_snr_last: float) -> EncodingSchedule:
    """``n_steps`` times with log-SNR evenly spaced from ``log_snr_first`` (noisiest) to ``log_snr_last``."""
    if n_steps < 1 or (n_steps > 1 and not log_snr_first < log_snr_last):
        raise ValueError("need n_steps >= 1 and log_snr_first < log_snr_last")
    return _from_log_snrs(vp, np.linspace(log_snr_first, log_snr_last, n_steps))


def uniform_t(vp: VPSchedule, n_steps: int, t_first: float, t_last: float) -> EncodingSchedule:
    """``n_steps`` times evenly spaced in t from ``t_first`` (noisiest) down to ``t_last``."""
    if n_steps < 1 or (n_steps > 1 and not t_first > t_last):
        raise ValueError("need n_steps >= 1 and t_first > t_last")
    times = np.linspace(t_first, t_last, n_steps)
    if vp.discrete:
        times = np.round(times)
        if len(set(times)) != n_steps:
            raise ValueError("two steps fall on the same index of the table")
    return EncodingSchedule(vp, tuple(times))


def equal_kl(vp: VPSchedule, n_steps: int, cumulative_bits: Callable[[float], float],
             log_snr_last: float) -> EncodingSchedule:
    """Times at which ``cumulative_bits(log_snr)`` reaches k/n of its value at ``log_snr_last``.

    ``cumulative_bits`` is the expected rate to reach Z at that log-SNR and must increase with it;
    for exact reverse conditionals it is I(X; Z) (:func:`diffc.diffusion.theory.mutual_information_bits`),
    and then every step costs the same expected KL. The first step gets an equal share too.
    """
    if n_steps < 1:
        raise ValueError("n_steps must be >= 1")
    lo, hi = vp.log_snr(vp.t_max), float(log_snr_last)
    total = float(cumulative_bits(hi))
    if not total > 0:
        raise ValueError("cumulative_bits at log_snr_last must be positive")

    def reach(bits: float) -> float:
        if cumulative_bits(lo) >= bits:
            return lo
        a, b = bisect(cumulative_bits, bits, lo, hi, 80)
        return 0.5 * (a + b)

    return _from_log_snrs(vp, [*(reach(total * (k + 1) / n_steps) for k in range(n_steps - 1)), hi])


@lru_cache(maxsize=64)
def _spectrum(size: tuple[int, int], variance: float) -> tuple[np.ndarray, np.ndarray]:
    """Distinct power-law variances of an ``H x W`` image and how often each occurs."""
    lam = power_law_spectrum(size, 2.0, total_variance=variance * size[0] * size[1])
    return np.unique(lam, return_counts=True)


def _equal_cost_snrs(mmse: Callable[[float], float], first: float, last: float, gaps: int) -> list[float]:
    """SNRs ``first = g_0 < ... < g_gaps = last`` with ``(g_{k+1} - g_k) mmse(g_k)`` the same for all k."""
    def walk(c: float) -> list[float]:
        snrs = [first]
        for _ in range(gaps):
            snrs.append(snrs[-1] + c / mmse(snrs[-1]))
        return snrs

    # One gap of cost (last - first) mmse(first) already reaches ``last``; the upper end of the
    # bracket is a cost whose walk does.
    _, c = bisect(lambda c: walk(c)[-1], last, 0.0, (last - first) * mmse(first), 60)
    return [*walk(c)[:-1], last]


@lru_cache(maxsize=256)
def image_schedule(vp: VPSchedule, shape: tuple[int, ...], steps: int,
                   variance: float = SPACING_VARIANCE) -> EncodingSchedule:
    """The image codec's encoding schedule for model-space arrays of ``shape = (C, H, W)``, spaced by
    the Gaussian model of per-value ``variance`` (module doc)."""
    if not 1 <= steps <= MAX_IMAGE_STEPS:
        raise ValueError(f"steps must be in [1, {MAX_IMAGE_STEPS}], got {steps}")
    if not (math.isfinite(variance) and variance > 0):
        raise ValueError(f"variance must be a positive number, got {variance}")
    values, counts = _spectrum(tuple(shape[-2:]), float(variance))
    weights = counts / counts.sum()

    def mmse(snr: float) -> float:
        return float(np.dot(weights, values / (1.0 + snr * values)))

    first = vp.t_max
    if steps == 1:
        return EncodingSchedule(vp, (first,))
    snrs = _equal_cost_snrs(mmse, math.exp(vp.log_snr(first)), math.exp(LAST_LOG_SNR), steps - 1)
    times = [vp.t_from_log_snr(math.log(g)) for g in snrs[1:]]
    if len(set(times)) != len(times) or min(times) >= first:
        raise ValueError(f"{steps} steps do not fit distinct times of this model's table")
    return EncodingSchedule(vp, (first, *times))
