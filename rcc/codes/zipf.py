"""The Zipf index code: the octave code of the Zipf law ``P(k) ∝ (k + 1)^-λ`` (Li & El Gamal 2018).

The law coded is the Zipf law up to the midpoint rule of its masses past the first values
(:mod:`rcc.codes.zipf_law`); ``ideal_bits`` is the exact law's information content, with scipy's
Hurwitz zeta for its normaliser (a statistic, not a coding table).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from scipy import special

from rcc.codes.base import check_index
from rcc.codes.octave import OctaveCode
from rcc.codes.zipf_law import DIRECT_SUM, power_sum, zipf_alpha, zipf_mass

__all__ = ["ZipfCode"]


@dataclass(frozen=True)
class ZipfCode(OctaveCode):
    """Range code of the Zipf law ``P(k) ∝ (k + 1)^-λ``, ``λ = 1 + 1/α``, on ``k < n`` (or all k).

    Build it with :meth:`for_kl` to use Li & El Gamal's ``α = D + log2(e)/e + 1``, under which the
    Poisson functional representation's index costs at most ``D + log2(D + 1) + 4`` bits on average.
    The decoder must know ``α`` (and ``n``): either both sides know D, or the caller sends it.
    """

    @classmethod
    def for_kl(cls, kl_bits: float, n: int | None = None) -> ZipfCode:
        return cls(zipf_alpha(kl_bits), n)

    def _octave_masses(self) -> list[float]:
        top = self._limit + 1
        return [zipf_mass(self.lam, 1 << e, min(2 << e, top)) for e in range(self._n_octaves)]

    @cached_property
    def _log_normaliser(self) -> float:
        # A statistic, not a coding table (nothing the decoder needs), so scipy's accurate Hurwitz
        # zeta may serve; short ranges are summed as the tables are.
        top = self._limit + 1
        if top - 1 <= DIRECT_SUM:
            return math.log2(power_sum(self.lam, 1, top))
        return math.log2(float(special.zeta(self.lam, 1) - special.zeta(self.lam, top)))

    def log_normaliser(self) -> float:
        """log2 of the sum of ``m^-λ`` over codable values ``m``."""
        return self._log_normaliser

    def ideal_bits(self, index: int) -> float:
        k = check_index(index, self._limit)
        return self.lam * math.log2(k + 1) + self.log_normaliser()
