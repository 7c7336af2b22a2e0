"""PFR's index law on a Gaussian chunk: ``log2 K`` normal around the chunk's KL, as an octave code.

Approximate by design (see :class:`PFRIndexCode`): any error of the law costs rate, never
decodability.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rcc import portable
from rcc.codes.octave import MAX_ALPHA, OctaveCode
from rcc.codes.zipf_law import zipf_alpha
from rcc.core import real_scalar

__all__ = ["PFRIndexCode"]


_EULER_LOG2E = 0.8327462808512272  # Euler's gamma times log2(e): -E[log2 E] for E ~ Exp(1)
_VAR_LOG2_EXP = 3.4237525915150416  # Var[log2 E] = pi^2 / (6 ln^2 2)
_TWO_LOG2E = 2.8853900817779268  # 2 / ln 2


@dataclass(frozen=True)
class PFRIndexCode(OctaveCode):
    """Range code of the index law of the Poisson functional representation on a Gaussian chunk.

    PFR selects ``K`` with arrival time ``T_K = w(Z) E``, ``E ~ Exp(1)`` independent of the sample
    ``Z ~ Q`` (Li & El Gamal 2018), and ``K`` is about ``T_K``; for a Gaussian chunk whose KL is
    ``D`` bits with equal variances, ``log2 w(Z)`` is normal with mean ``D`` and variance
    ``2 D / ln 2``. So ``log2 K`` is modelled as normal with mean ``D - γ log2 e`` and variance
    ``2 D / ln 2 + π² / (6 ln² 2)``: the octaves ``floor(log2 K)`` get that law's masses (the first
    and last octave its tails), and inside an octave the Zipf law of :class:`ZipfCode` locates the
    index. Approximate by design: the law ignores the discreteness of small ``K``, truncation at
    ``n`` (whose excess mass the last octave takes) and the spread of the chunks' KLs around the
    ``D`` the decoder knows; any error costs rate, never decodability.
    """

    kl_bits: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        kl = real_scalar(self.kl_bits, "kl_bits")
        if not 0 <= kl <= MAX_ALPHA:
            raise ValueError(f"kl_bits must be in [0, {MAX_ALPHA:g}], got {self.kl_bits!r}")

    @classmethod
    def for_kl(cls, kl_bits: float, n: int | None = None) -> PFRIndexCode:
        return cls(zipf_alpha(kl_bits), n, float(kl_bits))

    def _octave_masses(self) -> list[float]:
        mean = self.kl_bits - _EULER_LOG2E
        sd = math.sqrt(_TWO_LOG2E * self.kl_bits + _VAR_LOG2_EXP)
        inner = (np.arange(1, self._n_octaves, dtype=np.float64) - mean) / sd  # octave boundaries
        # Below the mean from the lower tail, above it from the upper one: no cancellation.
        below = np.concatenate([[0.0], portable.ndtr(inner), [1.0]])
        above = np.concatenate([[1.0], portable.ndtr(-inner), [0.0]])
        mid = (np.arange(self._n_octaves) + 0.5 - mean) / sd
        return [float(below[e + 1] - below[e]) if mid[e] < 0 else float(above[e] - above[e + 1])
                for e in range(self._n_octaves)]
