"""Chunked channel simulation of high-dimensional diagonal Gaussians.

Sends a sample of the target Q = N(mu_q, diag(s_q^2)) with a prior P = N(mu_p, diag(s_p^2)) that
the decoder knows, as DiffC does at every step (there with s_q = s_p). A single search over
2^D_KL candidates is hopeless for thousands of bits, so, following Havasi et al. (2019, "Minimal
random code learning") and Theis et al. (2022, DiffC), the dimensions are split into chunks of at
most ``chunk_bits`` bits of KL each, and each chunk is communicated independently with a
candidate search over ``N = 2^(chunk_bits + headroom_bits)`` candidates (:mod:`kernels.search`).

What is exact and what is not: each chunk's sample follows the truncated-PFR / ORC / MRC law, which
approaches the chunk's target as the headroom grows (total variation at most
E[log2 K] / log2 N per chunk for PFR; Theis & Yosri 2022). The result is therefore *approximate*;
``GaussianChannelStats.shortfall_bits`` estimates the bias (how far the realized information falls
short of the KL), and ``benchmarks/gaussian_channel.py`` measures it.

Partition: dimensions are assigned to chunks by a seeded shuffle that the decoder reproduces. The
encoder tries ``2^partition_trial_bits`` shuffles and keeps the one whose largest chunk KL is
smallest, growing the chunk count until every chunk fits its budget. When a single dimension carries
more than ``chunk_bits``, no partition can fit it, so the call's chunk budget grows to that
dimension's KL (every chunk then searches the larger N); past ``max_search_bits`` this is a clear
error instead, since the search would take too long. These decisions are integer arithmetic on the
per-coordinate KL rounded to 2^-KL_GRID_BITS bit, with the first trial winning a tie, so that every
CPU takes the same ones (``docs/determinism.md``).

Message: the side information, then the index code's bits, in one bit stream padded once to a byte.
The side information (:class:`SideInfo`, read by :meth:`GaussianChannel.side_info`) is

* the budget growth ``budget - chunk_bits``, Elias gamma of ``growth + 1`` (1 bit when none);
* the chunk count, Elias delta (``log2 n + 2 log2 log2 n + 1`` bits: 1 for one chunk, 14 for 200);
* the partition trial, ``partition_trial_bits`` bits, only when there is more than one chunk (one
  chunk holds every dimension whatever the shuffle);
* for the Zipf codes, the mean chunk KL in ``MEAN_KL_BITS`` bits, as a fraction of the budget.

Index codes (``index_code``): ``"fixed"`` writes ``log2 N`` bits per chunk; ``"zipf"`` and
``"zipf_truncated"`` range-code each index with Li & El Gamal's Zipf law (:class:`rcc.codes.ZipfCode`),
untruncated or truncated at N, and the message loses the trailing bytes of the range coder's last
word that its decoder does not need. The Zipf law is the one for the transmitted mean chunk KL,
``(q + 1/2) budget / 2^MEAN_KL_BITS`` bits: two bits of it saved 7% of a 128x128 DiffC file at
0.45 bpp (the chunks' mean KL was 0.7 bit of a 4-bit budget) and cost under 1% at low rates.
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
    ZipfCode,
    elias_delta_read,
    elias_delta_write,
    elias_gamma_read,
    elias_gamma_write,
    trim,
)
from rcc.core import Message, finite_array
from rcc.randomness import Domain, key_for

__all__ = ["INDEX_CODES", "MEAN_KL_BITS", "GaussianChannel", "GaussianChannelStats", "SideInfo"]

INDEX_CODES = ("fixed", "zipf", "zipf_truncated")
MEAN_KL_BITS = 2
"""The Zipf codes' mean chunk KL is sent in units of budget / 2^MEAN_KL_BITS."""
_RANGE_CODED_SLACK = 4
"""Trailing bytes a range-coded message may lose (the coder's last 32-bit word)."""
KL_GRID_BITS = 20
"""Every decision about chunks is taken on the per-coordinate KL rounded to multiples of
2^-KL_GRID_BITS bit, in int64 (``docs/determinism.md``): float sums of the same KL in another
order, or with another CPU's ``log``, differ in their last bits, and on a tie (one chunk: every
trial holds the same dimensions) the float argmin picked a different trial on another machine."""
_ONE_BIT = 1 << KL_GRID_BITS


@dataclass(frozen=True)
class GaussianChannelStats:
    """Per-call statistics. Bits are real: counted from the bytes of the message."""

    kl_bits: float
    bits: int
    side_bits: int
    n_chunks: int
    chunk_budget_bits: int
    candidates: int
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

    ``budget_bits``: the chunk budget (``chunk_bits`` or grown); ``n_chunks``; ``trial``: the
    partition trial (0 for one chunk, where none is sent); ``kl_quanta``: the mean chunk KL in
    units of ``budget_bits / 2^MEAN_KL_BITS``, rounded down (None for the fixed-length code);
    ``side_bits``: the bits it occupies (the index code starts there).
    """

    budget_bits: int
    n_chunks: int
    trial: int
    kl_quanta: int | None
    side_bits: int

    @property
    def mean_kl_bits(self) -> float | None:
        """The mean chunk KL the decoder's Zipf model assumes: the middle of its quantum."""
        if self.kl_quanta is None:
            return None
        return self.budget_bits * (2 * self.kl_quanta + 1) / (2 << MEAN_KL_BITS)


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
    return ZipfCode.for_kl(mean_kl, n_candidates if index_code == "zipf_truncated" else None)


def _chunk_keys(seed: int, domain: Domain, stream: tuple[int, ...], n_chunks: int) -> np.ndarray:
    return kernels.stream_keys(seed, (int(domain), *stream), range(n_chunks))


@dataclass(frozen=True)
class GaussianChannel:
    """Chunked Gaussian channel simulator (approximate; see the module docstring).

    ``chunk_bits``: KL budget per chunk; ``headroom_bits``: extra candidates, N = 2^(chunk_bits +
    headroom_bits); ``rule``: "pfr", "orc" or "mrc"; ``index_code``: one of ``INDEX_CODES``;
    ``partition_trial_bits``: the encoder tries 2^partition_trial_bits shuffles; ``backend``:
    "numpy", "cpu" or "gpu" for the search (any backend decodes any message).

    Defaults (``benchmarks/gaussian_channel.py``, README): 4-bit chunks with 8 bits of headroom
    are the cheapest setting measured whose samples are indistinguishable from the target (KS
    p = 0.78 on 1,000 samples of the projection where truncation shows), at 2^12 candidates per
    chunk, i.e. 4096 x dimension candidate-dimensions per call whatever the KL; the truncated Zipf
    code then costs about 1.7 bits per bit of KL. Smaller headroom is cheaper in rate and visibly
    biased (the information density of a chunk of c bits has a standard deviation of
    sqrt(2 c / ln 2) bits, and the headroom must cover a few of those).
    """

    chunk_bits: int = 4
    headroom_bits: int = 8
    rule: str = "pfr"
    index_code: str = "zipf_truncated"
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
        """The mean chunk KL in units of budget / 2^MEAN_KL_BITS, rounded down, in integers."""
        if self.index_code == "fixed":
            return None
        total = int(kl_grid.sum()) << MEAN_KL_BITS
        return min((1 << MEAN_KL_BITS) - 1, total // (n_chunks * budget * _ONE_BIT))

    # -- side information -----------------------------------------------------------------------

    def _write_side(self, writer: BitWriter, side: SideInfo) -> None:
        elias_gamma_write(writer, side.budget_bits - self.chunk_bits + 1)
        elias_delta_write(writer, side.n_chunks)
        if side.n_chunks > 1:
            writer.write(side.trial, self.partition_trial_bits)
        if side.kl_quanta is not None:
            writer.write(side.kl_quanta, MEAN_KL_BITS)

    def _read_side(self, reader: BitReader) -> SideInfo:
        budget = self.chunk_bits + elias_gamma_read(reader) - 1
        if budget + self.headroom_bits > self.max_search_bits:
            raise ValueError(f"corrupt message: chunk budget {budget} beyond max_search_bits")
        n_chunks = elias_delta_read(reader)
        trial = reader.read(self.partition_trial_bits) if n_chunks > 1 else 0
        kl_quanta = None if self.index_code == "fixed" else reader.read(MEAN_KL_BITS)
        return SideInfo(budget, n_chunks, trial, kl_quanta, reader.bits_read)

    def side_info(self, message: Message | bytes) -> SideInfo:
        """The side information of a message, without decoding it (what a bit ledger counts)."""
        return self._read_side(BitReader(_message_bytes(message)))

    def _pack(self, side: SideInfo, indices: list[int], dim: int) -> bytes:
        """Side information and coded indices in one bit stream; a range-coded one loses the
        trailing bytes its decoder does not need."""
        writer = BitWriter()
        self._write_side(writer, side)
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
        side = self._read_side(reader)
        if not 1 <= side.n_chunks <= dim:
            raise ValueError(f"corrupt message: {side.n_chunks} chunks for {dim} dimensions")
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

    def _budget(self, kl_grid: np.ndarray) -> int:
        """The call's chunk budget: chunk_bits, grown to fit the heaviest single dimension."""
        heaviest = int(kl_grid.max(initial=0))
        budget = max(self.chunk_bits, -(-heaviest // _ONE_BIT))
        if budget + self.headroom_bits > self.max_search_bits:
            raise ValueError(
                f"one dimension carries {heaviest / _ONE_BIT:.1f} bits: a chunk holding it would search "
                f"2^{budget + self.headroom_bits} candidates, beyond max_search_bits="
                f"{self.max_search_bits}; split the KL over more calls (e.g. more diffusion steps) or "
                f"raise max_search_bits")
        return budget

    # -- partition ------------------------------------------------------------------------------

    def _permutation(self, dim: int, seed: int, stream: tuple[int, ...], trial: int) -> np.ndarray:
        key = key_for(seed, Domain.PARTITION, *stream, trial)
        return np.argsort(kernels.uniform(key, 0, 1, dim)[0], kind="stable")

    @staticmethod
    def _offsets(dim: int, n_chunks: int) -> np.ndarray:
        sizes = np.full(n_chunks, dim // n_chunks, dtype=np.int64)
        sizes[: dim % n_chunks] += 1
        return np.concatenate([[0], np.cumsum(sizes)])

    def _partition(self, kl_grid: np.ndarray, budget: int, seed: int,
                   stream: tuple[int, ...]) -> tuple[int, np.ndarray, np.ndarray]:
        """Choose the trial, permutation and chunk offsets with every chunk's KL within ``budget``
        bits, in integer arithmetic on the gridded KL; the first trial wins a tie."""
        dim = kl_grid.size
        limit = budget * _ONE_BIT
        n = max(1, -(-int(kl_grid.sum()) // limit))
        perms = [self._permutation(dim, seed, stream, t)
                 for t in range(1 << self.partition_trial_bits)]
        while True:
            offsets = self._offsets(dim, n)
            heaviest = [int(np.add.reduceat(kl_grid[p], offsets[:-1]).max()) for p in perms]
            t = heaviest.index(min(heaviest))
            if heaviest[t] <= limit or n == dim:
                return t, perms[t], offsets
            n = min(dim, n + -(-n // 20))  # grow by 5%, at least one chunk

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
        budget = self._budget(kl_grid)
        n_candidates = 1 << (budget + self.headroom_bits)
        trial, perm, offsets = self._partition(kl_grid, budget, seed, stream)
        n_chunks = offsets.size - 1
        ratio = (s_p / s_q)[perm]
        delta = ((mu_q - mu_p) / s_q)[perm]
        equal_var = bool(np.all(ratio == 1.0))
        problem = SearchProblem(
            lin=ratio * delta,
            quad=None if equal_var else 0.5 * (1.0 - ratio**2),
            offsets=offsets,
            cand_keys=_chunk_keys(seed, Domain.CANDIDATES, stream, n_chunks),
            arr_keys=_chunk_keys(seed, Domain.ARRIVALS, stream, n_chunks),
            n_candidates=n_candidates,
            rule=RULES[self.rule],
        )
        result = search(problem, self.backend)
        const = np.add.reduceat(np.log(ratio) - 0.5 * delta**2, offsets[:-1])
        side = SideInfo(budget, n_chunks, trial, self._kl_quanta(kl_grid, n_chunks, budget), 0)
        message = Message(self._pack(side, result.index.tolist(), dim))
        stats = GaussianChannelStats(
            kl_bits=float(kl.sum()),
            bits=message.bits,
            side_bits=self.side_info(message).side_bits,
            n_chunks=n_chunks,
            chunk_budget_bits=budget,
            candidates=n_candidates,
            chunk_kl_bits=np.add.reduceat(kl[perm], offsets[:-1]),
            chunk_log_ratio_bits=(result.log_weight + const) / LN2,
            indices=result.index,
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
        perm = self._permutation(dim, seed, stream, side.trial)
        offsets = self._offsets(dim, side.n_chunks)
        keys = _chunk_keys(seed, Domain.CANDIDATES, stream, side.n_chunks)
        noise = np.empty(dim)
        for c, k in enumerate(indices):
            lo, hi = offsets[c], offsets[c + 1]
            noise[perm[lo:hi]] = regenerate(keys[c], k, hi - lo)
        with np.errstate(over="ignore"):
            sample = mu_p + s_p * noise
        if not np.all(np.isfinite(sample)):
            raise ValueError("the prior's scale is too large: the sample overflows float64")
        return sample
