"""Chunked channel simulation of high-dimensional diagonal Gaussians.

Sends a sample of the target Q = N(mu_q, diag(s_q^2)) with a prior P = N(mu_p, diag(s_p^2)) that
the decoder knows, as DiffC does at every step (there with s_q = s_p). A single search over
2^D_KL candidates is hopeless for thousands of bits, so, following Havasi et al. (2019, "Minimal
random code learning") and Theis et al. (2022, DiffC), the dimensions are split into chunks of about
``chunk_bits`` bits of KL each, and each chunk is communicated independently with a candidate
search over ``N_c = 2^(b_c + headroom_bits)`` candidates, ``b_c`` the chunk's own KL rounded up
(:mod:`kernels.search`).

What is exact and what is not: each chunk's sample follows the truncated-PFR / ORC / MRC law, which
approaches the chunk's target as the headroom grows (total variation at most
E[log2 K] / log2 N per chunk for PFR; Theis & Yosri 2022). The result is therefore *approximate*;
``GaussianChannelStats.shortfall_bits`` estimates the bias (how far the realized information falls
short of the KL), and ``benchmarks/gaussian_channel.py`` measures it.

Partition, with per-chunk budgets: a chunk's candidate count is sized to that chunk,
``N_c = 2^(b_c + headroom_bits)``, so no chunk must stay below one budget shared by the call. That
lets chunks be *filled*: the dimensions are split into ``ceil(KL / chunk_bits)`` chunks of equal
size by a seeded shuffle that the decoder reproduces, so the mean chunk carries about
``chunk_bits`` bits (a call-wide budget that every chunk had to fit kept the mean chunk near a
quarter of it, and each chunk pays an index overhead of about ``log2(chunk KL) / 2 + 1.5`` bits).
The encoder tries ``2^partition_trial_bits`` shuffles and keeps the one with the least search work
``sum_c (d_c + CANDIDATE_DIMS) 2^b_c``. A dimension carrying more than ``chunk_bits`` on its own is
a *heavy* one: it becomes a chunk by itself, named in the side information (``ceil(log2 D)`` bits
each), so that it costs its own search only (``2^(b + headroom)`` candidates of one coordinate)
instead of growing the search of every chunk, or of the chunk that holds it, to its KL. (Where many
coordinates are heavy, as at a mean of a bit per coordinate with 4-bit chunks, the positions cost
more than the chunks' indices; a DiffC step has few.) If a shuffled chunk needs more than
``max_search_bits`` with its headroom, the chunk count grows by 5% until none does, and likewise
until the call's search work is within ``WORK_FACTOR`` of filled chunks; a heavy dimension
searches at most ``2^max_search_bits`` candidates (less headroom for it), and one heavier than
``max_search_bits`` bits is a clear error. These decisions are integer arithmetic on the
per-coordinate KL rounded to 2^-KL_GRID_BITS bit, with the first trial winning a tie, so that every
CPU takes the same ones (``docs/determinism.md``).

Message: the side information, then the index code's bits, in one bit stream padded once to a byte.
The side information (:class:`SideInfo`, read by :meth:`GaussianChannel.side_info`) is

* the index code's budget over ``chunk_bits``: Elias gamma of ``max(0, max_c b_c - chunk_bits) + 1``
  (1 bit when every chunk fits ``chunk_bits``); the truncated codes stop at
  ``2^(budget + headroom_bits)``, the largest search of the call;
* the heavy dimensions: Elias gamma of their count + 1 (1 bit when none), then their positions;
* the chunk count, heavy ones included, Elias delta (1 bit for one chunk, 14 for 200);
* the partition trial, ``partition_trial_bits`` bits, only when more than one chunk is shuffled;
* for the range-coded index codes, the mean chunk KL in ``MEAN_KL_BITS`` bits, as a level of the
  budget.

Index codes (``index_code``): ``"fixed"`` writes ``budget + headroom_bits`` bits per chunk;
``"zipf"`` and ``"zipf_truncated"`` range-code each index with Li & El Gamal's Zipf law
(:class:`rcc.codes.ZipfCode`), untruncated or truncated at the call's largest search;
``"pfr_lognormal"`` (the default) with the index law of PFR on a Gaussian chunk
(:class:`rcc.codes.PFRIndexCode`: ``log2 K`` normal around the chunk's KL), truncated there too,
which measured 0.6% fewer bits than the truncated Zipf law on the DiffC Gaussian benchmark. A
range-coded message loses the trailing bytes of the range coder's last word that its decoder does
not need. The law is the one for the transmitted mean chunk KL, ``(q + 1) budget / 2^MEAN_KL_BITS``
bits (the nearest of four levels): the decoder does not know each chunk's KL, and with filled
chunks the mean is close to every chunk's. The decoder needs no chunk's own candidate count:
candidate ``k`` of a chunk is the same vector whatever ``N_c`` (:func:`kernels.search.regenerate`).

Presets (:data:`PRESETS`): ``"default"`` is the setting that measured the fewest real bits at equal
distortion within the encode-time budget on the DiffC benchmarks (``benchmarks/diffc_gaussian.py``,
README); ``"exact"`` keeps enough headroom that samples are indistinguishable from the target.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

import kernels
from kernels.errors import InvalidTypeError
from kernels.search import RULES, SearchProblem, regenerate, search
from rcc.bounds import LN2, gaussian_kl_bits_per_coordinate, gaussian_params
from rcc.codes import (
    BitReader,
    BitWriter,
    FixedLengthCode,
    IndexCode,
    PFRIndexCode,
    ZipfCode,
    elias_delta_read,
    elias_delta_write,
    elias_gamma_read,
    elias_gamma_write,
    trim,
)
from rcc.core import Message, finite_array
from rcc.randomness import Domain, key_for

__all__ = ["INDEX_CODES", "MEAN_KL_BITS", "PRESETS", "GaussianChannel", "GaussianChannelStats",
           "SideInfo", "preset_channel"]

INDEX_CODES = ("fixed", "zipf", "zipf_truncated", "pfr_lognormal")
MEAN_KL_BITS = 2
"""The range-coded index codes' mean chunk KL is sent as one of 2^MEAN_KL_BITS levels of the budget."""
_RANGE_CODED_SLACK = 4
"""Trailing bytes a range-coded message may lose (the coder's last 32-bit word)."""
KL_GRID_BITS = 20
"""Every decision about chunks is taken on the per-coordinate KL rounded to multiples of
2^-KL_GRID_BITS bit, in integers (``docs/determinism.md``): float sums of the same KL in another
order, or with another CPU's ``log``, differ in their last bits, and on a tie (one chunk: every
trial holds the same dimensions) the float argmin picked a different trial on another machine."""
_ONE_BIT = 1 << KL_GRID_BITS
CANDIDATE_DIMS = 16
"""The search work of a chunk of ``d`` dimensions and budget ``b`` is counted as
``(d + CANDIDATE_DIMS) 2^b``: a candidate's arrival time and bookkeeping cost about as much as 16
coordinates of its normal vector (116 ns against 8 ns per coordinate on the development CPU)."""
WORK_FACTOR = 16
"""The shuffled chunks of a call do at most WORK_FACTOR times the work of filled chunks of exactly
``chunk_bits``: where the per-coordinate KL spreads so widely that some filled chunks need far
larger searches than others (at a mean of a bit per coordinate, chunks of 8 dimensions reach 20
bits), the chunk count grows until they do not. DiffC's steps stay below 8x on the Gaussian
benchmark, so the bound does not bind there; on the equal-variance grid at 4,000 bits over 4,096
dimensions it cut the default preset's encode from 16 s to a few seconds."""


@dataclass(frozen=True)
class GaussianChannelStats:
    """Per-call statistics. Bits are real: counted from the bytes of the message.

    ``chunk_budget_bits`` is the index code's budget (the largest chunk budget, at least
    ``target_bits``); ``chunk_budgets`` each chunk's own, so chunk ``c`` searched
    ``2^min(chunk_budgets[c] + headroom, max_search_bits)`` candidates; ``candidate_dims`` is the
    call's search work, the sum over chunks of candidates times dimensions.
    """

    kl_bits: float
    bits: int
    side_bits: int
    n_chunks: int
    n_heavy: int
    target_bits: int
    chunk_budget_bits: int
    candidate_dims: int
    chunk_budgets: np.ndarray = field(repr=False)
    chunk_kl_bits: np.ndarray = field(repr=False)
    chunk_log_ratio_bits: np.ndarray = field(repr=False)
    indices: np.ndarray = field(repr=False)

    @property
    def log_ratio_bits(self) -> float:
        """Realized log2 dQ/dP of the decoded sample, summed over chunks."""
        return float(np.sum(self.chunk_log_ratio_bits))

    @property
    def shortfall_bits(self) -> float:
        """KL minus realized log-ratio, summed over chunks: near 0 (noisy) when unbiased.

        For an exact sampler E[log w(Z)] = D_KL, so a systematic positive shortfall is the footprint
        of truncation: candidates in the tail of Q that a finite search could not reach.
        """
        return float(np.sum(self.chunk_kl_bits - self.chunk_log_ratio_bits))


@dataclass(frozen=True)
class SideInfo:
    """The side information at the start of a message (module docstring), as the decoder reads it.

    ``budget_bits``: the index code's budget; ``heavy``: the positions of the heavy dimensions,
    one chunk each, in increasing order; ``n_chunks``: all chunks, heavy ones included; ``trial``:
    the partition trial (0 when at most one chunk is shuffled, and none is sent); ``kl_quanta``: the
    mean chunk KL level (None for the fixed-length code); ``side_bits``: the bits it occupies (the
    index code starts there).
    """

    budget_bits: int
    heavy: tuple[int, ...]
    n_chunks: int
    trial: int
    kl_quanta: int | None
    side_bits: int

    @property
    def mean_kl_bits(self) -> float | None:
        """The mean chunk KL the decoder's Zipf model assumes."""
        if self.kl_quanta is None:
            return None
        return self.budget_bits * (self.kl_quanta + 1) / (1 << MEAN_KL_BITS)


@dataclass(frozen=True)
class _Partition:
    """Chunk ``c`` holds coordinates ``coords[offsets[c]:offsets[c + 1]]``, heavy chunks first."""

    trial: int
    n_heavy: int
    coords: np.ndarray
    offsets: np.ndarray
    budgets: np.ndarray


def _check_params(mu_q: object, s_q: object, mu_p: object, s_p: object) -> tuple[np.ndarray, ...]:
    arrays = gaussian_params(mu_q, s_q, mu_p, s_p)
    if arrays[0].ndim != 1:
        raise ValueError(f"expected one-dimensional parameters, got shape {arrays[0].shape}")
    return tuple(np.ascontiguousarray(a) for a in arrays)


def _on_grid(kl: np.ndarray) -> np.ndarray:
    """Per-coordinate KL (bits) in int64 multiples of 2^-KL_GRID_BITS bit. Values are capped at
    2^41 bits, beyond any chunk budget, so the budget check still refuses them; once it has passed,
    every value is at most 40 bits (below 2^26 quanta), so int64 sums over fewer than 2^37
    dimensions are exact."""
    return np.rint(np.minimum(kl, 2.0**41) * _ONE_BIT).astype(np.int64)


def _ceil_bits(kl_grid: np.ndarray) -> np.ndarray:
    """KL on the grid rounded up to whole bits: a chunk's budget."""
    return -(-kl_grid // _ONE_BIT)


def _message_bytes(message: Message | bytes) -> bytes:
    data = message.data if isinstance(message, Message) else message
    if not isinstance(data, (bytes, bytearray)):
        raise InvalidTypeError(f"a message is bytes or a Message, got {type(message).__name__}")
    return bytes(data)


@functools.lru_cache(maxsize=64)
def _index_code(index_code: str, budget: int, headroom: int, mean_kl: float | None) -> IndexCode:
    """The index code of a call; shared between calls, so a Zipf code's tables are built once."""
    n_candidates = 1 << (budget + headroom)
    if index_code == "fixed":
        return FixedLengthCode(n_candidates)
    if index_code == "pfr_lognormal":
        return PFRIndexCode.for_kl(mean_kl, n_candidates)
    return ZipfCode.for_kl(mean_kl, n_candidates if index_code == "zipf_truncated" else None)


def _chunk_keys(seed: int, domain: Domain, stream: tuple[int, ...], n_chunks: int) -> np.ndarray:
    return kernels.stream_keys(seed, (int(domain), *stream), range(n_chunks))


def _equal_offsets(size: int, n_chunks: int) -> np.ndarray:
    sizes = np.full(n_chunks, size // n_chunks, dtype=np.int64)
    sizes[: size % n_chunks] += 1
    return np.concatenate([[0], np.cumsum(sizes)])


def _search_by_size(problem: dict, offsets: np.ndarray, search_bits: np.ndarray,
                    backend: str) -> tuple[np.ndarray, np.ndarray]:
    """Every chunk's search over its own ``2^search_bits[c]`` candidates: one kernel call per
    distinct size, over that size's chunks. Returns the indices and log-weights per chunk."""
    index = np.empty(search_bits.size, dtype=np.int64)
    log_weight = np.empty(search_bits.size)
    for bits in np.unique(search_bits):
        chunks = np.flatnonzero(search_bits == bits)
        coords = np.concatenate([np.arange(offsets[c], offsets[c + 1]) for c in chunks])
        sizes = offsets[chunks + 1] - offsets[chunks]
        result = search(SearchProblem(
            lin=problem["lin"][coords],
            quad=None if problem["quad"] is None else problem["quad"][coords],
            offsets=np.concatenate([[0], np.cumsum(sizes)]),
            cand_keys=problem["cand_keys"][chunks],
            arr_keys=problem["arr_keys"][chunks],
            n_candidates=1 << int(bits),
            rule=problem["rule"],
        ), backend)
        index[chunks], log_weight[chunks] = result.index, result.log_weight
    return index, log_weight


PRESETS = {
    "default": {"chunk_bits": 8, "headroom_bits": 3},
    "exact": {"chunk_bits": 4, "headroom_bits": 8},
}
"""Named settings (module docstring): ``GaussianChannel(**PRESETS[name])``."""


@dataclass(frozen=True)
class GaussianChannel:
    """Chunked Gaussian channel simulator (approximate; see the module docstring).

    ``chunk_bits``: the KL a chunk is filled to (a chunk's own budget may be more or less);
    ``headroom_bits``: extra candidates, ``N_c = 2^(b_c + headroom_bits)``; ``rule``: "pfr",
    "orc" or "mrc"; ``index_code``: one of ``INDEX_CODES``; ``partition_trial_bits``: the encoder
    tries 2^partition_trial_bits shuffles; ``max_search_bits``: no chunk searches more than
    2^max_search_bits candidates (a heavy dimension whose budget plus headroom is beyond it gets
    less headroom, so more bias, instead of an error); ``backend``: "numpy", "cpu" or "gpu" for the
    search (any backend decodes any message).

    The defaults are :data:`PRESETS` ``["default"]``, chosen by measured real bits at equal
    distortion and encode time on the DiffC benchmarks (README, "Choosing the channel"); they trade
    a measurable shortfall of the sample's information for fewer bits and a fast search.
    ``GaussianChannel(**PRESETS["exact"])`` is the setting whose samples the tests cannot tell from
    the target (KS on the projection where truncation shows). The information density of a chunk
    of c bits has a standard deviation of sqrt(2 c / ln 2) bits; the headroom must cover a few of
    those for the sample to be unbiased.
    """

    chunk_bits: int = PRESETS["default"]["chunk_bits"]
    headroom_bits: int = PRESETS["default"]["headroom_bits"]
    rule: str = "pfr"
    index_code: str = "pfr_lognormal"
    partition_trial_bits: int = 3
    max_search_bits: int = 24
    backend: str = "cpu"

    exact = False

    def __post_init__(self) -> None:
        for name in ("chunk_bits", "headroom_bits", "partition_trial_bits", "max_search_bits"):
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise InvalidTypeError(f"{name} must be an integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        for name in ("rule", "index_code", "backend"):
            if not isinstance(getattr(self, name), str):
                raise InvalidTypeError(f"{name} must be a string, got {getattr(self, name)!r}")
        if self.backend not in kernels.BACKENDS:
            raise ValueError(f"backend must be one of {kernels.BACKENDS}, got {self.backend!r}")
        if not 1 <= self.chunk_bits <= 30 or not 0 <= self.headroom_bits <= 16:
            raise ValueError("need 1 <= chunk_bits <= 30 and 0 <= headroom_bits <= 16")
        if not self.chunk_bits + self.headroom_bits <= self.max_search_bits <= 40:
            raise ValueError("need chunk_bits + headroom_bits <= max_search_bits <= 40 (2^40 candidates "
                             "per chunk is beyond any machine)")
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {sorted(RULES)}, got {self.rule!r}")
        if self.index_code not in INDEX_CODES:
            raise ValueError(f"index_code must be one of {INDEX_CODES}, got {self.index_code!r}")
        if not 0 <= self.partition_trial_bits <= 8:
            raise ValueError("partition_trial_bits must be in [0, 8]")

    def _code(self, side: SideInfo) -> IndexCode:
        return _index_code(self.index_code, side.budget_bits, self.headroom_bits, side.mean_kl_bits)

    def _kl_quanta(self, kl_grid: np.ndarray, n_chunks: int, budget: int) -> int | None:
        """The level (q + 1) / 2^MEAN_KL_BITS of the budget nearest the mean chunk KL, in integers."""
        if self.index_code == "fixed":
            return None
        levels = 1 << MEAN_KL_BITS
        scale = n_chunks * budget * _ONE_BIT
        nearest = (2 * levels * int(kl_grid.sum()) + scale) // (2 * scale)
        return min(levels, max(1, nearest)) - 1

    # -- side information -----------------------------------------------------------------------

    def _write_side(self, writer: BitWriter, side: SideInfo, dim: int) -> None:
        elias_gamma_write(writer, side.budget_bits - self.chunk_bits + 1)
        elias_gamma_write(writer, len(side.heavy) + 1)
        width = (dim - 1).bit_length()
        for position in side.heavy:
            writer.write(position, width)
        elias_delta_write(writer, side.n_chunks)
        if side.n_chunks - len(side.heavy) > 1:
            writer.write(side.trial, self.partition_trial_bits)
        if side.kl_quanta is not None:
            writer.write(side.kl_quanta, MEAN_KL_BITS)

    def _read_side(self, reader: BitReader, dim: int) -> SideInfo:
        budget = self.chunk_bits + elias_gamma_read(reader) - 1
        if budget > self.max_search_bits:
            raise ValueError(f"corrupt message: chunk budget {budget} beyond max_search_bits")
        n_heavy = elias_gamma_read(reader) - 1
        if n_heavy > dim:
            raise ValueError(f"corrupt message: {n_heavy} heavy dimensions of {dim}")
        width = (dim - 1).bit_length()
        heavy = tuple(reader.read(width) for _ in range(n_heavy))
        if any(b <= a for a, b in zip(heavy, heavy[1:], strict=False)) or any(h >= dim for h in heavy):
            raise ValueError("corrupt message: heavy dimensions out of order or out of range")
        n_chunks = elias_delta_read(reader)
        shuffled = n_chunks - n_heavy
        if not (shuffled == 0 if n_heavy == dim else 1 <= shuffled <= dim - n_heavy):
            raise ValueError(f"corrupt message: {n_chunks} chunks for {dim} dimensions "
                             "(or the prior has another dimension than the encoder's)")
        trial = reader.read(self.partition_trial_bits) if shuffled > 1 else 0
        kl_quanta = None if self.index_code == "fixed" else reader.read(MEAN_KL_BITS)
        return SideInfo(budget, heavy, n_chunks, trial, kl_quanta, reader.bits_read)

    def side_info(self, message: Message | bytes, dim: int) -> SideInfo:
        """The side information of a message for a ``dim``-dimensional prior, without decoding it
        (what a bit ledger counts)."""
        return self._read_side(BitReader(_message_bytes(message)), dim)

    def _pack(self, side: SideInfo, indices: list[int], dim: int) -> bytes:
        """Side information and coded indices in one bit stream; a range-coded one loses the
        trailing bytes its decoder does not need."""
        writer = BitWriter()
        self._write_side(writer, side, dim)
        code = self._code(side)
        payload = code.encode(indices)
        if isinstance(code, FixedLengthCode):  # its bytes end in padding: keep the indices' bits only
            bits = len(indices) * code.width
            writer.write(int.from_bytes(payload, "big") >> (8 * len(payload) - bits), bits)
            return writer.to_bytes()
        writer.write(int.from_bytes(payload, "big"), 8 * len(payload))
        data = writer.to_bytes(fill=1)  # a range-coded tail reads as ones (rcc.codes.pad_words)
        return trim(data, lambda prefix: self._unpack(prefix, dim)[1] == indices, _RANGE_CODED_SLACK)

    def _unpack(self, data: bytes, dim: int) -> tuple[SideInfo, list[int]]:
        """The one parser of a message: its side information and the chunk indices."""
        reader = BitReader(data)
        side = self._read_side(reader, dim)
        code = self._code(side)
        if isinstance(code, FixedLengthCode) and 8 * len(data) - side.n_chunks * code.width not in range(
                side.side_bits, side.side_bits + 8):
            raise ValueError("corrupt message: its length does not match its chunk count "
                             "(or the prior has another dimension than the encoder's)")
        indices = code.decode(reader.rest(fill=1), side.n_chunks)
        n_candidates = 1 << (side.budget_bits + self.headroom_bits)
        if max(indices) >= n_candidates:
            raise ValueError(f"corrupt message: an index beyond the {n_candidates} candidates")
        return side, indices

    # -- partition ------------------------------------------------------------------------------

    def _shuffled(self, rest: np.ndarray, dim: int, seed: int, stream: tuple[int, ...],
                  trial: int) -> np.ndarray:
        """The non-heavy coordinates ``rest`` in the order of the trial's shuffle."""
        key = key_for(seed, Domain.PARTITION, *stream, trial)
        return rest[np.argsort(kernels.uniform(key, 0, 1, dim)[0][rest], kind="stable")]

    def _layout(self, heavy: np.ndarray, order: np.ndarray, n_shuffled: int) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates and chunk offsets: one chunk per heavy dimension, then equal chunks of ``order``."""
        coords = np.concatenate([heavy, order]).astype(np.int64)
        tail = heavy.size + _equal_offsets(order.size, n_shuffled)[1:] if n_shuffled else []
        return coords, np.concatenate([np.arange(heavy.size + 1), tail]).astype(np.int64)

    def _partition(self, kl_grid: np.ndarray, seed: int, stream: tuple[int, ...]) -> _Partition:
        """Heavy dimensions alone, the rest filled to ``chunk_bits`` per chunk; the trial with the
        least search work wins (the first on a tie), all in integers on the gridded KL."""
        dim = kl_grid.size
        target = self.chunk_bits * _ONE_BIT
        is_heavy = kl_grid > target
        heavy, rest = np.flatnonzero(is_heavy), np.flatnonzero(~is_heavy)
        self._check_search(int(kl_grid.max(initial=0)))
        orders = [self._shuffled(rest, dim, seed, stream, t) for t in range(1 << self.partition_trial_bits)]
        n = min(rest.size, max(1, -(-int(kl_grid[rest].sum()) // target)))
        limit = self.max_search_bits - self.headroom_bits
        while True:
            layouts = [self._layout(heavy, order, n) for order in orders]
            budgets = [_ceil_bits(np.add.reduceat(kl_grid[c], o[:-1])) for c, o in layouts]
            # Search work of the shuffled chunks (the heavy ones' is the same in every trial).
            work = [sum(int(d + CANDIDATE_DIMS) << int(b)
                        for d, b in zip(np.diff(o)[heavy.size:], bud[heavy.size:], strict=True))
                    for (_, o), bud in zip(layouts, budgets, strict=True)]
            t = work.index(min(work))
            bound = (rest.size + n * CANDIDATE_DIMS) * WORK_FACTOR << self.chunk_bits
            fits = int(budgets[t][heavy.size:].max(initial=0)) <= limit and work[t] <= bound
            if n >= rest.size or fits:
                coords, offsets = layouts[t]
                return _Partition(t if n > 1 else 0, heavy.size, coords, offsets, budgets[t])
            n = min(rest.size, n + -(-n // 20))  # grow by 5%, at least one chunk

    def _check_search(self, heaviest: int) -> None:
        budget = -(-heaviest // _ONE_BIT)
        if budget > self.max_search_bits:
            raise ValueError(
                f"one dimension carries {heaviest / _ONE_BIT:.1f} bits: a chunk holding it would need more "
                f"than 2^{self.max_search_bits} candidates (max_search_bits) even without headroom; split "
                f"the KL over more calls (e.g. more diffusion steps) or raise max_search_bits")

    def _coordinates(self, side: SideInfo, dim: int, seed: int,
                     stream: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """The decoder's partition, from the side information alone."""
        heavy = np.asarray(side.heavy, dtype=np.int64)
        rest = np.setdiff1d(np.arange(dim), heavy)
        return self._layout(heavy, self._shuffled(rest, dim, seed, stream, side.trial),
                            side.n_chunks - heavy.size)

    def chunk_coordinates(self, message: Message | bytes, dim: int, *, seed: int,
                          stream: tuple[int, ...] = ()) -> list[np.ndarray]:
        """The coordinates of each chunk of a message, in the order the message sends them (heavy
        dimensions first): what a per-chunk analysis of the decoded sample needs."""
        coords, offsets = self._coordinates(self.side_info(message, dim), dim, seed, stream)
        return [coords[lo:hi] for lo, hi in zip(offsets[:-1], offsets[1:], strict=True)]

    # -- encoder / decoder ----------------------------------------------------------------------

    def encode(self, mu_q: object, s_q: object, mu_p: object, s_p: object, *, seed: int,
               stream: tuple[int, ...] = ()) -> tuple[Message, GaussianChannelStats]:
        """Message (bytes) and statistics for a sample of N(mu_q, s_q^2) against N(mu_p, s_p^2)."""
        mu_q, s_q, mu_p, s_p = _check_params(mu_q, s_q, mu_p, s_p)
        dim = mu_q.size
        if dim == 0:
            raise ValueError("cannot communicate a zero-dimensional sample")
        kl = gaussian_kl_bits_per_coordinate(mu_q, s_q, mu_p, s_p)
        kl_grid = _on_grid(kl)
        part = self._partition(kl_grid, seed, stream)
        coords, offsets = part.coords, part.offsets
        n_chunks = offsets.size - 1
        ratio = (s_p / s_q)[coords]
        delta = ((mu_q - mu_p) / s_q)[coords]
        equal_var = bool(np.all(ratio == 1.0))
        search_bits = np.minimum(part.budgets + self.headroom_bits, self.max_search_bits)
        index, log_weight = _search_by_size(
            {"lin": ratio * delta, "quad": None if equal_var else 0.5 * (1.0 - ratio**2),
             "cand_keys": _chunk_keys(seed, Domain.CANDIDATES, stream, n_chunks),
             "arr_keys": _chunk_keys(seed, Domain.ARRIVALS, stream, n_chunks), "rule": RULES[self.rule]},
            offsets, search_bits, self.backend)
        const = np.add.reduceat(np.log(ratio) - 0.5 * delta**2, offsets[:-1])
        budget = max(self.chunk_bits, int(part.budgets.max()))
        side = SideInfo(budget, tuple(int(h) for h in coords[:part.n_heavy]), n_chunks, part.trial,
                        self._kl_quanta(kl_grid, n_chunks, budget), 0)
        message = Message(self._pack(side, index.tolist(), dim))
        stats = GaussianChannelStats(
            kl_bits=float(kl.sum()),
            bits=message.bits,
            side_bits=self.side_info(message, dim).side_bits,
            n_chunks=n_chunks,
            n_heavy=part.n_heavy,
            target_bits=self.chunk_bits,
            chunk_budget_bits=budget,
            candidate_dims=sum(int(d) << int(b) for d, b in zip(np.diff(offsets), search_bits, strict=True)),
            chunk_budgets=part.budgets,
            chunk_kl_bits=np.add.reduceat(kl[coords], offsets[:-1]),
            chunk_log_ratio_bits=(log_weight + const) / LN2,
            indices=index,
        )
        return message, stats

    def decode(self, message: Message | bytes, mu_p: object, s_p: object, *, seed: int,
               stream: tuple[int, ...] = ()) -> np.ndarray:
        """The sample the encoder selected, rebuilt from the message and the shared seed."""
        mu_p, s_p = (np.ascontiguousarray(a) for a in np.broadcast_arrays(
            finite_array(mu_p, "prior mean"), finite_array(s_p, "prior scale")))
        if mu_p.ndim != 1 or mu_p.size == 0 or np.any(s_p <= 0):
            raise ValueError("prior must be one-dimensional and non-empty, with positive scales")
        dim = mu_p.size
        data = _message_bytes(message)
        side, indices = self._unpack(data, dim)
        if self._pack(side, indices, dim) != data:
            # A range-coded message decodes with extra or altered trailing bytes too; only the
            # encoder's own bytes are accepted, so every sample has exactly one message.
            raise ValueError("corrupt message: not the canonical encoding of its indices")
        coords, offsets = self._coordinates(side, dim, seed, stream)
        keys = _chunk_keys(seed, Domain.CANDIDATES, stream, side.n_chunks)
        noise = np.empty(dim)
        for c, k in enumerate(indices):
            lo, hi = offsets[c], offsets[c + 1]
            noise[coords[lo:hi]] = regenerate(keys[c], k, hi - lo)
        with np.errstate(over="ignore"):
            sample = mu_p + s_p * noise
        if not np.all(np.isfinite(sample)):
            raise ValueError("the prior's scale is too large: the sample overflows float64")
        return sample


def preset_channel(preset: str = "default", **settings: object) -> GaussianChannel:
    """``GaussianChannel(**PRESETS[preset])`` with ``settings`` on top (a None setting keeps the
    preset's value): the one place the tools turn a preset name and options into a channel."""
    if preset not in PRESETS:
        raise ValueError(f"unknown channel preset {preset!r}; the presets are {sorted(PRESETS)}")
    return GaussianChannel(**(PRESETS[preset] | {k: v for k, v in settings.items() if v is not None}))
