"""A stand-in for another CPU: numpy's and libm's transcendental functions, off by an ulp at random.

The same numpy wheel evaluates ``np.log`` with AVX-512 code on one machine and with AVX2 code on
another, and the results differ in the last bit (``docs/determinism.md``). Inside
:func:`perturbed_transcendentals`, every call of ``numpy.log, exp, power, sqrt, log1p, expm1, log2,
exp2`` and of ``math.log, exp, pow, sqrt, log1p, expm1, log2`` made through the module attribute
(``np.log(x)``, ``math.log(x)``) returns the true result moved by one ulp up or down, independently
at random for every element. A feature is portable when its bytes, and what its decoder reads from
them, do not change under this context manager:

>>> import numpy as np
>>> from rcc.perturb import perturbed_transcendentals
>>> with perturbed_transcendentals(seed=1):
...     bool(np.log(2.0) != 0.6931471805599453)
True

What it cannot reach: operators (``x ** y`` calls ``np.power`` inside numpy, not through the
attribute), names imported with ``from numpy import log``, compiled code (Numba, scipy's C). So the
coding path calls functions by attribute and never uses ``**`` with a non-integer exponent on
values both sides must agree on. Numba resolves ``np.log`` and ``math.log`` when it compiles: a
kernel first compiled inside the context would fail to type, so run the code once outside it
first (the tests do: that run is also the reference).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

__all__ = ["MATH_FUNCTIONS", "NUMPY_FUNCTIONS", "perturbed_transcendentals", "simd_extensions"]

NUMPY_FUNCTIONS = ("log", "exp", "power", "sqrt", "log1p", "expm1", "log2", "exp2")
MATH_FUNCTIONS = ("log", "exp", "pow", "sqrt", "log1p", "expm1", "log2")


def _nudge(value: object, rng: np.random.Generator) -> object:
    """``value`` moved one ulp towards -inf or +inf at random, element by element (floats only)."""
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.floating):
        return value
    up = rng.random(arr.shape) < 0.5
    moved = np.nextafter(arr, np.where(up, np.inf, -np.inf).astype(arr.dtype))
    if isinstance(value, np.ndarray):
        if value.ndim:
            value[...] = moved  # covers ``out=`` arguments, which return the same array
            return value
        return moved
    return type(value)(moved) if isinstance(value, float) else moved[()]


def _wrap(real: Callable, rng: np.random.Generator) -> Callable:
    def perturbed(*args: object, **kwargs: object) -> object:
        return _nudge(real(*args, **kwargs), rng)

    perturbed.__wrapped__ = real
    perturbed.__name__ = getattr(real, "__name__", "perturbed")
    return perturbed


@contextmanager
def perturbed_transcendentals(seed: int = 0) -> Iterator[np.random.Generator]:
    """Within the block, transcendental results are off by one ulp at random (module docstring).

    Yields the generator that draws the directions. Not thread-safe: it replaces module
    attributes for every thread until the block ends.
    """
    rng = np.random.default_rng(seed)
    saved = [(np, name, getattr(np, name)) for name in NUMPY_FUNCTIONS]
    saved += [(math, name, getattr(math, name)) for name in MATH_FUNCTIONS]
    try:
        for module, name, real in saved:
            setattr(module, name, _wrap(real, rng))
        yield rng
    finally:
        for module, name, real in saved:
            setattr(module, name, real)


def simd_extensions() -> str:
    """The SIMD line of ``numpy.show_runtime()`` (baseline, dispatch targets found and not found), to
    print when bytes differ from a file written on another machine."""
    from numpy._core._multiarray_umath import __cpu_baseline__, __cpu_dispatch__, __cpu_features__

    found = [f for f in __cpu_dispatch__ if __cpu_features__[f]]
    missing = [f for f in __cpu_dispatch__ if not __cpu_features__[f]]
    return f"numpy SIMD: baseline {__cpu_baseline__}, found {found}, not found {missing}"
