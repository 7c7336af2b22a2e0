"""A* coding (Flamich, Markou & Hernandez-Lobato 2022, "Fast relative entropy coding with A*
coding", ICML), after A* sampling (Maddison, Tarlow & Minka 2014).

Both coders search the points ``(T, X)`` of a unit-rate Poisson process with base measure P for
the one with the smallest ``T / r(X)``, ``r = dQ/dP``; that point's location follows Q **exactly**.

* :class:`AStarCoding` -- *global* A* coding: the points are the i.i.d. candidates of P with
  Poisson arrival times, and the search stops once ``T_k / r_max`` reaches the best score, since
  no later point can win. This is the same search as exact PFR (Li & El Gamal's representation
  *is* global A* sampling with one region), with the same streams, so it returns the same index:
  about ``2^D_inf`` proposals, ``E[log2 K] <= D_KL + log2(e)/e + 1``.
* :class:`BranchAndBoundAStarCoding` -- A* coding with branch and bound for one-dimensional targets
  whose ratio is unimodal (:mod:`rcc.coders.intervals`): the process is built top down on a binary
  tree of intervals, a node's subtree is bounded below by ``T_node / sup_{interval} r``, and
  nodes are expanded best bound first until no bound beats the best score. Exact; splitting at
  the node's sample (AS*) or at the quantile midpoint (AD*), the expected number of nodes grows
  linearly in D_inf (against ``2^D_inf`` for the global search). The heap index of the winner is
  sent; with dyadic splitting its depth concentrates near ``D_KL`` (the paper's AD* bound is
  ``D_KL + 2 log2(D_KL + 1) + O(1)`` bits), with sample splitting it is closer to ``D_inf``.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from rcc.coders.batch import BatchCoder, BatchStats
from rcc.coders.intervals import (
    Split,
    UnimodalRatio,
    child,
    decode_heap,
    node_exponential,
    position,
    unimodal_ratio,
)
from rcc.coders.normal_batch import CandidateBatchCoder, normal_pairs, pfr_normal_batch
from rcc.coders.race import block_sizes, check_dinf, check_pair, decode_candidate, finish, race
from rcc.codes import EliasDeltaCode, IndexCode
from rcc.core import Message, Proposal, Stats, Target
from rcc.randomness import Domain, key_for

__all__ = ["AStarCoding", "BranchAndBoundAStarCoding"]


@dataclass(frozen=True)
class AStarCoding(CandidateBatchCoder):
    """Global A* coding (exact): ``code`` defaults to Elias delta; ``max_dinf_bits`` refuses pairs
    that would need more than about ``2^max_dinf_bits`` proposals."""

    code: IndexCode | None = None
    max_dinf_bits: float = 30.0
    exact: ClassVar[bool] = True

    @property
    def index_code(self) -> IndexCode:
        return self.code if self.code is not None else EliasDeltaCode()

    def encode(self, target: Target, proposal: Proposal, seed: int,
               stream: tuple[int, ...] = ()) -> tuple[Message, Stats]:
        dinf_bits = check_dinf(check_pair(target, proposal), "global A* coding", self.max_dinf_bits)
        result = race(target, proposal, seed, stream, "pfr", None, dinf_bits)
        return finish(self.index_code, result.index, result.proposals, result.log_ratio)

    def _encode_fast(self, targets: object, proposal: Proposal, seeds: np.ndarray,
                     paths: np.ndarray) -> tuple[list[Message], BatchStats] | None:
        pairs = normal_pairs(targets, proposal)  # the search is exact PFR's: so is its kernel
        return None if pairs is None else pfr_normal_batch(self.index_code, pairs,
                                                           self.max_dinf_bits, seeds, paths,
                                                           block_sizes(()))

    def decode(self, message: Message, proposal: Proposal, seed: int,
               stream: tuple[int, ...] = ()) -> np.ndarray:
        return decode_candidate(self.index_code, message, proposal, seed, stream, None)


@dataclass(order=True)
class _Node:
    bound: float  # log T - log sup r over the interval: no point of the subtree scores lower
    node: int
    a: float
    b: float
    arrival: float
    u: float


def _make_node(ratio: UnimodalRatio, keys: tuple[np.ndarray, np.ndarray], node: int, a: float,
               b: float, parent_arrival: float) -> tuple[_Node, float]:
    """A node and its own score ``log T - log r(X)``."""
    cand_key, arr_key = keys
    arrival = parent_arrival + node_exponential(arr_key, node) / (b - a)
    u = position(cand_key, node, a, b)
    log_t = math.log(arrival)
    return _Node(log_t - ratio.log_sup(a, b), node, a, b, arrival, u), log_t - ratio.log_ratio(u)


@dataclass(frozen=True)
class BranchAndBoundAStarCoding(BatchCoder):
    """A* coding with branch and bound (exact) for univariate pairs with a unimodal ratio.

    ``split``: ``"dyadic"`` (AD*, the default: short indices) or ``"sample"`` (AS*). ``code``: the
    code of the 0-based heap index ``h - 1`` (default Elias delta). ``max_dinf_bits``: refuse
    pairs beyond it (the search depth grows with D_inf).
    """

    split: Split = "dyadic"
    code: IndexCode | None = None
    max_dinf_bits: float = 40.0
    exact: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.split not in ("sample", "dyadic"):
            raise ValueError(f"split must be 'sample' or 'dyadic', got {self.split!r}")

    @property
    def index_code(self) -> IndexCode:
        return self.code if self.code is not None else EliasDeltaCode()

    def encode(self, target: Target, proposal: Proposal, seed: int,
               stream: tuple[int, ...] = ()) -> tuple[Message, Stats]:
        ratio = unimodal_ratio(target, proposal, "branch-and-bound A* coding", self.max_dinf_bits)
        keys = (key_for(seed, Domain.CANDIDATES, stream), key_for(seed, Domain.ARRIVALS, stream))
        root, best_score = _make_node(ratio, keys, 1, 0.0, 1.0, 0.0)
        best, heap, nodes = root, [root], 1
        while heap and heap[0].bound < best_score:
            parent = heapq.heappop(heap)
            for right in (False, True):
                node, a, b = child(parent.node, parent.a, parent.b, parent.u, self.split, right)
                if not b > a:  # an interval below float resolution holds no mass
                    continue
                candidate, score = _make_node(ratio, keys, node, a, b, parent.arrival)
                nodes += 1
                if score < best_score:
                    best, best_score = candidate, score
                if candidate.bound < best_score:
                    heapq.heappush(heap, candidate)
        return finish(self.index_code, best.node - 1, nodes, ratio.log_ratio(best.u))

    def decode(self, message: Message, proposal: Proposal, seed: int,
               stream: tuple[int, ...] = ()) -> np.ndarray:
        return decode_heap(self.index_code, message, proposal, seed, stream, self.split)
