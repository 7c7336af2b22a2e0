"""Plain numpy reference of the fused Gaussian candidate search: the specification that the Numba CPU
and CUDA searches are tested against (indices exactly, scores and log-weights to rounding).

Each chunk's candidates are materialised one window at a time with :mod:`rcc_kernels.reference` (the
frozen mapping of ``docs/randomness.md``: Philox4x32-10 of Salmon et al. 2011 and the AS 241
normal quantile), scored by ``log A_k - log w_k`` under the rule of :mod:`rcc_kernels.search_problem`
(PFR, Li & El Gamal 2018; ORC, Theis & Yosri 2022; MRC, Havasi et al. 2019), and the first minimum
is kept. Slow and obviously right; only one window of candidates is held at a time, the arrival
time being carried from window to window.
"""

from __future__ import annotations

import numpy as np

from rcc_kernels import reference
from rcc_kernels.search_problem import MRC, ORC, SearchProblem, SearchResult

__all__ = ["REFERENCE_WINDOW", "search_reference"]


REFERENCE_WINDOW = 4096


def _arrival_weight(rule: int, k: np.ndarray | int, n: int) -> np.ndarray | float:
    return 1.0 / (n - k) if rule == ORC else 1.0


def search_reference(p: SearchProblem, window: int = REFERENCE_WINDOW) -> SearchResult:
    """Plain numpy: materialise a window of candidates per chunk, score it, keep the best."""
    n_chunks = p.cand_keys.shape[0]
    index = np.zeros(n_chunks, dtype=np.int64)
    score = np.full(n_chunks, np.inf)
    logw = np.zeros(n_chunks)
    for c in range(n_chunks):
        lo, hi = p.offsets[c], p.offsets[c + 1]
        carried = 0.0
        for k0 in range(0, p.n_candidates, window):
            k1 = min(k0 + window, p.n_candidates)
            cand, coord = reference.grid(k0, k1, int(hi - lo))
            normals = reference.normal_at(p.cand_keys[c], cand, coord)
            lw = normals @ p.lin[lo:hi]
            if p.quad is not None:
                lw = lw + (normals * normals) @ p.quad[lo:hi]
            e = reference.exponential_at(p.arr_keys[c], np.arange(k0, k1, dtype=np.uint64), 0)
            if p.rule == MRC:
                a = e
            else:
                a = carried + np.cumsum(e * _arrival_weight(p.rule, np.arange(k0, k1), p.n_candidates))
                carried = a[-1]
            s = np.log(a) - lw
            j = int(np.argmin(s))
            if s[j] < score[c]:
                index[c], score[c], logw[c] = k0 + j, s[j], lw[j]
    return SearchResult(index, score, logw)
