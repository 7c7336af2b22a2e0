"""The theory printed beside measurements (``docs/theory.md``). All quantities in bits.

Index conventions: the papers count candidates from 1 (``K >= 1``); coders in :mod:`rcc.coders`
report 0-based indices, so ``K = index + 1``.

* Gaussians: :func:`gaussian_kl_bits`, :func:`gaussian_dinf_bits` (summed over coordinates of
  diagonal Gaussians).
* Poisson functional representation (Li & El Gamal 2018, "Strong functional representation lemma
  and applications to coding theorems"): ``E[log2 K] <= D + log2(e)/e + 1`` and, with a Zipf code,
  ``H[K] <= I + log2(I + 1) + 4``; the tighter ``I + log2(I + 3.4) + 1`` of Li (2025).
* Exact global samplers (greedy rejection sampling): ``E[#proposals] = 2^D_inf``.
* Fixed-N schemes: ``TV(Q, Q_N) <= P[K > N] <= E[log2 K] / log2 N`` (Markov's inequality on
  ``log2 K``, as used by Theis & Yosri 2022).
"""

from __future__ import annotations

import math

import numpy as np

from rcc.core import finite_array, real_scalar

__all__ = [
    "LN2",
    "LOG2E_OVER_E",
    "fixed_n_tv_bound",
    "gaussian_dinf_bits",
    "gaussian_divergences_bits",
    "gaussian_kl_bits",
    "gaussian_kl_bits_per_coordinate",
    "gaussian_params",
    "grs_expected_proposals",
    "li2025_bound",
    "pfr_entropy_bound",
    "pfr_log_index_bound",
]

LN2 = math.log(2.0)
"""ln 2: nats per bit."""
LOG2E_OVER_E = 0.530737845423043
"""log2(e)/e, about 0.5307 bits: the float64 nearest 1/(e ln 2), written out rather than computed
with libm so that the Zipf parameter it enters is the same bits on every machine."""


def _non_negative(value: float, name: str) -> float:
    v = real_scalar(value, name)
    if math.isnan(v) or v < 0:
        raise ValueError(f"{name} must be non-negative, got {value}")
    return v


def gaussian_params(m_q: object, s_q: object, m_p: object, s_p: object) -> tuple[np.ndarray, ...]:
    """The four parameters as broadcast float64 arrays; ValueError unless real, finite, with
    positive scales, and of shapes that broadcast."""
    names = ("mean of Q", "scale of Q", "mean of P", "scale of P")
    arrays = np.broadcast_arrays(*(finite_array(a, name) for a, name in zip((m_q, s_q, m_p, s_p), names,
                                                                            strict=True)))
    if np.any(arrays[1] <= 0) or np.any(arrays[3] <= 0):
        raise ValueError("Gaussian scales must be positive")
    return arrays


def _kl_bits(m_q: np.ndarray, s_q: np.ndarray, m_p: np.ndarray, s_p: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        nats = np.log(s_p / s_q) + (s_q**2 + (m_q - m_p) ** 2) / (2 * s_p**2) - 0.5
    # Parameters beyond ~1e154 overflow the squares (inf / inf = NaN): report an infinite KL, which
    # every consumer refuses, rather than a NaN that would slip through comparisons.
    nats = np.where(np.isnan(nats), np.inf, nats)
    return np.maximum(nats, 0.0) / LN2  # rounding can leave -1e-17 for equal laws


def _dinf_bits(m_q: np.ndarray, s_q: np.ndarray, m_p: np.ndarray, s_p: np.ndarray) -> float:
    d2 = (m_q - m_p) ** 2
    narrower = s_q < s_p
    gap = np.where(narrower, s_p**2 - s_q**2, 1.0)
    nats = np.where(narrower, np.log(s_p / s_q) + d2 / (2 * gap),
                    np.where((s_q == s_p) & (d2 == 0), 0.0, np.inf))
    return float(nats.sum() / LN2)


def gaussian_kl_bits_per_coordinate(m_q: object, s_q: object, m_p: object = 0.0,
                                    s_p: object = 1.0) -> np.ndarray:
    """D_KL[N(m_q, s_q^2) || N(m_p, s_p^2)] of each coordinate (broadcast shape):
    ``[ln(s_p/s_q) + (s_q^2 + (m_q - m_p)^2) / (2 s_p^2) - 1/2] / ln 2``."""
    return _kl_bits(*gaussian_params(m_q, s_q, m_p, s_p))


def gaussian_kl_bits(m_q: object, s_q: object, m_p: object = 0.0, s_p: object = 1.0) -> float:
    """D_KL of diagonal Gaussians, summed over coordinates (:func:`gaussian_kl_bits_per_coordinate`)."""
    return float(gaussian_kl_bits_per_coordinate(m_q, s_q, m_p, s_p).sum())


def gaussian_dinf_bits(m_q: object, s_q: object, m_p: object = 0.0, s_p: object = 1.0) -> float:
    """D_inf[N(m_q, s_q^2) || N(m_p, s_p^2)] = log2 sup dQ/dP, summed over coordinates:
    ``[ln(s_p/s_q) + (m_q - m_p)^2 / (2 (s_p^2 - s_q^2))] / ln 2`` where ``s_q < s_p``; a
    coordinate with ``s_q = s_p`` adds 0 if its means agree; otherwise the ratio is unbounded
    (``inf``)."""
    return _dinf_bits(*gaussian_params(m_q, s_q, m_p, s_p))


def gaussian_divergences_bits(m_q: object, s_q: object, m_p: object = 0.0,
                              s_p: object = 1.0) -> tuple[float, float]:
    """``(D_KL, D_inf)`` in bits of diagonal Gaussians, validating the parameters once."""
    params = gaussian_params(m_q, s_q, m_p, s_p)
    return float(_kl_bits(*params).sum()), _dinf_bits(*params)


def pfr_log_index_bound(kl_bits: float) -> float:
    """Li & El Gamal: ``E[log2 K] <= D + log2(e)/e + 1`` for the Poisson functional
    representation."""
    return _non_negative(kl_bits, "kl_bits") + LOG2E_OVER_E + 1


def pfr_entropy_bound(info_bits: float) -> float:
    """Li & El Gamal: ``H[K] <= I + log2(I + 1) + 4`` (also the mean length of the Zipf code)."""
    i = _non_negative(info_bits, "info_bits")
    return i + math.log2(i + 1) + 4


def li2025_bound(info_bits: float) -> float:
    """Li (2025), the tighter channel-simulation bound ``I + log2(I + 3.4) + 1``."""
    i = _non_negative(info_bits, "info_bits")
    return i + math.log2(i + 3.4) + 1


def grs_expected_proposals(dinf_bits: float) -> float:
    """Expected number of proposals of greedy rejection sampling (and any exact global sampler
    that draws i.i.d. candidates): ``2^D_inf``."""
    d = _non_negative(dinf_bits, "dinf_bits")
    return math.inf if d >= 1024 else 2.0**d  # 2^1024 overflows float64


def fixed_n_tv_bound(expected_log2_k: float, n: int) -> float:
    """``TV(Q, Q_N) <= E[log2 K] / log2 N`` for a scheme truncated to ``N >= 2`` candidates, where
    ``E[log2 K]`` is the untruncated search's (e.g. :func:`pfr_log_index_bound`); capped at 1."""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    e = _non_negative(expected_log2_k, "expected_log2_k")
    return 1.0 if n == 1 else min(1.0, e / math.log2(n))
