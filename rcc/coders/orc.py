"""Ordered random coding (Theis & Yosri 2022, "Algorithms for the communication of samples", ICML).

The Poisson functional representation restricted to a fixed budget of N candidates, with the
Poisson arrivals replaced by the *sorted* values of N i.i.d. Exp(1) variables (drawn in order by
Renyi's representation ``A_k = sum_{j <= k} E_j / (N - j)``): ``K = argmin_{k < N} A_k / w(X_k)``.
Pairing i.i.d. candidates with sorted rather than unsorted exponentials leaves the law of the
selected *sample* that of minimal random coding with the same N, but concentrates the *index* on
small values, so an entropy-coded index (e.g. a truncated Zipf code) costs fewer bits.

**Approximate**: the output law is within total variation ``E[log2 K] / log2 N`` of Q, which
falls as N grows. When dQ/dP is bounded the search stops early (arrivals increase), without
changing the result.
"""

from __future__ import annotations

from typing import ClassVar

from rcc.coders.race import FixedBudgetCoder, Rule

__all__ = ["OrderedRandomCoding"]


class OrderedRandomCoding(FixedBudgetCoder):
    """ORC with ``n_candidates`` candidates; ``code`` defaults to ``ceil(log2 N)``-bit indices."""

    rule: ClassVar[Rule] = "orc"
