"""Compiled batches of univariate Normal pairs: exact PFR (and global A* coding, the same search)
and GRS of each item, and the candidates its message names.

The kernels (Numba, parallel over items) follow the per-item arithmetic operation for operation:
the Philox variates come from the same compiled rules (:mod:`rcc_kernels.cpu`), log-densities are
evaluated in numpy's order with the same host-computed logarithms of the scales, and arrival times
keep the per-item block structure (within a block ``carry + cumsum``); work whose outcome is already
certain is skipped (see :func:`pfr_normal` and :func:`grs_normal`), and the Philox variates of
:data:`CHUNK` consecutive candidates are drawn together in a loop the compiler vectorizes, before
the sequential decisions over them. The one difference is the logarithm of arrival times and the
exponential of log-ratios, evaluated by the compiled libm instead of numpy's SIMD loops; they may
differ by an ulp, which changes a decision only when two scores tie to an ulp. GRS's normal CDF is
scipy's own ``ndtr``, so its levels equal the per-item ones bit for bit.
"""

from __future__ import annotations

import math

import llvmlite.binding as llvm
import numba
import numpy as np
from numba import njit, prange

from rcc_kernels.cpu import JIT_OPTIONS, ops

__all__ = ["CHUNK", "GROUP", "REFRESH", "SKIP_MARGIN_NATS", "grs_normal", "normal_candidates",
           "pfr_normal"]

_block_uniforms = ops.block_uniforms
_ndtri = ops.ndtri
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
# scipy's own ndtr, so that compiled GRS levels equal the per-item ones bit for bit. It is bound by
# symbol name (not as a ctypes pointer), which keeps the kernels cacheable on disk.
llvm.add_symbol("rcc_scipy_ndtr", numba.extending.get_cython_function_address(
    "scipy.special.cython_special", "__pyx_fuse_1ndtr"))
_ndtr = numba.types.ExternalFunction("rcc_scipy_ndtr", numba.float64(numba.float64))


@njit(inline="always", **JIT_OPTIONS)
def _normal_log_prob(x: float, loc: float, scale: float, log_scale: float) -> float:
    # The order of rcc.distributions.Normal.log_prob: -0.5 * z**2 - log(scale) - log sqrt(2 pi).
    z = (x - loc) / scale
    return -0.5 * (z * z) - log_scale - _LOG_SQRT_2PI


@njit(inline="always", **JIT_OPTIONS)
def _candidate(key: np.ndarray, k: int, loc: float, scale: float) -> float:
    u0, _ = _block_uniforms(key[0], key[1], np.uint64(0), np.uint64(k))
    return loc + scale * _ndtri(u0)


SKIP_MARGIN_NATS = 1e-9
"""Slack of the filters below: far above the rounding of a log-ratio (about 1e-14 nats)."""
REFRESH = 64
"""Skipped candidates between refreshes of the filter (which tightens as arrivals grow)."""


@njit(inline="always", **JIT_OPTIONS)
def _hopeful_quantiles(gap: float, curvature: float, x0: float, m_p: float,
                       s_p: float) -> tuple[float, float]:
    """Quantiles of P outside of which a candidate's log-ratio is at most ``log w_max - gap``:
    ``log r = log w_max - curvature (x - x0)^2``, widened by the slack on both scales."""
    if gap == np.inf:
        return -1.0, 2.0
    w = math.sqrt(max(gap + SKIP_MARGIN_NATS, 0.0) / curvature)
    return (_ndtr((x0 - w - m_p) / s_p) - 1e-12, _ndtr((x0 + w - m_p) / s_p) + 1e-12)


CHUNK = 16
"""Candidates whose Philox variates (and arrival logarithms) are generated in one branch-free
loop, which the compiler vectorizes, before the sequential decisions over them. Variates past a
stopping point are computed and discarded; no decision depends on the chunk size."""
GROUP = 64
"""Items per unit of parallel work (they share the scratch buffers of one chunk)."""


@njit(parallel=True, **JIT_OPTIONS)
def pfr_normal(cand_keys, arr_keys, params, log_w_max, first, largest, out_index,  # noqa: ANN001
               out_proposals, out_lr) -> None:
    """Exact PFR of each item; ``params`` rows: m_q, s_q, log s_q, m_p, s_p, log s_p, curvature
    ``(1/s_q^2 - 1/s_p^2) / 2`` and mode ``x0`` of the log-ratio.

    Every decision is the per-item search's, computed the same way; two filters only skip work
    whose outcome is already certain. A candidate improves the best score only if
    ``log r > log A - best``; with ``log A >= L`` (an earlier arrival's log) that needs its quantile
    inside :func:`_hopeful_quantiles` of ``gap = log w_max + best - L``, so the others skip their
    normal, log-densities and log-arrival. The stopping rule ``log A - log w_max >= best`` needs
    the logarithm only once ``A`` comes within a relative 1e-12 of ``exp(best + log w_max)``.
    Each chunk of :data:`CHUNK` candidates first draws its arrival and candidate uniforms and
    the arrivals' ``-log u``; the arrival times are then summed in the per-item order (within a
    block ``carry + cumsum``).
    """
    n = cand_keys.shape[0]
    for g in prange((n + GROUP - 1) // GROUP):
        expo, unif = np.empty(CHUNK), np.empty(CHUNK)
        for i in range(g * GROUP, min(n, (g + 1) * GROUP)):
            m_q, s_q, l_q, m_p, s_p, l_p, curvature, x0 = params[i]
            ck0, ck1, ak0, ak1 = cand_keys[i, 0], cand_keys[i, 1], arr_keys[i, 0], arr_keys[i, 1]
            lwm = log_w_max[i]
            best_s, best_k, best_lr = np.inf, -1, -np.inf
            stop_arrival, lo, hi, floor_log_a, skipped = np.inf, -1.0, 2.0, -np.inf, 0
            carry, k0, block, stop = 0.0, 0, first, -1
            while stop < 0:
                c = 0.0
                for kc in range(k0, k0 + block, CHUNK):
                    for j in range(CHUNK):  # a whole chunk even past the block's end: it vectorizes
                        expo[j], _ = _block_uniforms(ak0, ak1, np.uint64(0), np.uint64(kc + j))
                        unif[j], _ = _block_uniforms(ck0, ck1, np.uint64(0), np.uint64(kc + j))
                    for j in range(CHUNK):
                        expo[j] = -np.log(expo[j])
                    m = min(CHUNK, k0 + block - kc)
                    # Arrivals increase, so when none of the chunk's candidates is hopeful and its
                    # last arrival is below the stopping threshold, the chunk only adds its arrivals.
                    c_end, hopeful = c, False
                    for j in range(m):
                        c_end += expo[j]
                        hopeful |= (lo < unif[j]) & (unif[j] < hi)
                    if not hopeful and carry + c_end < stop_arrival:
                        c = c_end
                        skipped += m
                        if skipped >= REFRESH:  # arrivals grew: tighten the filter
                            skipped, floor_log_a = 0, np.log(carry + c)
                            lo, hi = _hopeful_quantiles(lwm + best_s - floor_log_a, curvature, x0,
                                                        m_p, s_p)
                        continue
                    for j in range(m):
                        k = kc + j
                        c += expo[j]
                        a = carry + c
                        if a >= stop_arrival and np.log(a) - lwm >= best_s:
                            stop = k
                            break
                        u0 = unif[j]
                        if not lo < u0 < hi:
                            skipped += 1
                            if skipped >= REFRESH:
                                skipped, floor_log_a = 0, np.log(a)
                                lo, hi = _hopeful_quantiles(lwm + best_s - floor_log_a, curvature,
                                                            x0, m_p, s_p)
                            continue
                        log_a = np.log(a)
                        x = m_p + s_p * _ndtri(u0)
                        lr = _normal_log_prob(x, m_q, s_q, l_q) - _normal_log_prob(x, m_p, s_p, l_p)
                        if log_a - lr < best_s:
                            best_s, best_k, best_lr = log_a - lr, k, lr
                            stop_arrival = math.exp(best_s + lwm) * (1 - 1e-12)
                        floor_log_a = log_a
                        lo, hi = _hopeful_quantiles(lwm + best_s - floor_log_a, curvature, x0, m_p,
                                                    s_p)
                    if stop >= 0:
                        break
                carry += c
                k0, block = k0 + block, min(2 * block, largest)
            out_index[i], out_proposals[i], out_lr[i] = best_k, stop, best_lr


@njit(inline="always", **JIT_OPTIONS)
def _normal_step(level: float, q: np.ndarray) -> tuple[float, float, float]:
    """rcc.coders.grs._normal_excess at ``level`` (the same operations), ``q`` = (m_q, s_q, m_p,
    s_p, a, x0, log_r_max, slack), and the P-quantiles of the interval ``{r > level}`` it
    integrates over, widened by ``slack`` (-1 and 2 where it has none)."""
    m_q, s_q, m_p, s_p, a, x0, log_r_max = q[0], q[1], q[2], q[3], q[4], q[5], q[6]
    if level <= 0:
        return 1.0 - level, -1.0, 2.0
    gap = log_r_max - math.log(level)
    if gap <= 0:
        return 0.0, -1.0, 2.0
    half = math.sqrt(gap / a)
    lo, hi = x0 - half, x0 + half
    q_in = _ndtr((hi - m_q) / s_q) - _ndtr((lo - m_q) / s_q)
    p_hi, p_lo = _ndtr((hi - m_p) / s_p), _ndtr((lo - m_p) / s_p)
    p_in = p_hi - p_lo
    return max(0.0, q_in - level * p_in), p_lo - q[7], p_hi + q[7]


@njit(parallel=True, **JIT_OPTIONS)
def grs_normal(cand_keys, accept_keys, params, logs, out_index, out_lr) -> None:  # noqa: ANN001
    """GRS of each item, climbing the staircase of rcc.coders.grs level by level.

    A candidate whose uniform lies outside the widened quantiles of ``{r > lower}`` has
    ``r <= lower`` and so acceptance probability exactly 0 (unless the step's width is 0, where
    the per-item rule accepts): its normal, log-densities and ratio are skipped, and so is the
    acceptance uniform of every candidate with probability 0 (which lies in (0, 1)). The levels
    do not depend on the candidates, and the per-item search's blocks change nothing here.
    """
    n = cand_keys.shape[0]
    for g in prange((n + GROUP - 1) // GROUP):
        unif = np.empty(CHUNK)
        for i in range(g * GROUP, min(n, (g + 1) * GROUP)):
            m_q, s_q, m_p, s_p = params[i, 0], params[i, 1], params[i, 2], params[i, 3]
            ck0, ck1 = cand_keys[i, 0], cand_keys[i, 1]
            lower, kc, found = 0.0, 0, False
            while not found:
                for j in range(CHUNK):
                    unif[j], _ = _block_uniforms(ck0, ck1, np.uint64(0), np.uint64(kc + j))
                for j in range(CHUNK):
                    excess, u_lo, u_hi = _normal_step(lower, params[i])
                    upper = lower + excess
                    width = upper - lower
                    u0 = unif[j]
                    if width > 0 and not u_lo < u0 < u_hi:  # r <= lower: rejected
                        lower = upper
                        continue
                    x = m_p + s_p * _ndtri(u0)
                    lr = (_normal_log_prob(x, m_q, s_q, logs[i, 0])
                          - _normal_log_prob(x, m_p, s_p, logs[i, 1]))
                    r = np.exp(lr)
                    prob = (min(r, upper) - min(r, lower)) / width if width > 0 else 1.0
                    # prob = 0 rejects whatever the uniform (which lies in (0, 1)): skip drawing it.
                    if prob > 0:
                        u1, _ = _block_uniforms(accept_keys[i, 0], accept_keys[i, 1],
                                                np.uint64(0), np.uint64(kc + j))
                        if u1 < prob:
                            out_index[i], out_lr[i], found = kc + j, lr, True
                            break
                    lower = upper
                kc += CHUNK


@njit(**JIT_OPTIONS)
def normal_candidates(keys, index, loc, scale, out) -> None:  # noqa: ANN001
    """One candidate per item, sequentially (each costs less than handing work to a thread)."""
    for i in range(keys.shape[0]):
        out[i] = _candidate(keys[i], index[i], loc, scale)
