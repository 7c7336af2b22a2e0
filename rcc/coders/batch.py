"""The batched API: many independent targets against one proposal, one seed and stream per item.

>>> from rcc.coders import PoissonFunctionalRepresentation
>>> coder, proposal = PoissonFunctionalRepresentation(), Normal(0.0, 1.0)
>>> targets = NormalTargets(loc=[0.1, -0.3], scale=[0.5, 0.4])
>>> messages, stats = coder.encode_batch(targets, proposal, seeds=[0, 1])
>>> coder.decode_batch(messages, proposal, seeds=[0, 1]).shape
(2,)

Item ``i`` is exactly the per-item call ``coder.encode(targets[i], proposal, seeds[i],
streams[i])``: same message, same statistics, same decoded sample (the tests check it). Every
coder gets the batched methods from :class:`BatchCoder`, which loops over the items. Exact PFR
(and global A* coding, the same search) and GRS on univariate Normal targets against a
univariate Normal proposal run compiled kernels (Numba, parallel over items) that follow the
per-item arithmetic operation for operation: the Philox variates come from the same compiled
rules, log-densities are evaluated in numpy's order with the same host-computed logarithms of
the scales, and arrival times keep the per-item block structure (within a block ``carry +
cumsum``); work whose outcome is already certain is skipped (see :func:`_pfr_normal` and
:func:`_grs_normal`), and the Philox variates of :data:`CHUNK` consecutive candidates are drawn
together in a loop the compiler vectorizes, before the sequential decisions over them. The one
difference is the logarithm of arrival times and the exponential of log-ratios, evaluated by the
compiled libm instead of numpy's SIMD loops; they may differ by an ulp, which changes a decision
only when two scores tie to an ulp.

Index codes: Elias gamma and delta and fixed-length messages of a batch are written by integer
arithmetic that reproduces :class:`rcc.codes.BitWriter` bit for bit; other codes are called per item.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import llvmlite.binding as llvm
import numba
import numpy as np
from numba import njit, prange

from kernels.cpu import JIT_OPTIONS, ops
from rcc.bounds import LN2
from rcc.codes import EliasDeltaCode, EliasGammaCode, FixedLengthCode, IndexCode
from rcc.core import Message, Proposal, Stats, Target
from rcc.distributions import Normal
from rcc.randomness import Domain, item_keys

__all__ = ["BatchCoder", "BatchStats", "CandidateBatchCoder", "NormalTargets"]

Streams = Sequence[tuple[int, ...]] | np.ndarray | tuple[int, ...] | None


@dataclass(frozen=True)
class BatchStats:
    """Per-item statistics of a batch as arrays (the fields of :class:`rcc.core.Stats`)."""

    index: np.ndarray
    bits: np.ndarray
    ideal_bits: np.ndarray
    proposals: np.ndarray
    log_ratio_bits: np.ndarray

    @classmethod
    def of(cls, stats: Sequence[Stats]) -> BatchStats:
        return cls(np.array([s.index for s in stats], dtype=np.int64),
                   np.array([s.bits for s in stats], dtype=np.int64),
                   np.array([s.ideal_bits for s in stats], dtype=np.float64),
                   np.array([s.proposals for s in stats], dtype=np.int64),
                   np.array([s.log_ratio_bits for s in stats], dtype=np.float64))

    def __len__(self) -> int:
        return int(self.index.size)

    def __getitem__(self, i: int) -> Stats:
        return Stats(int(self.index[i]), int(self.bits[i]), float(self.ideal_bits[i]),
                     int(self.proposals[i]), float(self.log_ratio_bits[i]))


@dataclass(frozen=True)
class NormalTargets:
    """``n`` independent univariate targets ``N(loc[i], scale[i]^2)`` given as parameter arrays."""

    loc: np.ndarray
    scale: np.ndarray

    def __init__(self, loc: object, scale: object) -> None:
        loc_a, scale_a = np.broadcast_arrays(np.asarray(loc, dtype=np.float64),
                                             np.asarray(scale, dtype=np.float64))
        if loc_a.ndim != 1:
            raise ValueError(f"loc and scale must be vectors (one entry per item), got {loc_a.shape}")
        for i in np.flatnonzero(~np.isfinite(loc_a) | ~np.isfinite(scale_a) | (scale_a <= 0))[:1]:
            Normal(loc_a[i], scale_a[i])  # raises the per-item error
        object.__setattr__(self, "loc", loc_a.copy())
        object.__setattr__(self, "scale", scale_a.copy())

    def __len__(self) -> int:
        return int(self.loc.size)

    def __getitem__(self, i: int) -> Normal:
        return Normal(self.loc[i], self.scale[i])


# -- seeds, streams and keys --------------------------------------------------------------------


def _seeds(seeds: object, n: int) -> np.ndarray:
    s = np.asarray(seeds)
    if s.shape != (n,) or s.dtype.kind not in "iu":
        raise ValueError(f"seeds must be {n} integers (one per item), got shape {s.shape} of "
                         f"{s.dtype}")
    if s.dtype.kind == "i" and np.any(s < 0):
        raise ValueError("seeds must be non-negative")
    return s.astype(np.uint64)


def _streams(streams: Streams, n: int) -> np.ndarray:
    """Stream paths as an (n, depth) uint64 array; a tuple is one path shared by every item."""
    if streams is None:
        return np.zeros((n, 0), dtype=np.uint64)
    if isinstance(streams, tuple):
        return np.tile(np.asarray(streams, dtype=np.uint64).reshape(1, -1), (n, 1))
    arr = np.asarray(streams)
    if arr.ndim != 2 or arr.shape[0] != n or (arr.size and arr.dtype.kind not in "iu"):
        raise ValueError(f"streams must be one integer path per item, shape ({n}, depth), got "
                         f"{arr.shape}")
    if arr.dtype.kind == "i" and np.any(arr < 0):
        raise ValueError("stream components must be non-negative")
    return arr.astype(np.uint64)


# -- messages -----------------------------------------------------------------------------------


_U64 = np.uint64


def _bit_length(v: np.ndarray) -> np.ndarray:
    """``int.bit_length`` of each uint64 (frexp is exact on the 32-bit halves)."""
    hi, lo = (v >> _U64(32)).astype(np.float64), (v & _U64(0xFFFFFFFF)).astype(np.float64)
    return np.where(hi > 0, 32 + np.frexp(hi)[1], np.frexp(lo)[1]).astype(np.int64)


def _shift(v: np.ndarray, by: np.ndarray, left: bool) -> np.ndarray:
    """``v << by`` or ``v >> by`` per element, 0 where ``by >= 64`` (numpy leaves that undefined)."""
    safe = np.minimum(by, 63).astype(np.uint64)
    out = (v << safe) if left else (v >> safe)
    return np.where(by >= 64, _U64(0), out)


def _code_words(code: IndexCode, index: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(value, length in bits) of each single-index message of an Elias or fixed-length code, as
    its BitWriter writes it; None for other codes and for messages longer than 64 bits."""
    k = index.astype(np.uint64)
    if isinstance(code, FixedLengthCode):
        values, lengths = k, np.full(k.size, code.width, dtype=np.int64)
    elif isinstance(code, (EliasGammaCode, EliasDeltaCode)):
        n = k + _U64(1)
        width = _bit_length(n)
        if isinstance(code, EliasGammaCode):
            values, lengths = n, 2 * width - 1
        else:  # gamma code of the width, then the bits of n below its leading one
            low = n - _shift(_U64(1), width - 1, left=True)
            values = _shift(width.astype(np.uint64), width - 1, left=True) | low
            lengths = 2 * _bit_length(width.astype(np.uint64)) - 1 + width - 1
    else:
        return None
    return (values, lengths) if np.all(lengths <= 64) else None


def messages_for(code: IndexCode, index: np.ndarray) -> tuple[list[Message], np.ndarray]:
    """Messages of single indices and each message's ideal length (the code's ``ideal_bits``)."""
    words = _code_words(code, index) if np.all(index < 1 << 62) else None
    if words is None:
        return ([Message(code.encode([int(k)])) for k in index],
                np.array([code.ideal_bits(int(k)) for k in index], dtype=np.float64))
    values, lengths = words
    raw = _shift(values, 64 - lengths, left=True).astype(">u8").tobytes()
    ends = (8 * np.arange(index.size) + (lengths + 7) // 8).tolist()
    ideal = (np.full(index.size, math.log2(code.n)) if isinstance(code, FixedLengthCode)
             else lengths.astype(np.float64))
    starts = range(0, 8 * index.size, 8)
    return [Message(raw[b:e]) for b, e in zip(starts, ends, strict=True)], ideal


def _first_indices(code: IndexCode, messages: Sequence[Message]) -> np.ndarray:
    """The first index of each message: vectorized for Elias and fixed-length messages of at
    most 8 bytes (what their BitReader reads), the code itself for the rest and for anything
    malformed, so errors are the code's own."""
    data = [m.data for m in messages]
    index = np.full(len(data), -1, dtype=np.int64)
    size = np.fromiter(map(len, data), dtype=np.int64, count=len(data))
    short = size <= 8
    if isinstance(code, (FixedLengthCode, EliasGammaCode, EliasDeltaCode)) and short.any():
        sel = np.flatnonzero(short)
        words = (b"".join(d.ljust(8, b"\0") for d in data) if sel.size == len(data)
                 else b"".join(data[i].ljust(8, b"\0") for i in sel.tolist()))
        v = np.frombuffer(words, dtype=">u8").astype(np.uint64)
        k, ok = _parse_words(code, v, 8 * size[sel])
        index[sel[ok]] = k[ok]
    for i in np.flatnonzero(index < 0):
        index[i] = code.decode(data[i], 1)[0]
    return index


def _parse_words(code: IndexCode, v: np.ndarray, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices read from messages left-aligned in uint64 words ``v`` holding ``bits`` bits, and
    which of them are well formed."""
    if isinstance(code, FixedLengthCode):
        k = _shift(v, np.full(v.size, 64 - code.width), left=False)
        return k.astype(np.int64), (code.width <= bits) & (k < _U64(code.n))
    zeros = 64 - _bit_length(v)
    used = 2 * zeros + 1
    n = _shift(v, 64 - used, left=False)
    ok = (v > 0) & (used <= bits)
    if isinstance(code, EliasGammaCode):
        return n.astype(np.int64) - 1, ok
    w = n.astype(np.int64)
    ok &= (w <= 63) & (used + w - 1 <= bits)
    rest = _shift(_shift(v, used, left=True), 64 - (w - 1), left=False)
    k = (_shift(_U64(1), w - 1, left=True) | rest).astype(np.int64) - 1
    return k, ok


def _finish_batch(code: IndexCode, index: np.ndarray, proposals: np.ndarray,
                  log_ratio_nats: np.ndarray) -> tuple[list[Message], BatchStats]:
    messages, ideal = messages_for(code, index)
    bits = 8 * np.fromiter(map(len, (m.data for m in messages)), dtype=np.int64,
                           count=len(messages))
    return messages, BatchStats(index, bits, ideal, proposals, log_ratio_nats / LN2)


# -- compiled kernels ---------------------------------------------------------------------------

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


@njit(inline="always", **JIT_OPTIONS)
def _exponential(key: np.ndarray, k: int) -> float:
    u0, _ = _block_uniforms(key[0], key[1], np.uint64(0), np.uint64(k))
    return -np.log(u0)


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
def _pfr_normal(cand_keys, arr_keys, params, log_w_max, first, largest, out_index,  # noqa: ANN001
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


def grs_slack(pairs: np.ndarray) -> np.ndarray:
    """Widening of the quantile interval ``{r > L}`` of :func:`_normal_step` beyond which a
    candidate's computed ratio is certainly at most ``L``.

    A candidate with computed ``r > L`` has ``log r > log L - SKIP_MARGIN_NATS`` exactly (the
    margin dwarfs the rounding of the log-densities), so ``|x - x0| < sqrt((gap + margin) / a)
    <= half + sqrt(margin / a)``; P's density is at most ``1 / (s_p sqrt(2 pi))``, so its quantile
    lies within that times ``sqrt(margin / a)`` of the interval's, plus 1e-12 for the rounding of
    ``ndtr`` and of the candidate's normal."""
    a, _ = _ratio_shape(pairs)
    return np.sqrt(SKIP_MARGIN_NATS / a) / (pairs[:, 3] * math.sqrt(2 * math.pi)) + 1e-12


@njit(parallel=True, **JIT_OPTIONS)
def _grs_normal(cand_keys, accept_keys, params, logs, out_index, out_lr) -> None:  # noqa: ANN001
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
def _normal_candidates(keys, index, loc, scale, out) -> None:  # noqa: ANN001
    """One candidate per item: tens of nanoseconds each, less than handing work to threads."""
    for i in range(keys.shape[0]):
        out[i] = _candidate(keys[i], index[i], loc, scale)


# -- fast paths ---------------------------------------------------------------------------------


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
    _pfr_normal(item_keys(seeds, Domain.CANDIDATES, paths), item_keys(seeds, Domain.ARRIVALS, paths),
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
    _grs_normal(item_keys(seeds, Domain.CANDIDATES, paths), item_keys(seeds, Domain.ACCEPT, paths),
                params, logs, index, lr)
    return _finish_batch(code, index, index + 1, lr)


def decode_candidates_batch(code: IndexCode, messages: Sequence[Message], proposal: Proposal,
                            seeds: np.ndarray, paths: np.ndarray,
                            limit: int | None) -> np.ndarray | None:
    """Candidates named by the messages, for a univariate Normal proposal (else None)."""
    if not isinstance(proposal, Normal) or proposal.event_shape != ():
        return None
    for m in messages:
        if not isinstance(m, Message):
            raise TypeError(f"expected an rcc.core.Message, got {type(m).__name__}")
    index = _first_indices(code, messages)
    if limit is not None and index.size and index.max() >= limit:
        raise ValueError(f"corrupt message: index {int(index.max())} beyond the {limit} candidates")
    out = np.empty(index.size)
    _normal_candidates(item_keys(seeds, Domain.CANDIDATES, paths), index, float(proposal.loc),
                       float(proposal.scale), out)
    return out


# -- the mixin ----------------------------------------------------------------------------------


class BatchCoder:
    """``encode_batch`` / ``decode_batch`` for a coder with per-item ``encode`` / ``decode``.

    A coder with compiled kernels overrides :meth:`_encode_fast` and :meth:`_decode_fast`, which
    return None for batches they do not take; the per-item loop serves the rest.
    """

    def encode_batch(self, targets: Sequence[Target] | NormalTargets, proposal: Proposal,
                     seeds: object, streams: Streams = None) -> tuple[list[Message], BatchStats]:
        """Messages and statistics of ``len(targets)`` independent items; item ``i`` uses
        ``seeds[i]`` and ``streams[i]`` (a tuple: one stream for all items)."""
        n = len(targets)
        s, paths = _seeds(seeds, n), _streams(streams, n)
        fast = self._encode_fast(targets, proposal, s, paths) if n else None
        if fast is not None:
            return fast
        results = [self.encode(targets[i], proposal, int(s[i]), tuple(int(c) for c in paths[i]))
                   for i in range(n)]
        return [m for m, _ in results], BatchStats.of([st for _, st in results])

    def decode_batch(self, messages: Sequence[Message], proposal: Proposal, seeds: object,
                     streams: Streams = None) -> np.ndarray:
        """The samples ``(n, *event_shape)`` of a batch of messages."""
        n = len(messages)
        s, paths = _seeds(seeds, n), _streams(streams, n)
        fast = self._decode_fast(messages, proposal, s, paths) if n else None
        if fast is not None:
            return fast
        return np.asarray([self.decode(messages[i], proposal, int(s[i]),
                                       tuple(int(c) for c in paths[i])) for i in range(n)])

    def _encode_fast(self, targets: object, proposal: Proposal, seeds: np.ndarray,
                     paths: np.ndarray) -> tuple[list[Message], BatchStats] | None:
        return None

    def _decode_fast(self, messages: Sequence[Message], proposal: Proposal, seeds: np.ndarray,
                     paths: np.ndarray) -> np.ndarray | None:
        return None


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
