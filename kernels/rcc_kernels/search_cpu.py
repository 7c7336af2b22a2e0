"""Numba CPU search: the fused Gaussian candidate search in parallel, never materialising a candidate.

The problem and its rules (PFR, Li & El Gamal 2018; ORC, Theis & Yosri 2022; MRC, Havasi et al.
2019) are those of :mod:`rcc_kernels.search_problem`. One task per (chunk, segment of ``SEGMENT``
candidates) regenerates each candidate's normals from its Philox4x32-10 counters (Salmon et al.
2011; the frozen mapping of ``docs/randomness.md``) with the kernels of :mod:`rcc_kernels.cpu`, scores
it and keeps the segment's first minimum. For PFR and ORC a first, cheap pass sums each segment's
arrival increments, so that every task starts from its carried arrival time. The segments' minima
are then reduced, the lowest index winning a tie, so the result does not depend on the thread
count.

Indices equal those of :func:`rcc_kernels.search_reference.search_reference` exactly; scores and
log-weights agree to rounding (the dot product is summed in another order than numpy's).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from rcc_kernels import cpu
from rcc_kernels.search_problem import MRC, ORC, SearchProblem, SearchResult

__all__ = ["SEGMENT", "search_cpu"]

SEGMENT = 2048
"""Candidates per CPU task: small enough that the search of a single chunk spreads over the threads."""

_arrival_increment = cpu.ops.arrival_increment


@cpu.DualKernel
def _segment_sums(rule: int, arr_keys: np.ndarray, n: int, n_seg: int) -> np.ndarray:
    """Sum of arrival increments of every (chunk, segment), for the carried arrival time."""
    n_chunks = arr_keys.shape[0]
    sums = np.zeros((n_chunks, n_seg))
    for task in prange(n_chunks * n_seg):
        c, s = task // n_seg, task % n_seg
        total = 0.0
        for k in range(s * SEGMENT, min((s + 1) * SEGMENT, n)):
            total += _arrival_increment(rule == ORC, arr_keys[c, 0], arr_keys[c, 1], k, n)
        sums[c, s] = total
    return sums


@njit(inline="always", **cpu.JIT_OPTIONS)
def _log_weight(key0: np.uint32, key1: np.uint32, k: int, lin: np.ndarray, quad: np.ndarray,
                has_quad: bool, u: np.ndarray, z: np.ndarray, scratch: np.ndarray) -> float:
    """log w of candidate k: normals generated into z in vectorisable passes, then one dot."""
    d = lin.size
    cpu.row_uniforms(key0, key1, np.uint64(k), np.uint64(0), u)
    cpu.normals_from_uniforms(u, z, scratch)
    acc = 0.0
    if has_quad:
        for j in range(d):
            acc += z[j] * (lin[j] + quad[j] * z[j])
    else:
        for j in range(d):
            acc += lin[j] * z[j]
    return acc


@cpu.DualKernel
def _search_segments(rule: int, cand_keys: np.ndarray, arr_keys: np.ndarray, lin: np.ndarray,
                     quad: np.ndarray, has_quad: bool, offsets: np.ndarray, n: int,
                     carried: np.ndarray, best_k: np.ndarray, best_s: np.ndarray,
                     best_lw: np.ndarray) -> None:
    n_chunks, n_seg = carried.shape
    for task in prange(n_chunks * n_seg):
        c, s = task // n_seg, task % n_seg
        lo, hi = offsets[c], offsets[c + 1]
        d = hi - lo
        u = np.empty(2 * ((d + 1) // 2))
        z = np.empty(d)
        scratch = np.empty(d, dtype=np.int64)
        a = carried[c, s]
        bk, bs, blw = -1, np.inf, 0.0
        for k in range(s * SEGMENT, min((s + 1) * SEGMENT, n)):
            inc = _arrival_increment(rule == ORC, arr_keys[c, 0], arr_keys[c, 1], k, n)
            if rule == MRC:
                a = inc
            else:
                a += inc
            lw = _log_weight(cand_keys[c, 0], cand_keys[c, 1], k, lin[lo:hi], quad[lo:hi],
                             has_quad, u, z, scratch)
            sc = np.log(a) - lw
            if sc < bs:
                bk, bs, blw = k, sc, lw
        best_k[c, s], best_s[c, s], best_lw[c, s] = bk, bs, blw


def _reduce_segments(best_k: np.ndarray, best_s: np.ndarray, best_lw: np.ndarray) -> SearchResult:
    j = np.argmin(best_s, axis=1)  # first minimum: the lowest index wins a (measure-zero) tie
    rows = np.arange(best_s.shape[0])
    return SearchResult(best_k[rows, j].astype(np.int64), best_s[rows, j], best_lw[rows, j])


def search_cpu(p: SearchProblem) -> SearchResult:
    """Parallel Numba search, one task per (chunk, segment of SEGMENT candidates)."""
    n_seg = -(-p.n_candidates // SEGMENT)
    n_chunks = p.cand_keys.shape[0]
    if p.rule == MRC:
        carried = np.zeros((n_chunks, n_seg))
    else:
        sums = _segment_sums(p.rule, p.arr_keys, p.n_candidates, n_seg, work=n_chunks * p.n_candidates)
        carried = np.concatenate([np.zeros((n_chunks, 1)), np.cumsum(sums, axis=1)[:, :-1]], axis=1)
    quad = p.quad if p.quad is not None else p.lin  # unread when has_quad is False
    best_k = np.empty((n_chunks, n_seg), dtype=np.int64)
    best_s = np.empty((n_chunks, n_seg))
    best_lw = np.empty((n_chunks, n_seg))
    _search_segments(p.rule, p.cand_keys, p.arr_keys, p.lin, quad, p.quad is not None, p.offsets,
                     p.n_candidates, carried, best_k, best_s, best_lw,
                     work=p.n_candidates * p.lin.size)
    return _reduce_segments(best_k, best_s, best_lw)
