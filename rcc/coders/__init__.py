"""Channel simulators behind one interface (:class:`rcc.core.Coder`).

* :class:`PoissonFunctionalRepresentation` — exact with the D_inf stopping rule (about 2^D_inf
  proposals, E[log2 K] <= D + log2(e)/e + 1); approximate when truncated to ``max_candidates``.
* :class:`OrderedRandomCoding` — approximate, N candidates, TV <= E[log2 K] / log2 N; small indices.
* :class:`MinimalRandomCoding` — approximate, N candidates, all scored.
* :class:`GreedyRejectionSampling` — exact, E[#proposals] = 2^D_inf; categorical and 1-D pairs.
"""

from rcc.coders.grs import GreedyRejectionSampling
from rcc.coders.mrc import MinimalRandomCoding
from rcc.coders.orc import OrderedRandomCoding
from rcc.coders.pfr import PoissonFunctionalRepresentation

__all__ = [
    "GreedyRejectionSampling",
    "MinimalRandomCoding",
    "OrderedRandomCoding",
    "PoissonFunctionalRepresentation",
]
