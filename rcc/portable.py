"""Elementary functions that give the same bits on every machine (``docs/determinism.md``).

numpy dispatches ``log``, ``exp``, ``power``, ``log1p``, ``expm1`` to different implementations by
CPU feature (AVX-512 or not), and libm's differ between builds, so their last bits are not portable.
The functions here are written with IEEE-754 basic operations only (``+ - * /``, which every CPU
rounds correctly and identically) and the exact ``frexp`` / ``ldexp`` / ``rint``; numpy evaluates
each as a separate, correctly rounded ufunc (nothing is fused into a multiply-add). The results
are therefore bit-identical on every CPU, SIMD path and thread count. Anything encoder and decoder
must agree on bit for bit (entropy-model tables, see :class:`rcc.codes.ZipfCode`) is computed
with them, and sums of such values use :func:`math.fsum` (correctly rounded, so independent of
the order numpy's SIMD reductions would choose).

What is exact and what is approximate: they are *not* correctly rounded. ``log1p`` sums the
series ``2 atanh(t / (2 + t))`` and ``expm1`` the Taylor series to below 1e-18 of the result, so the
error is that of the few roundings on the way: a few ulps, measured below 4 ulps against numpy in
the tests (``tests/test_determinism.py``). ``ndtr`` is an approximation by design (absolute error
below 1e-7: Numerical Recipes' Chebyshev fit of erfc). That is irrelevant to their use: both
sides compute the same values, so accuracy costs rate at most, never decodability.

>>> from rcc.portable import exp2, log2
>>> float(log2(8.0)), float(exp2(-3.0))
(3.0, 0.125)
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["exp2", "expm1", "log1p", "log2", "ndtr"]

_LN2 = 0.6931471805599453  # float64 nearest ln 2
_LOG2E = 1.4426950408889634  # float64 nearest log2(e)
_SQRT_HALF = 0.7071067811865476
_ATANH_TERMS = tuple(1.0 / (2 * k + 1) for k in range(24))  # |u| <= 0.36: u^48 / 49 < 1e-23
_EXP_TERMS = tuple(1.0 / math.factorial(k) for k in range(1, 19))  # |f ln 2| <= 0.35: 0.35^18/18! < 1e-23
_SERIES_T = 1.1
_SERIES_T_NEG = 0.3
"""log1p uses the atanh series for -_SERIES_T_NEG <= t <= _SERIES_T (|u| <= 0.355); outside, log2 of
the rounded 1 + t."""
_SERIES_Z = 0.5
"""expm1 uses its series for |z| <= _SERIES_Z; beyond, exp2 (no cancellation there)."""


def _horner(x: np.ndarray, coefficients: tuple[float, ...]) -> np.ndarray:
    """sum_k c_k x^k, lowest power first, evaluated highest first (one rounding per operation)."""
    acc = np.full_like(x, coefficients[-1])
    for c in coefficients[-2::-1]:
        acc = acc * x + c
    return acc


def _out(value: np.ndarray, like: object) -> np.ndarray | float:
    return float(value) if np.ndim(like) == 0 else value


def _log1p_series(t: np.ndarray) -> np.ndarray:
    """ln(1 + t) = 2 atanh(u), ``u = t / (2 + t)``, by the series of atanh; for -0.3 <= t <= 1.1."""
    u = t / (2.0 + t)
    return 2.0 * u * _horner(u * u, _ATANH_TERMS)


def log1p(t: object) -> np.ndarray | float:
    """ln(1 + t) for t > -1, accurate near 0: the atanh series for -0.3 <= t <= 1.1,
    ``log2(1 + t) ln 2`` outside (where rounding ``1 + t`` costs under an ulp of the result)."""
    x = np.asarray(t, dtype=np.float64)
    small = (x >= -_SERIES_T_NEG) & (x <= _SERIES_T)
    series = _log1p_series(np.where(small, x, 0.0))
    large = _LN2 * np.asarray(log2(np.where(small, 1.0, 1.0 + x)))
    return _out(np.where(small, series, large), t)


def log2(x: object) -> np.ndarray | float:
    """log2(x) for x > 0: ``x = m 2^e`` with ``m`` in [sqrt(1/2), sqrt(2)), then ``e + log1p(m - 1)
    log2(e)``; ``m - 1`` is exact (Sterbenz), so the error is a few ulps of the result."""
    arr = np.asarray(x, dtype=np.float64)
    m, e = np.frexp(arr)
    low = m < _SQRT_HALF
    m = np.where(low, 2.0 * m, m)
    e = np.where(low, e - 1, e).astype(np.float64)
    return _out(e + _log1p_series(m - 1.0) * _LOG2E, x)


def expm1(z: object) -> np.ndarray | float:
    """e^z - 1, accurate near 0: the Taylor series for |z| <= 1/2 (a few ulps), ``exp2(z log2 e) - 1``
    beyond (relative error about |z| 2^-53 from rounding ``z log2 e``)."""
    arr = np.asarray(z, dtype=np.float64)
    small = np.abs(arr) <= _SERIES_Z
    zs = np.where(small, arr, 0.0)
    series = zs * _horner(zs, _EXP_TERMS)
    large = np.asarray(exp2(np.where(small, 0.0, arr) * _LOG2E)) - 1.0
    return _out(np.where(small, series, large), z)


def exp2(y: object) -> np.ndarray | float:
    """2^y: ``y = n + f`` with ``n = rint(y)``, ``|f| <= 1/2`` (both exact), then
    ``ldexp(1 + expm1(f ln 2), n)``. Results below the smallest normal double flush towards 0 as
    ``ldexp`` rounds them."""
    arr = np.asarray(y, dtype=np.float64)
    n = np.rint(np.clip(arr, -1100.0, 1100.0))
    f = np.where(np.isfinite(arr), arr - n, 0.0)
    r = f * _LN2
    mantissa = 1.0 + r * _horner(r, _EXP_TERMS)
    return _out(np.ldexp(mantissa, n.astype(np.int64)), y)


_ERFC_TERMS = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398,
               1.48851587, -0.82215223, 0.17087277)
"""erfc(z) = t exp(-z^2 + sum_k c_k t^k), t = 1 / (1 + z / 2), z >= 0: the Chebyshev fit of Press et
al., Numerical Recipes (2nd ed., section 6.2), fractional error below 1.2e-7 for every z >= 0."""


def ndtr(x: object) -> np.ndarray | float:
    """The standard normal CDF, ``erfc(-x / sqrt 2) / 2`` through the fit of ``_ERFC_TERMS`` (absolute
    error below 1e-7): an entropy model's table, the same bits everywhere, not a statistic."""
    arr = np.asarray(x, dtype=np.float64)
    z = np.abs(arr) * _SQRT_HALF
    t = 1.0 / (1.0 + 0.5 * z)
    tail = t * np.asarray(exp2((_horner(t, _ERFC_TERMS) - z * z) * _LOG2E))  # erfc(|x| / sqrt 2)
    return _out(np.where(arr < 0, 0.5 * tail, 1.0 - 0.5 * tail), x)
