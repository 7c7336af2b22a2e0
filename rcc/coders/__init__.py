"""Channel simulators behind one interface (:class:`rcc.core.Coder`).

* :class:`PoissonFunctionalRepresentation` — exact with the D_inf stopping rule (about 2^D_inf
  proposals, E[log2 K] <= D + log2(e)/e + 1); approximate when truncated to ``max_candidates``.
* :class:`OrderedRandomCoding` — approximate, N candidates, TV <= E[log2 K] / log2 N; small indices.
* :class:`MinimalRandomCoding` — approximate, N candidates, all scored.
* :class:`GreedyRejectionSampling` — exact, E[#proposals] = 2^D_inf; categorical and 1-D pairs.
* :class:`AStarCoding` — global A* coding, exact, about 2^D_inf proposals (the same search as
  exact PFR); :class:`BranchAndBoundAStarCoding` — exact for 1-D unimodal ratios, runtime linear
  in D_inf (AS* and AD*).
* :class:`GreedyPoissonRejectionSampling` — exact, E[#proposals] = 2^D_inf;
  :class:`BranchAndBoundGPRS` — exact for 1-D unimodal ratios, runtime linear in D_inf.

Every coder also has ``encode_batch`` / ``decode_batch`` (:mod:`rcc.coders.batch`): many
independent targets against one proposal, one seed and stream per item, identical to the per-item
calls, compiled for exact PFR (and global A*, the same search) and GRS on univariate Normal
pairs.
"""

from rcc.coders.astar import AStarCoding, BranchAndBoundAStarCoding
from rcc.coders.gprs import BranchAndBoundGPRS, GreedyPoissonRejectionSampling
from rcc.coders.grs import GreedyRejectionSampling
from rcc.coders.mrc import MinimalRandomCoding
from rcc.coders.orc import OrderedRandomCoding
from rcc.coders.pfr import PoissonFunctionalRepresentation

__all__ = [
    "AStarCoding",
    "BranchAndBoundAStarCoding",
    "BranchAndBoundGPRS",
    "GreedyPoissonRejectionSampling",
    "GreedyRejectionSampling",
    "MinimalRandomCoding",
    "OrderedRandomCoding",
    "PoissonFunctionalRepresentation",
]
