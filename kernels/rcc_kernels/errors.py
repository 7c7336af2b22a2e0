"""The toolkit's one error type beyond ``ValueError``.

Every bad input is a ``ValueError`` (issue 12): wrong values, corrupt messages, sizes beyond the
limits. A wrong *type* raises :class:`InvalidTypeError`, which is a ``TypeError`` (as Python code
expects) and also a ``ValueError``, so ``except ValueError`` catches every bad input to ``rcc_kernels``
and ``rcc``. Defined at the bottom layer so that ``rcc_kernels`` can raise it; ``rcc.core`` re-exports it.
"""

from __future__ import annotations

__all__ = ["InvalidTypeError"]


class InvalidTypeError(TypeError, ValueError):
    """An argument of the wrong type (a float count, a string seed, an int for a message, ...)."""
