"""The host side of the compiled batches of univariate Normal pairs (:mod:`rcc.coders.normal_kernels`).

:func:`normal_pairs` says which batches the kernels take: univariate Normal targets, each narrower
than a univariate Normal proposal. The per-item quantities the kernels need (D_inf, the shape of
the log-ratio, the logarithms of the scales, the items' stream keys) are computed here with the
per-item path's numpy operations, so that both paths see the same values; the messages are then
written by :mod:`rcc.codes.vectorized`. :class:`CandidateBatchCoder` decodes any batch of one-index
messages by regenerating the candidates, compiled for a univariate Normal proposal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from rcc.bounds import LN2
from rcc.coders.batch import BatchCoder, BatchStats, NormalTargets
from rcc.coders.normal_kernels import SKIP_MARGIN_NATS, grs_normal, normal_candidates, pfr_normal
from rcc.codes import IndexCode
from rcc.codes.vectorized import first_indices, messages_for
from rcc.core import Message, Proposal
from rcc.distributions import Normal
from rcc.randomness import Domain, item_keys

__all__ = ["CandidateBatchCoder", "decode_candidates_batch", "grs_normal_batch", "normal_pairs",
           "pfr_normal_batch"]


def normal_pairs(targets: object, proposal: Proposal) -> np.ndarray | None:
    """(n, 4) rows ``m_q, s_q, m_p, s_p`` when every target is a univariate Normal narrower than
    a univariate Normal proposal (the pairs the compiled kernels take), else None."""
    if not isinstance(proposal, Normal) or proposal.event_shape != ():
        return None
    if isinstance(targets, NormalTargets):
        loc, scale = targets.loc, targets.scale
    elif all(isinstance(t, Normal) and t.event_shape == () for t in targets):
        loc = np.array([float(t.loc) for t in targets])
        scale = np.array([float(t.scale) for t in targets])
    else:
        return None
    m_p, s_p = float(proposal.loc), float(proposal.scale)
    if not np.all(scale < s_p):
        return None
    return np.stack([loc, scale, np.full_like(loc, m_p), np.full_like(loc, s_p)], axis=1)


def _dinf_nats(pairs: np.ndarray, max_dinf_bits: float) -> np.ndarray | None:
    """D_inf in nats per pair as the per-item path computes it (the operations of rcc.bounds,
    elementwise: bits, then times ln 2), or None when an item exceeds ``max_dinf_bits`` (the
    per-item path then raises its error)."""
    m_q, s_q, m_p, s_p = pairs.T
    bits = (np.log(s_p / s_q) + (m_q - m_p) ** 2 / (2 * (s_p**2 - s_q**2))) / LN2
    return bits * LN2 if np.all(bits <= max_dinf_bits) else None


def _ratio_shape(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``x0`` of ``log r = log r_max - a (x - x0)^2``, as rcc.coders.grs computes them."""
    m_q, s_q, m_p, s_p = pairs.T
    a = 0.5 * (1 / s_q**2 - 1 / s_p**2)
    return a, (m_q / s_q**2 - m_p / s_p**2) / (2 * a)


def grs_slack(pairs: np.ndarray) -> np.ndarray:
    """Widening of the P-quantile interval of ``{r > L}`` (see
    :func:`rcc.coders.normal_kernels.grs_normal`) beyond which a candidate's computed ratio is
    certainly at most ``L``.

    A candidate with computed ``r > L`` has ``log r > log L - SKIP_MARGIN_NATS`` exactly (the
    margin dwarfs the rounding of the log-densities), so ``|x - x0| < sqrt((gap + margin) / a)
    <= half + sqrt(margin / a)``; P's density is at most ``1 / (s_p sqrt(2 pi))``, so its quantile
    lies within that times ``sqrt(margin / a)`` of the interval's, plus 1e-12 for the rounding of
    ``ndtr`` and of the candidate's normal."""
    a, _ = _ratio_shape(pairs)
    return np.sqrt(SKIP_MARGIN_NATS / a) / (pairs[:, 3] * math.sqrt(2 * math.pi)) + 1e-12


def pfr_normal_batch(code: IndexCode, pairs: np.ndarray, max_dinf_bits: float, seeds: np.ndarray,
                     paths: np.ndarray, blocks: tuple[int, int]) -> tuple[list[Message], BatchStats] | None:
    """Exact PFR of univariate Normal pairs, compiled; None when an item needs the per-item path.
    ``blocks``: the per-item search's first and largest block (its arrival times depend on them)."""
    log_w_max = _dinf_nats(pairs, max_dinf_bits)
    if log_w_max is None:
        return None
    m_q, s_q, m_p, s_p = pairs.T
    params = np.stack([m_q, s_q, np.log(s_q), m_p, s_p, np.log(s_p), *_ratio_shape(pairs)], axis=1)
    index, proposals, lr = (np.empty(len(pairs), np.int64), np.empty(len(pairs), np.int64),
                            np.empty(len(pairs)))
    pfr_normal(item_keys(seeds, Domain.CANDIDATES, paths), item_keys(seeds, Domain.ARRIVALS, paths),
               params, log_w_max, *blocks, index, proposals, lr)
    return _finish_batch(code, index, proposals, lr)


def grs_normal_batch(code: IndexCode, pairs: np.ndarray, max_dinf_bits: float, seeds: np.ndarray,
                     paths: np.ndarray) -> tuple[list[Message], BatchStats] | None:
    """GRS of univariate Normal pairs, compiled; None when an item needs the per-item path."""
    log_r_max = _dinf_nats(pairs, max_dinf_bits)
    if log_r_max is None:
        return None
    m_q, s_q, m_p, s_p = pairs.T
    params = np.stack([m_q, s_q, m_p, s_p, *_ratio_shape(pairs), log_r_max, grs_slack(pairs)],
                      axis=1)
    logs = np.stack([np.log(s_q), np.log(s_p)], axis=1)
    index, lr = np.empty(len(pairs), np.int64), np.empty(len(pairs))
    grs_normal(item_keys(seeds, Domain.CANDIDATES, paths), item_keys(seeds, Domain.ACCEPT, paths),
               params, logs, index, lr)
    return _finish_batch(code, index, index + 1, lr)


def decode_candidates_batch(code: IndexCode, messages: Sequence[Message], proposal: Proposal,
                            seeds: np.ndarray, paths: np.ndarray,
                            limit: int | None) -> np.ndarray | None:
    """Candidates named by the messages, for a univariate Normal proposal (else None)."""
    if not isinstance(proposal, Normal) or proposal.event_shape != ():
        return None
    index = first_indices(code, messages)
    if limit is not None and index.size and index.max() >= limit:
        raise ValueError(f"corrupt message: index {int(index.max())} beyond the {limit} candidates")
    out = np.empty(index.size)
    normal_candidates(item_keys(seeds, Domain.CANDIDATES, paths), index, float(proposal.loc),
                      float(proposal.scale), out)
    return out


def _finish_batch(code: IndexCode, index: np.ndarray, proposals: np.ndarray,
                  log_ratio_nats: np.ndarray) -> tuple[list[Message], BatchStats]:
    messages, ideal = messages_for(code, index)
    bits = 8 * np.fromiter(map(len, (m.data for m in messages)), dtype=np.int64,
                           count=len(messages))
    return messages, BatchStats(index, bits, ideal, proposals, log_ratio_nats / LN2)


class CandidateBatchCoder(BatchCoder):
    """A coder whose message is the index of one i.i.d. candidate of the proposal: its batches
    decode by regenerating those candidates (compiled for a univariate Normal proposal)."""

    index_code: IndexCode
    candidate_limit: ClassVar[int | None] = None
    """Indices at or beyond it are corrupt (None: unbounded)."""

    def _decode_fast(self, messages: Sequence[Message], proposal: Proposal, seeds: np.ndarray,
                     paths: np.ndarray) -> np.ndarray | None:
        return decode_candidates_batch(self.index_code, messages, proposal, seeds, paths,
                                       self.candidate_limit)
