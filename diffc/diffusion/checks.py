"""Argument checks shared by the diffusion layer and the DiffC core.

Counts, limits and seeds are integers in a range; rates and targets are finite reals. A bad value
is a ``ValueError`` (or the caller's subclass) that names the argument: bools, floats, NaN and
strings are not integers, bools and infinities are not finite reals.
"""

from __future__ import annotations

import math
import numbers

__all__ = ["MAX_SEED", "checked_int", "checked_real"]

MAX_SEED = 2**64 - 1
"""Seeds of the shared randomness are 64-bit (docs/randomness.md)."""


def checked_int(value: object, name: str, low: int, high: int, error: type[ValueError] = ValueError) -> int:
    """``value`` as an ``int`` in ``[low, high]``; anything else (floats, bools, NaN, strings) is an
    ``error`` that names it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise error(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise error(f"{name} must be in [{low}, {high}], got {value}")
    return int(value)


def checked_real(value: object, name: str) -> float:
    """``value`` as a finite ``float`` (not a bool), or a ``ValueError`` that names it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)
