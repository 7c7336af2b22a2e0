"""Minimal random coding (Havasi, Peharz & Hernandez-Lobato 2019, "Minimal random code learning",
ICLR; the likelihood encoder of Cuff 2008).

Draw N candidates from the proposal and send index ``k`` with probability ``w_k / sum_j w_j``,
``w = dQ/dP``: self-normalised importance sampling. The selection is an exponential race
``argmin_k E_k / w_k`` over the encoder's own seeded Exp(1) variables (Gumbel-max trick).

**Approximate**: the output law approaches Q as N grows (N of about ``2^(D_KL + t)`` makes the bias
small in t; Chatterjee & Diaconis 2018), with no early stopping: all N candidates are scored.
"""

from __future__ import annotations

from typing import ClassVar

from rcc.coders.race import FixedBudgetCoder, Rule

__all__ = ["MinimalRandomCoding"]


class MinimalRandomCoding(FixedBudgetCoder):
    """MRC with ``n_candidates`` candidates; ``code`` defaults to ``ceil(log2 N)``-bit indices."""

    rule: ClassVar[Rule] = "mrc"
