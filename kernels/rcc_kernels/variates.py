"""The frozen map from Philox output words to uniform, standard normal and Exp(1) variates.

This file is normative (``docs/randomness.md`` states the same rules in prose, and golden vectors
in ``tests/golden/randomness_v1.json`` freeze them). Changing anything here changes every decoded
sample and therefore requires a new container format version.

Rules (version 1)
-----------------
* Value ``i`` (a 64-bit coordinate index) of candidate ``k`` (a 64-bit candidate index) in a stream
  with key ``(k0, k1)`` lives in Philox block ``b = i // 2``, slot ``s = i % 2``. The block's
  counter is ``(b mod 2**32, b >> 32, k mod 2**32, k >> 32)``; its output words are
  ``w0, w1, w2, w3``. No product ``candidate * dimension`` is ever formed, so no index can overflow.
* A uniform in the open interval (0, 1) is built from two words ``lo, hi``:
  ``x = ((hi << 32) | lo) >> 12`` (the top 52 bits) and ``u = (x + 0.5) * 2**-52``. The result is
  exact in float64, never 0 or 1, and symmetric (``1 - u`` has the same law).
  Slot 0 uses ``(w0, w1)``, slot 1 uses ``(w2, w3)``.
* Uniform value ``i`` is the uniform ``u`` of its slot; Exp(1) value ``i`` is ``-log(u)``; standard
  normal value ``i`` is ``Phi^-1(u)`` by Wichura's algorithm AS 241 (PPND16, Applied Statistics 37,
  1988), a rational approximation with relative error about 1e-16, i.e. exact to double precision.
  The inverse CDF (rather than Box-Muller) keeps one uniform per value, is monotone and symmetric,
  and its central branch (85% of values) vectorises on the CPU. With 52-bit uniforms the largest
  attainable ``|z|`` is about 8.2, a truncation of probability below 1e-15 per value.

Uniforms, normals and exponentials of the same stream share their bits, so a caller that needs
independent variates of different kinds draws them from different streams.

The scalar functions below are compiled for the CPU and for CUDA from this one source. Integer
results are bit-identical everywhere; ``log``, ``cos`` and ``sin`` may differ by an ulp or two
between the CPU's libm, numpy's SIMD loops and CUDA (which also fuses multiply-adds), which the
tests pin (``FLOAT_TOLERANCE``). The central branch of AS 241 is pure arithmetic in a fixed order
and is bit-identical between numpy and the Numba CPU kernel.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np

from rcc_kernels.philox import philox4x32_10_scalar

__all__ = [
    "EXPONENTIAL",
    "FLOAT_TOLERANCE",
    "KINDS",
    "NORMAL",
    "SPLIT_CENTRAL",
    "UNIFORM",
    "build_scalar_ops",
    "ndtri_numpy",
    "uniform52_numpy",
]

UNIFORM = 0
NORMAL = 1
EXPONENTIAL = 2
KINDS = {"uniform": UNIFORM, "normal": NORMAL, "exponential": EXPONENTIAL}

FLOAT_TOLERANCE = 1e-13
"""Largest absolute difference allowed between backends for normals and exponentials (|z| < 9)."""

_INV_2_52 = 2.0**-52
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
_SHIFT12 = np.uint64(12)

# Wichura (1988), AS 241 PPND16: coefficients of the three rational approximations, highest power
# first, as published.
SPLIT_CENTRAL = 0.425
"""AS 241 uses its central formula for ``|u - 0.5| <= SPLIT_CENTRAL`` (every backend must agree)."""
_SPLIT_TAIL = 5.0
_A = (2.5090809287301226727e3, 3.3430575583588128105e4, 6.7265770927008700853e4,
      4.5921953931549871457e4, 1.3731693765509461125e4, 1.9715909503065514427e3,
      1.3314166789178437745e2, 3.3871328727963666080e0)
_B = (5.2264952788528545610e3, 2.8729085735721942674e4, 3.9307895800092710610e4,
      2.1213794301586595867e4, 5.3941960214247511077e3, 6.8718700749205790830e2,
      4.2313330701600911252e1, 1.0)
_C = (7.74545014278341407640e-4, 2.27238449892691845833e-2, 2.41780725177450611770e-1,
      1.27045825245236838258e0, 3.64784832476320460504e0, 5.76949722146069140550e0,
      4.63033784615654529590e0, 1.42343711074968357734e0)
_D = (1.05075007164441684324e-9, 5.47593808499534494600e-4, 1.51986665636164571966e-2,
      1.48103976427480074590e-1, 6.89767334985100004550e-1, 1.67638483018380384940e0,
      2.05319162663775882187e0, 1.0)
_E = (2.01033439929228813265e-7, 2.71155556874348757815e-5, 1.24266094738807843860e-3,
      2.65321895265761230930e-2, 2.96560571828504891230e-1, 1.78482653991729133580e0,
      5.46378491116411436990e0, 6.65790464350110377720e0)
_F = (2.04426310338993978564e-15, 1.42151175831644588870e-7, 1.84631831751005468180e-5,
      7.86869131145613259100e-4, 1.48753612908506148525e-2, 1.36929880922735805310e-1,
      5.99832206555887937690e-1, 1.0)




def build_scalar_ops(compile_device: Callable) -> SimpleNamespace:
    """Compile the scalar rules for one backend from this single source.

    ``compile_device`` is ``numba.njit(...)`` for the CPU, ``numba.cuda.jit(device=True)`` for
    CUDA, or the identity, which yields plain Python functions; the branch-free ones
    (``ratio``, ``ndtri_central``) then also work elementwise on numpy arrays and serve the
    numpy reference.
    """
    philox = compile_device(philox4x32_10_scalar)

    @compile_device
    def counter_words(block, candidate):  # noqa: ANN001, ANN202
        """Counter words of a block: ``(block lo, block hi, candidate lo, candidate hi)``."""
        b = np.uint64(block)
        k = np.uint64(candidate)
        return b & _MASK32, b >> _SHIFT32, k & _MASK32, k >> _SHIFT32

    @compile_device
    def uniform52(lo, hi):  # noqa: ANN001, ANN202
        """Uniform in (0, 1) from two 32-bit words."""
        x = ((np.uint64(hi) << _SHIFT32) | np.uint64(lo)) >> _SHIFT12
        return (np.float64(x) + 0.5) * _INV_2_52

    @compile_device
    def ratio(r, p, q):  # noqa: ANN001, ANN202
        """Horner evaluation of the rational function p(r)/q(r), coefficients highest first."""
        num = p[0]
        den = q[0]
        for i in range(1, 8):
            num = num * r + p[i]
            den = den * r + q[i]
        return num / den

    @compile_device
    def ndtri_central(u):  # noqa: ANN001, ANN202
        """AS 241 central branch, valid for ``|u - 0.5| <= 0.425``; branch-free, so it vectorises."""
        q = u - 0.5
        return q * ratio(0.180625 - q * q, _A, _B)

    @compile_device
    def ndtri_tail(u):  # noqa: ANN001, ANN202
        """AS 241 tail branches, for ``|u - 0.5| > 0.425``."""
        q = u - 0.5
        r = math.sqrt(-math.log(u if q <= 0.0 else 1.0 - u))
        if r <= _SPLIT_TAIL:
            x = ratio(r - 1.6, _C, _D)
        else:
            x = ratio(r - _SPLIT_TAIL, _E, _F)
        return -x if q < 0.0 else x

    @compile_device
    def ndtri(u):  # noqa: ANN001, ANN202
        """Standard normal quantile of ``u`` in (0, 1) by AS 241."""
        if abs(u - 0.5) <= SPLIT_CENTRAL:
            return ndtri_central(u)
        return ndtri_tail(u)

    @compile_device
    def block_uniforms(key0, key1, block, candidate):  # noqa: ANN001, ANN202
        """The two uniforms (slots 0 and 1) of one block of one candidate."""
        c0, c1, c2, c3 = counter_words(block, candidate)
        w0, w1, w2, w3 = philox(c0, c1, c2, c3, key0, key1)
        return uniform52(w0, w1), uniform52(w2, w3)

    @compile_device
    def arrival_increment(ordered, key0, key1, k, n):  # noqa: ANN001, ANN202
        """Arrival-time increment of candidate ``k`` in the arrival stream: ``-log u`` of slot 0 of
        block 0; divided by ``n - k`` for ordered random coding (Renyi's representation)."""
        u0, _ = block_uniforms(key0, key1, np.uint64(0), np.uint64(k))
        e = -math.log(u0)
        if ordered:
            return e / (n - k)
        return e

    @compile_device
    def transform(kind, u):  # noqa: ANN001, ANN202
        """Map a uniform to the variate of ``kind`` (UNIFORM, NORMAL or EXPONENTIAL)."""
        if kind == NORMAL:
            return ndtri(u)
        if kind == EXPONENTIAL:
            return -math.log(u)
        return u

    return SimpleNamespace(
        philox=philox,
        counter_words=counter_words,
        uniform52=uniform52,
        ratio=ratio,
        ndtri_central=ndtri_central,
        ndtri_tail=ndtri_tail,
        ndtri=ndtri,
        block_uniforms=block_uniforms,
        arrival_increment=arrival_increment,
        transform=transform,
    )


_python_ops = build_scalar_ops(lambda f: f)


def uniform52_numpy(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Vectorised numpy twin of ``uniform52`` for the reference implementation."""
    x = ((hi.astype(np.uint64) << _SHIFT32) | lo.astype(np.uint64)) >> _SHIFT12
    return (x.astype(np.float64) + 0.5) * _INV_2_52


def ndtri_numpy(u: np.ndarray) -> np.ndarray:
    """Vectorised numpy twin of ``ndtri`` (the same formulas, evaluated elementwise)."""
    u = np.asarray(u, dtype=np.float64)
    q = u - 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        x_central = _python_ops.ndtri_central(u)
        r = np.sqrt(-np.log(np.where(q <= 0.0, u, 1.0 - u)))
        x_tail = np.where(
            r <= _SPLIT_TAIL,
            _python_ops.ratio(r - 1.6, _C, _D),
            _python_ops.ratio(r - _SPLIT_TAIL, _E, _F),
        )
    x_tail = np.where(q < 0.0, -x_tail, x_tail)
    return np.where(np.abs(q) <= SPLIT_CENTRAL, x_central, x_tail)
