"""numba-cuda search: the fused Gaussian candidate search on a GPU, or in Numba's CUDA simulator.

The problem and its rules (PFR, Li & El Gamal 2018; ORC, Theis & Yosri 2022; MRC, Havasi et al.
2019) are those of :mod:`rcc_kernels.search_problem`; candidates come from Philox4x32-10 (Salmon et al.
2011) under the frozen mapping of ``docs/randomness.md``, through the device functions of
:mod:`rcc_kernels._cuda_kernels`. Candidates are processed in windows of ``window`` per chunk: one
thread per (chunk, candidate) computes the arrival increment, the array module's ``cumsum`` turns
increments into arrival times (carried from window to window, so memory stays bounded), and a
second kernel generates the candidate's normals on the fly and scores it. Only scores of one window
are ever stored, never candidates.

Indices equal those of the numpy reference (:mod:`rcc_kernels.search_reference`) exactly; scores and
log-weights agree to rounding (CUDA's ``log`` may differ from the CPU's by an ulp, and the compiler
fuses multiply-adds). Importing this module imports ``numba.cuda``, so
:func:`rcc_kernels.search.search_gpu` imports it on first use; ``cuda`` is a module global so that the
CUDA simulator can swap it (see :mod:`rcc_kernels._cuda_kernels`).
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from rcc_kernels import gpu
from rcc_kernels._cuda_kernels import ops
from rcc_kernels.generators import to_numpy
from rcc_kernels.search_problem import MRC, ORC, SearchProblem, SearchResult

_block_uniforms = ops.block_uniforms
_ndtri = ops.ndtri
THREADS = 128
DEFAULT_WINDOW = 1 << 16


@cuda.jit
def _increments(rule, arr_keys, k0, n, out):  # noqa: ANN001, ANN202
    c, j = cuda.grid(2)
    if c >= out.shape[0] or j >= out.shape[1]:
        return
    out[c, j] = ops.arrival_increment(rule == ORC, arr_keys[c, 0], arr_keys[c, 1], k0 + j, n)


@cuda.jit
def _scores(cand_keys, lin, quad, has_quad, offsets, k0, arrivals, score, log_w):  # noqa: ANN001, ANN202
    c, j = cuda.grid(2)
    if c >= score.shape[0] or j >= score.shape[1]:
        return
    lo = offsets[c]
    d = offsets[c + 1] - lo
    k = np.uint64(k0 + j)
    acc = 0.0
    for b in range((d + 1) // 2):
        u0, u1 = _block_uniforms(cand_keys[c, 0], cand_keys[c, 1], np.uint64(b), k)
        i = lo + 2 * b
        z = _ndtri(u0)
        acc += z * (lin[i] + quad[i] * z) if has_quad else lin[i] * z
        if 2 * b + 1 < d:
            z = _ndtri(u1)
            acc += z * (lin[i + 1] + quad[i + 1] * z) if has_quad else lin[i + 1] * z
    log_w[c, j] = acc
    score[c, j] = np.log(arrivals[c, j]) - acc


def search_gpu(p: SearchProblem, window: int | None = None) -> SearchResult:
    """Search ``p`` in windows of ``window`` candidates per chunk (``DEFAULT_WINDOW`` if None)."""
    xp = gpu.array_module()
    n_chunks = p.cand_keys.shape[0]
    window = min(window or DEFAULT_WINDOW, p.n_candidates)
    cand_keys, arr_keys = xp.asarray(p.cand_keys), xp.asarray(p.arr_keys)
    lin, offsets = xp.asarray(p.lin), xp.asarray(p.offsets)
    quad = xp.asarray(p.quad) if p.quad is not None else lin
    carried = xp.zeros((n_chunks, 1))
    best = (np.zeros(n_chunks, np.int64), np.full(n_chunks, np.inf), np.zeros(n_chunks))
    rows = np.arange(n_chunks)
    for k0 in range(0, p.n_candidates, window):
        w = min(window, p.n_candidates - k0)
        grid = (n_chunks, -(-w // THREADS))
        inc = xp.empty((n_chunks, w))
        _increments[grid, (1, THREADS)](p.rule, arr_keys, k0, p.n_candidates, inc)
        if p.rule == MRC:
            arrivals = inc
        else:
            arrivals = carried + xp.cumsum(inc, axis=1)
            carried = arrivals[:, -1:]
        score = xp.empty((n_chunks, w))
        log_w = xp.empty((n_chunks, w))
        _scores[grid, (1, THREADS)](cand_keys, lin, quad, p.quad is not None, offsets, k0,
                                     arrivals, score, log_w)
        j = to_numpy(xp.argmin(score, axis=1))
        s, lw = to_numpy(score[rows, j]), to_numpy(log_w[rows, j])
        better = s < best[1]
        best[0][better], best[1][better], best[2][better] = k0 + j[better], s[better], lw[better]
    return SearchResult(*best)
