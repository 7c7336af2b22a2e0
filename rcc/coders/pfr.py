"""Poisson functional representation (Li & El Gamal 2018, "Strong functional representation lemma
and applications to coding theorems", IEEE Trans. Inf. Theory 64(11)).

Candidates ``X_1, X_2, ...`` are i.i.d. from the proposal P (shared randomness); the encoder draws
the points ``T_1 < T_2 < ...`` of a unit-rate Poisson process (its own seeded stream) and sends
``K = argmin_k T_k / w(X_k)`` with ``w = dQ/dP``. Then ``X_K ~ Q`` exactly, and
``E[log2 K] <= D_KL + log2(e)/e + 1`` (:mod:`rcc.bounds`).

Exact mode (``max_candidates=None``): needs a bounded ratio, ``w <= 2^D_inf``. Since the T_k
increase, once ``T_k * 2^-D_inf`` reaches the best score no later candidate can win, so the
search stops there, after about ``2^D_inf`` candidates, and the result is exact.

Truncated mode (``max_candidates=N``): the minimum over the first N candidates only (stopping early
when the ratio is bounded and the rule fires). This is **approximate**: the law of the output is
within total variation ``E[log2 K] / log2 N`` of Q (Theis & Yosri 2022). It works for unbounded
ratios too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rcc.coders.batch import BatchStats
from rcc.coders.normal_batch import CandidateBatchCoder, normal_pairs, pfr_normal_batch
from rcc.coders.race import (
    block_sizes,
    check_candidates,
    check_dinf,
    check_pair,
    decode_candidate,
    finish,
    race,
)
from rcc.codes import EliasDeltaCode, FixedLengthCode, IndexCode
from rcc.core import Message, Proposal, Stats, Target

__all__ = ["PoissonFunctionalRepresentation"]


@dataclass(frozen=True)
class PoissonFunctionalRepresentation(CandidateBatchCoder):
    """PFR coder; exact unless ``max_candidates`` truncates it (see the module docstring).

    ``code``: the index code (default: Elias delta when exact, fixed-length when truncated; use
    :meth:`rcc.codes.ZipfCode.for_kl` when both sides know the KL). ``max_dinf_bits``: refuse
    exact searches expected to need more than ``2^max_dinf_bits`` candidates.
    """

    max_candidates: int | None = None
    code: IndexCode | None = None
    max_dinf_bits: float = 30.0

    def __post_init__(self) -> None:
        if self.max_candidates is not None:
            check_candidates(self.max_candidates, "max_candidates")

    @property
    def exact(self) -> bool:
        return self.max_candidates is None

    @property
    def candidate_limit(self) -> int | None:
        return self.max_candidates

    @property
    def index_code(self) -> IndexCode:
        if self.code is not None:
            return self.code
        return EliasDeltaCode() if self.exact else FixedLengthCode(self.max_candidates)

    def encode(self, target: Target, proposal: Proposal, seed: int,
               stream: tuple[int, ...] = ()) -> tuple[Message, Stats]:
        divergences = check_pair(target, proposal)
        dinf_bits = (check_dinf(divergences, "exact PFR", self.max_dinf_bits) if self.exact
                     else divergences.dinf_bits)
        result = race(target, proposal, seed, stream, "pfr", self.max_candidates, dinf_bits)
        return finish(self.index_code, result.index, result.proposals, result.log_ratio)

    def _encode_fast(self, targets: object, proposal: Proposal, seeds: np.ndarray,
                     paths: np.ndarray) -> tuple[list[Message], BatchStats] | None:
        pairs = normal_pairs(targets, proposal) if self.exact else None
        return None if pairs is None else pfr_normal_batch(self.index_code, pairs,
                                                           self.max_dinf_bits, seeds, paths,
                                                           block_sizes(()))

    def decode(self, message: Message, proposal: Proposal, seed: int,
               stream: tuple[int, ...] = ()) -> np.ndarray:
        return decode_candidate(self.index_code, message, proposal, seed, stream,
                                self.max_candidates)
