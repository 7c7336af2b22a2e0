"""What the coders share: the block-vectorized race over candidates, pair checks, messages.

The race selects ``argmin_k log A_k - log w_k`` over candidates ``k`` of the proposal, where
``w_k = dQ/dP(X_k)`` and ``A_k`` is an arrival time drawn from the encoder's own seeded stream:

* ``"pfr"``: ``A_k = E_0 + ... + E_k``, a unit-rate Poisson process (Li & El Gamal 2018);
* ``"orc"``: ``A_k = sum_{j <= k} E_j / (N - j)``, the sorted values of N i.i.d. Exp(1) by Renyi's
  representation (Theis & Yosri 2022);
* ``"mrc"``: ``A_k = E_k``, the exponential race that picks ``k`` with probability proportional
  to ``w_k`` (Gumbel-max; Havasi et al. 2019).

Candidates are processed in blocks that double up to a memory cap, the cumulative arrival time is
carried from block to block, and for increasing arrivals (PFR, ORC) with ``w <= w_max`` the race
stops at the first ``k`` with ``log A_k - log w_max >= best score so far``: no later candidate
can win.

When none of a fixed budget of ``N`` candidates lies in Q's support (every score is infinite), the
race returns the candidate with the earliest arrival, a plain draw from P, with realized log-ratio
``-inf``. A fixed-budget coder is approximate anyway and must emit one of its N candidates; failing
instead would make its bias unmeasurable on sparse targets (e.g. the Dirichlet(0.01) protocol of
Theis & Yosri 2022 at N = 1). An unbounded search keeps drawing until it finds the support.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

import rcc_kernels
from rcc.bounds import LN2
from rcc.coders.normal_batch import CandidateBatchCoder
from rcc.codes import FixedLengthCode, IndexCode
from rcc.core import (
    Divergences,
    Message,
    Proposal,
    Stats,
    Target,
    check_implements,
    check_message,
    log_ratio,
)
from rcc.randomness import Domain, key_for

Rule = Literal["pfr", "orc", "mrc"]
FIRST_BLOCK = 256
MAX_BLOCK_VALUES = 1 << 20
"""Cap on candidate values (candidates x coordinates) held at once: bounded memory (8 MiB)."""


@dataclass(frozen=True)
class RaceResult:
    index: int
    log_ratio: float  # nats, at the winner
    proposals: int  # candidates a sequential encoder examines, early stopping included


def check_pair(target: Target, proposal: Proposal) -> Divergences:
    """Validate the pair and return its divergences (ValueError when Q is not << P)."""
    check_implements(proposal, "proposal")
    check_implements(target, "target")
    if tuple(target.event_shape) != tuple(proposal.event_shape):
        raise ValueError(f"target event shape {target.event_shape} differs from the proposal's "
                         f"{proposal.event_shape}")
    return target.divergences(proposal)


def check_dinf(divergences: Divergences, coder: str, max_dinf_bits: float) -> float:
    """D_inf in bits for a coder that needs a bounded ratio; clear errors otherwise."""
    if divergences.dinf_bits is None:
        raise ValueError(f"{coder} needs D_inf[Q||P], which is unknown for this pair; give the "
                         "target a closed form (or dinf_bits), or use a truncated coder")
    if not divergences.ratio_bounded:
        raise ValueError(f"{coder} needs a bounded density ratio dQ/dP, but D_inf = inf "
                         "(e.g. a target wider than its proposal); use a truncated coder")
    if divergences.dinf_bits > max_dinf_bits:
        raise ValueError(f"{coder} would examine about 2^{divergences.dinf_bits:.1f} candidates "
                         f"(D_inf above max_dinf_bits={max_dinf_bits}); raise the limit or split "
                         "the problem")
    return float(divergences.dinf_bits)


def check_candidates(n: object, name: str = "n_candidates") -> int:
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or not (
            1 <= n < 2**62):
        raise ValueError(f"{name} must be an integer in [1, 2**62), got {n!r}")
    return int(n)


def block_sizes(event_shape: tuple[int, ...]) -> tuple[int, int]:
    """First and largest block of candidates for this event shape."""
    per_candidate = max(1, math.prod(event_shape))
    largest = max(1, MAX_BLOCK_VALUES // per_candidate)
    return min(FIRST_BLOCK, largest), largest


def candidate_log_ratios(target: Target, proposal: Proposal, key: np.ndarray, k0: int,
                         k1: int) -> np.ndarray:
    """log dQ/dP (nats) at candidates ``k0 .. k1-1`` of the proposal."""
    lr = log_ratio(target, proposal, proposal.candidates(key, k0, k1))
    if np.isnan(lr).any():
        raise ValueError("the target or proposal log-density returned NaN at a candidate")
    return lr


def arrival_times(rule: Rule, key: np.ndarray, k0: int, k1: int, carry: float,
                  n: int | None) -> np.ndarray:
    """Arrival times ``A_k0 .. A_k1-1`` of ``rule`` from the stream ``key``; ``carry`` is the last
    arrival before ``k0`` (0 at the start)."""
    e = rcc_kernels.exponential(key, k0, k1, 1)[:, 0]
    if rule == "mrc":
        return e
    if rule == "orc":
        e = e / (n - np.arange(k0, k1, dtype=np.float64))
    return carry + np.cumsum(e)


def race(target: Target, proposal: Proposal, seed: int, stream: tuple[int, ...], rule: Rule,
         n: int | None, dinf_bits: float | None) -> RaceResult:
    """Search candidates ``0 .. n-1`` and return the winner. ``dinf_bits`` is D_inf[Q||P] where
    known (None or inf otherwise): finite, it lets increasing arrivals stop early, and an unbounded
    search (``n`` None) needs it."""
    log_w_max = dinf_bits * LN2 if dinf_bits is not None else math.inf
    cand_key = key_for(seed, Domain.CANDIDATES, stream)
    arr_key = key_for(seed, Domain.SELECTION if rule == "mrc" else Domain.ARRIVALS, stream)
    can_stop = rule != "mrc" and math.isfinite(log_w_max)
    if n is None and not can_stop:
        raise ValueError("an unbounded search needs increasing arrivals and a bounded ratio")
    block, largest = block_sizes(tuple(proposal.event_shape))
    best_index, best_lr, best_score = -1, -math.inf, math.inf
    earliest_index, earliest_log_a = -1, math.inf
    carry, k0 = 0.0, 0
    while n is None or k0 < n:
        k1 = k0 + block if n is None else min(k0 + block, n)
        arrivals = arrival_times(rule, arr_key, k0, k1, carry, n)
        carry, log_a = float(arrivals[-1]), np.log(arrivals)
        lr = candidate_log_ratios(target, proposal, cand_key, k0, k1)
        score = log_a - lr  # +inf where the candidate is outside Q's support
        stop = k1 - k0
        if can_stop:
            best_before = np.minimum.accumulate(np.concatenate(([best_score], score[:-1])))
            hits = np.flatnonzero(log_a - log_w_max >= best_before)
            stop = int(hits[0]) if hits.size else stop
        if stop > 0:
            j = int(np.argmin(score[:stop]))
            if score[j] < best_score:
                best_index, best_lr, best_score = k0 + j, float(lr[j]), float(score[j])
            elif best_index < 0:  # nothing in Q's support yet: remember the earliest arrival
                i = int(np.argmin(log_a[:stop]))
                if log_a[i] < earliest_log_a:
                    earliest_index, earliest_log_a = k0 + i, float(log_a[i])
        if stop < k1 - k0:
            return RaceResult(best_index, best_lr, k0 + stop)
        k0, block = k1, min(2 * block, largest)
    if best_index < 0:
        return RaceResult(earliest_index, -math.inf, int(n))
    return RaceResult(best_index, best_lr, int(n))


class PairCache:
    """What a coder derives from a pair alone (a GRS staircase, a GPRS stretch function), kept for
    its ``size`` most recent pairs. Keyed by the objects' ids; holding the pair keeps them valid."""

    def __init__(self, build: Callable[[Target, Proposal], object], size: int = 16) -> None:
        self._build = build
        self._size = size
        self._entries: dict[tuple[int, int], tuple[Target, Proposal, object]] = {}

    def __call__(self, target: Target, proposal: Proposal) -> object:
        key = (id(target), id(proposal))
        if key not in self._entries:
            if len(self._entries) >= self._size:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = (target, proposal, self._build(target, proposal))
        return self._entries[key][2]


def finish(code: IndexCode, index: int, proposals: int,
           log_ratio_nats: float) -> tuple[Message, Stats]:
    """Code the index and assemble the statistics."""
    message = Message(code.encode([index]))
    return message, Stats(index=index, bits=message.bits, ideal_bits=code.ideal_bits(index),
                          proposals=proposals, log_ratio_bits=log_ratio_nats / LN2)


def decode_candidate(code: IndexCode, message: Message, proposal: Proposal, seed: int,
                     stream: tuple[int, ...], n: int | None) -> np.ndarray:
    """Read the index and rebuild that one candidate from the shared randomness."""
    check_implements(proposal, "proposal")
    (index,) = code.decode(check_message(message).data, 1)
    if n is not None and index >= n:
        raise ValueError(f"corrupt message: index {index} beyond the {n} candidates")
    key = key_for(seed, Domain.CANDIDATES, stream)
    return proposal.candidates(key, index, index + 1)[0]


@dataclass(frozen=True)
class FixedBudgetCoder(CandidateBatchCoder):
    """The body shared by the N-candidate coders (ORC, MRC): race ``rule`` over ``n_candidates``
    candidates; ``code`` defaults to ``ceil(log2 N)``-bit indices.

    The race may stop early only when arrivals increase (every rule but MRC) and dQ/dP is bounded;
    stopping early never changes the selected index.
    """

    n_candidates: int
    code: IndexCode | None = None
    exact: ClassVar[bool] = False
    rule: ClassVar[Rule]

    def __post_init__(self) -> None:
        check_candidates(self.n_candidates)

    @property
    def candidate_limit(self) -> int:
        return self.n_candidates

    @property
    def index_code(self) -> IndexCode:
        return self.code if self.code is not None else FixedLengthCode(self.n_candidates)

    def encode(self, target: Target, proposal: Proposal, seed: int,
               stream: tuple[int, ...] = ()) -> tuple[Message, Stats]:
        divergences = check_pair(target, proposal)
        result = race(target, proposal, seed, stream, self.rule, self.n_candidates,
                      divergences.dinf_bits)
        return finish(self.index_code, result.index, result.proposals, result.log_ratio)

    def decode(self, message: Message, proposal: Proposal, seed: int,
               stream: tuple[int, ...] = ()) -> np.ndarray:
        return decode_candidate(self.index_code, message, proposal, seed, stream,
                                self.n_candidates)
