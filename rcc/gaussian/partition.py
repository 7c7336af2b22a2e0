"""The partition policy of the chunked Gaussian channel: which dimensions share a chunk.

Following Havasi et al. (2019, "Minimal random code learning"), the dimensions are split into
chunks of about ``chunk_bits`` bits of KL, each communicated by its own search over
``N_c = 2^(b_c + headroom_bits)`` candidates, ``b_c`` the chunk's KL rounded up (``docs/channel.md``).
Because every chunk's search is sized to that chunk, chunks can be *filled*: the dimensions are
split into ``ceil(KL / chunk_bits)`` chunks of equal size by a seeded shuffle that the decoder
reproduces, so the mean chunk carries about ``chunk_bits`` bits. The encoder tries
``2^partition_trial_bits`` shuffles and keeps the one with the least search work
``sum_c (d_c + CANDIDATE_DIMS) 2^b_c``.

A dimension carrying more than ``chunk_bits`` on its own is *heavy*: it becomes a chunk by itself,
named in the side information, so that it costs its own search only instead of growing the search
of the chunk that holds it. If a shuffled chunk needs more than ``max_search_bits`` with its
headroom, the chunk count grows by 5% until none does, and likewise until the search work is within
``WORK_FACTOR`` of filled chunks; a heavy dimension searches at most ``2^max_search_bits``
candidates (less headroom for it), and one heavier than ``max_search_bits`` bits is an error.

Exact, not approximate: every decision is integer arithmetic on the per-coordinate KL rounded to
2^-KL_GRID_BITS bit, with the first trial winning a tie, so that every CPU takes the same ones
(``docs/determinism.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import rcc_kernels
from rcc.gaussian.spec import ChannelSpec
from rcc.randomness import Domain, key_for

__all__ = ["CANDIDATE_DIMS", "KL_GRID_BITS", "ONE_BIT", "WORK_FACTOR", "Partition", "ceil_bits",
           "coordinates", "on_grid", "partition"]

KL_GRID_BITS = 20
"""Every decision about chunks is taken on the per-coordinate KL rounded to multiples of
2^-KL_GRID_BITS bit, in integers (``docs/determinism.md``): float sums of the same KL in another
order, or with another CPU's ``log``, differ in their last bits, and on a tie (one chunk: every
trial holds the same dimensions) the float argmin picked a different trial on another machine."""
ONE_BIT = 1 << KL_GRID_BITS
CANDIDATE_DIMS = 16
"""The search work of a chunk of ``d`` dimensions and budget ``b`` is counted as
``(d + CANDIDATE_DIMS) 2^b``: a candidate's arrival time and bookkeeping cost about as much as 16
coordinates of its normal vector (``docs/channel.md``)."""
WORK_FACTOR = 16
"""The shuffled chunks of a call do at most WORK_FACTOR times the work of filled chunks of exactly
``chunk_bits``: where the per-coordinate KL spreads so widely that some filled chunks need far
larger searches than others (at a mean of a bit per coordinate, chunks of 8 dimensions reach 20
bits), the chunk count grows until they do not."""


@dataclass(frozen=True)
class Partition:
    """Chunk ``c`` holds coordinates ``coords[offsets[c]:offsets[c + 1]]``, heavy chunks first;
    ``budgets[c]`` is its KL rounded up to whole bits."""

    trial: int
    n_heavy: int
    coords: np.ndarray
    offsets: np.ndarray
    budgets: np.ndarray


def on_grid(kl: np.ndarray) -> np.ndarray:
    """Per-coordinate KL (bits) in int64 multiples of 2^-KL_GRID_BITS bit. Values are capped at
    2^41 bits, beyond any chunk budget, so the budget check still refuses them; once it has passed,
    every value is at most 40 bits (below 2^26 quanta), so int64 sums over fewer than 2^37
    dimensions are exact."""
    return np.rint(np.minimum(kl, 2.0**41) * ONE_BIT).astype(np.int64)


def ceil_bits(kl_grid: np.ndarray) -> np.ndarray:
    """KL on the grid rounded up to whole bits: a chunk's budget."""
    return -(-kl_grid // ONE_BIT)


def _equal_offsets(size: int, n_chunks: int) -> np.ndarray:
    sizes = np.full(n_chunks, size // n_chunks, dtype=np.int64)
    sizes[: size % n_chunks] += 1
    return np.concatenate([[0], np.cumsum(sizes)])


def _shuffled(rest: np.ndarray, dim: int, seed: int, stream: tuple[int, ...], trial: int) -> np.ndarray:
    """The non-heavy coordinates ``rest`` in the order of the trial's shuffle."""
    key = key_for(seed, Domain.PARTITION, stream, trial)
    return rest[rcc_kernels.stable_order(rcc_kernels.uniform(key, 0, 1, dim)[0][rest])]


def _layout(heavy: np.ndarray, order: np.ndarray, n_shuffled: int) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates and chunk offsets: one chunk per heavy dimension, then equal chunks of ``order``."""
    coords = np.concatenate([heavy, order]).astype(np.int64)
    tail = heavy.size + _equal_offsets(order.size, n_shuffled)[1:] if n_shuffled else []
    return coords, np.concatenate([np.arange(heavy.size + 1), tail]).astype(np.int64)


def _check_search(heaviest: int, max_search_bits: int) -> None:
    budget = -(-heaviest // ONE_BIT)
    if budget > max_search_bits:
        raise ValueError(
            f"one dimension carries {heaviest / ONE_BIT:.1f} bits: a chunk holding it would need more "
            f"than 2^{max_search_bits} candidates (max_search_bits) even without headroom; split "
            f"the KL over more calls (e.g. more diffusion steps) or raise max_search_bits")


def partition(kl_grid: np.ndarray, spec: ChannelSpec, max_search_bits: int, seed: int,
              stream: tuple[int, ...]) -> Partition:
    """Heavy dimensions alone, the rest filled to ``chunk_bits`` per chunk; the trial with the
    least search work wins (the first on a tie), all in integers on the gridded KL."""
    dim = kl_grid.size
    target = spec.chunk_bits * ONE_BIT
    is_heavy = kl_grid > target
    heavy, rest = np.flatnonzero(is_heavy), np.flatnonzero(~is_heavy)
    _check_search(int(kl_grid.max(initial=0)), max_search_bits)
    orders = [_shuffled(rest, dim, seed, stream, t) for t in range(1 << spec.partition_trial_bits)]
    n = min(rest.size, max(1, -(-int(kl_grid[rest].sum()) // target)))
    limit = max_search_bits - spec.headroom_bits
    while True:
        layouts = [_layout(heavy, order, n) for order in orders]
        budgets = [ceil_bits(np.add.reduceat(kl_grid[c], o[:-1])) for c, o in layouts]
        # Search work of the shuffled chunks (the heavy ones' is the same in every trial).
        work = [sum(int(d + CANDIDATE_DIMS) << int(b)
                    for d, b in zip(np.diff(o)[heavy.size:], bud[heavy.size:], strict=True))
                for (_, o), bud in zip(layouts, budgets, strict=True)]
        t = work.index(min(work))
        bound = (rest.size + n * CANDIDATE_DIMS) * WORK_FACTOR << spec.chunk_bits
        fits = int(budgets[t][heavy.size:].max(initial=0)) <= limit and work[t] <= bound
        if n >= rest.size or fits:
            coords, offsets = layouts[t]
            return Partition(t if n > 1 else 0, heavy.size, coords, offsets, budgets[t])
        n = min(rest.size, n + -(-n // 20))  # grow by 5%, at least one chunk


def coordinates(heavy: tuple[int, ...], n_chunks: int, trial: int, dim: int, seed: int,
                stream: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The decoder's partition, from the side information alone: coordinates and chunk offsets."""
    heavy_dims = np.asarray(heavy, dtype=np.int64)
    # A mask, not np.setdiff1d, which sorts all ``dim`` coordinates.
    is_rest = np.ones(dim, dtype=bool)
    is_rest[heavy_dims] = False
    rest = np.flatnonzero(is_rest)
    return _layout(heavy_dims, _shuffled(rest, dim, seed, stream, trial), n_chunks - heavy_dims.size)
