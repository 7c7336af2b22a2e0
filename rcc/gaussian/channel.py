"""Chunked channel simulation of high-dimensional diagonal Gaussians: :class:`GaussianChannel`.

Sends a sample of the target Q = N(mu_q, diag(s_q^2)) with a prior P = N(mu_p, diag(s_p^2)) that
the decoder knows, as DiffC does at every step (there with s_q = s_p). A single search over
2^D_KL candidates is hopeless for thousands of bits, so, following Havasi et al. (2019, "Minimal
random code learning") and Theis et al. (2022, DiffC), the dimensions are split into chunks of about
``chunk_bits`` bits of KL each (:mod:`rcc.gaussian.partition`), and each chunk is communicated
independently with a candidate search over ``N_c = 2^(b_c + headroom_bits)`` candidates, ``b_c``
the chunk's own KL rounded up (:mod:`rcc_kernels.search`); the message is the side information and the
chunks' indices (:mod:`rcc.gaussian.message`). The settings a message depends on are a
:class:`rcc.gaussian.spec.ChannelSpec`; ``docs/channel.md`` describes the whole channel.

What is exact and what is not: each chunk's sample follows the truncated-PFR / ORC / MRC law, which
approaches the chunk's target as the headroom grows (total variation at most
E[log2 K] / log2 N per chunk for PFR; Theis & Yosri 2022). The result is therefore *approximate*;
``GaussianChannelStats.shortfall_bits`` estimates the bias (how far the realized information falls
short of the KL), and ``benchmarks/gaussian_channel.py`` measures it. The decoder rebuilds the
encoder's sample exactly: it needs no chunk's own candidate count, since candidate ``k`` of a chunk
is the same vector whatever ``N_c`` (:func:`rcc_kernels.search.regenerate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import rcc_kernels
from rcc.bounds import LN2, gaussian_kl_bits_per_coordinate, gaussian_params
from rcc.core import Message, finite_array
from rcc.gaussian import message as fmt
from rcc.gaussian.message import SideInfo
from rcc.gaussian.partition import Partition, coordinates, on_grid, partition
from rcc.gaussian.spec import PRESETS, ChannelSpec
from rcc.randomness import Domain, keys_for
from rcc_kernels.errors import InvalidTypeError
from rcc_kernels.search import RULES as SEARCH_RULES
from rcc_kernels.search import SearchProblem, regenerate, search

__all__ = ["ChannelPlan", "GaussianChannel", "GaussianChannelStats"]


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


@dataclass(frozen=True, eq=False)
class ChannelPlan:
    """A call's work before its search (:meth:`GaussianChannel.plan`): the checked parameters, the
    per-coordinate KL in bits, the partition and the message's side information (``side_bits``
    unset). :attr:`floor_bytes` bounds the message's length from below before any candidate is
    drawn, so an encoder with a byte budget can skip a search whose message could not fit."""

    channel: GaussianChannel
    params: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] = field(repr=False)
    kl: np.ndarray = field(repr=False)
    partition: Partition = field(repr=False)
    side: SideInfo
    seed: int
    stream: tuple[int, ...]

    @property
    def floor_bytes(self) -> int:
        """The fewest bytes the message can have, whatever the search selects (exact as a floor:
        :func:`rcc.gaussian.message.floor_bytes`)."""
        return fmt.floor_bytes(self.side, self.channel.spec, self.kl.size)


def _check_params(mu_q: object, s_q: object, mu_p: object, s_p: object) -> tuple[np.ndarray, ...]:
    arrays = gaussian_params(mu_q, s_q, mu_p, s_p)
    if arrays[0].ndim != 1:
        raise ValueError(f"expected one-dimensional parameters, got shape {arrays[0].shape}")
    return tuple(np.ascontiguousarray(a) for a in arrays)


def _search_size(problem: dict, offsets: np.ndarray, chunks: np.ndarray, bits: int, backend: str,
                 index: np.ndarray, log_weight: np.ndarray) -> None:
    """One kernel call: the search of ``chunks``, each over ``2^bits`` candidates. Writes each
    chunk's index and log-weight into ``index`` and ``log_weight``."""
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



@dataclass(frozen=True)
class GaussianChannel:
    """Chunked Gaussian channel simulator (approximate; see the module docstring).

    ``spec``: the settings its messages depend on (:class:`rcc.gaussian.spec.ChannelSpec`; the
    default is :data:`rcc.gaussian.spec.PRESETS` ``["default"]``, which trades a measurable
    shortfall of the sample's information for fewer bits and a fast search; ``PRESETS["exact"]``
    is the setting whose samples the tests cannot tell from the target, by KS on the projection
    where truncation shows). ``max_search_bits``: no chunk searches more than 2^max_search_bits
    candidates (a heavy dimension whose budget plus headroom is beyond it gets less headroom, so
    more bias, instead of an error); ``backend``: "numpy", "cpu" or "gpu" for the search (any
    backend decodes any message).
    """

    spec: ChannelSpec = PRESETS["default"]
    max_search_bits: int = field(default=24, kw_only=True)
    backend: str = field(default="cpu", kw_only=True)

    exact = False

    def __post_init__(self) -> None:
        if not isinstance(self.spec, ChannelSpec):
            raise InvalidTypeError(f"spec must be a ChannelSpec, got {self.spec!r}")
        value = self.max_search_bits
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise InvalidTypeError(f"max_search_bits must be an integer, got {value!r}")
        object.__setattr__(self, "max_search_bits", int(value))
        if not isinstance(self.backend, str):
            raise InvalidTypeError(f"backend must be a string, got {self.backend!r}")
        if self.backend not in rcc_kernels.BACKENDS:
            raise ValueError(f"backend must be one of {rcc_kernels.BACKENDS}, got {self.backend!r}")
        if not self.spec.chunk_bits + self.spec.headroom_bits <= self.max_search_bits <= 40:
            raise ValueError("need chunk_bits + headroom_bits <= max_search_bits <= 40 (2^40 candidates "
                             "per chunk is beyond any machine)")

    def side_info(self, message: Message | bytes, dim: int) -> SideInfo:
        """The side information of a message for a ``dim``-dimensional prior, without decoding it
        (what a bit ledger counts)."""
        return fmt.side_info(message, self.spec, dim, self.max_search_bits)

    def chunk_coordinates(self, message: Message | bytes, dim: int, *, seed: int,
                          stream: tuple[int, ...] = ()) -> list[np.ndarray]:
        """The coordinates of each chunk of a message, in the order the message sends them (heavy
        dimensions first): what a per-chunk analysis of the decoded sample needs."""
        side = self.side_info(message, dim)
        coords, offsets = coordinates(side.heavy, side.n_chunks, side.trial, dim, seed, stream)
        return [coords[lo:hi] for lo, hi in zip(offsets[:-1], offsets[1:], strict=True)]

    def plan(self, mu_q: object, s_q: object, mu_p: object, s_p: object, *, seed: int,
             stream: tuple[int, ...] = ()) -> ChannelPlan:
        """Everything of a call before its search (:class:`ChannelPlan`): :meth:`send` finishes it."""
        mu_q, s_q, mu_p, s_p = _check_params(mu_q, s_q, mu_p, s_p)
        dim = mu_q.size
        if dim == 0:
            raise ValueError("cannot communicate a zero-dimensional sample")
        spec = self.spec
        kl = gaussian_kl_bits_per_coordinate(mu_q, s_q, mu_p, s_p)
        kl_grid = on_grid(kl)
        part = partition(kl_grid, spec, self.max_search_bits, seed, stream)
        n_chunks = part.offsets.size - 1
        budget = max(spec.chunk_bits, int(part.budgets.max()))
        side = SideInfo(budget, tuple(int(h) for h in part.coords[:part.n_heavy]), n_chunks, part.trial,
                        fmt.kl_quanta(spec, kl_grid, n_chunks, budget), 0)
        return ChannelPlan(self, (mu_q, s_q, mu_p, s_p), kl, part, side, seed, tuple(stream))

    def send(self, plan: ChannelPlan, *, max_bytes: int | None = None
             ) -> tuple[Message, GaussianChannelStats] | None:
        """The search of a :meth:`plan` of this channel: the message and the call's statistics.

        The chunks are searched one candidate count at a time, the smallest first. ``max_bytes``:
        None as soon as the message is proven longer, by the plan's floor before the search, then
        after each count by the floor with the indices found so far
        (:func:`rcc.gaussian.message.floor_bytes`). Chunks are searched independently, so the order
        changes no index; a message that is returned may still be longer than ``max_bytes``.
        """
        if plan.channel != self:
            raise ValueError("the plan was made by a channel with other settings")
        if max_bytes is not None and plan.floor_bytes > max_bytes:
            return None
        spec, part, seed, stream = self.spec, plan.partition, plan.seed, plan.stream
        mu_q, s_q, mu_p, s_p = plan.params
        coords, offsets = part.coords, part.offsets
        n_chunks, dim = offsets.size - 1, mu_q.size
        ratio = (s_p / s_q)[coords]
        delta = ((mu_q - mu_p) / s_q)[coords]
        equal_var = bool(np.all(ratio == 1.0))
        search_bits = np.minimum(part.budgets + spec.headroom_bits, self.max_search_bits)
        problem = {"lin": ratio * delta, "quad": None if equal_var else 0.5 * (1.0 - ratio**2),
                   "cand_keys": keys_for(seed, Domain.CANDIDATES, stream, n_chunks),
                   "arr_keys": keys_for(seed, Domain.ARRIVALS, stream, n_chunks),
                   "rule": SEARCH_RULES[spec.rule]}
        index = np.empty(n_chunks, dtype=np.int64)
        log_weight = np.empty(n_chunks)
        searched = np.zeros(n_chunks, dtype=bool)
        sizes = np.unique(search_bits)  # the cheapest searches first: they prove the most per second
        for bits in sizes:
            chunks = np.flatnonzero(search_bits == bits)
            _search_size(problem, offsets, chunks, int(bits), self.backend, index, log_weight)
            searched[chunks] = True
            if (max_bytes is not None and bits < sizes[-1]
                    and fmt.floor_bytes(plan.side, spec, dim, index[searched]) > max_bytes):
                return None
        const = np.add.reduceat(np.log(ratio) - 0.5 * delta**2, offsets[:-1])
        message = Message(fmt.pack(plan.side, index.tolist(), spec, dim, self.max_search_bits))
        stats = GaussianChannelStats(
            kl_bits=float(plan.kl.sum()),
            bits=message.bits,
            side_bits=self.side_info(message, dim).side_bits,
            n_chunks=n_chunks,
            n_heavy=part.n_heavy,
            target_bits=spec.chunk_bits,
            chunk_budget_bits=plan.side.budget_bits,
            candidate_dims=sum(int(d) << int(b) for d, b in zip(np.diff(offsets), search_bits, strict=True)),
            chunk_budgets=part.budgets,
            chunk_kl_bits=np.add.reduceat(plan.kl[coords], offsets[:-1]),
            chunk_log_ratio_bits=(log_weight + const) / LN2,
            indices=index,
        )
        return message, stats

    def encode(self, mu_q: object, s_q: object, mu_p: object, s_p: object, *, seed: int,
               stream: tuple[int, ...] = ()) -> tuple[Message, GaussianChannelStats]:
        """Message (bytes) and statistics for a sample of N(mu_q, s_q^2) against N(mu_p, s_p^2)."""
        return self.send(self.plan(mu_q, s_q, mu_p, s_p, seed=seed, stream=stream))

    def decode(self, message: Message | bytes, mu_p: object, s_p: object, *, seed: int,
               stream: tuple[int, ...] = ()) -> np.ndarray:
        """The sample the encoder selected, rebuilt from the message and the shared seed."""
        mu_p, s_p = (np.ascontiguousarray(a) for a in np.broadcast_arrays(
            finite_array(mu_p, "prior mean"), finite_array(s_p, "prior scale")))
        if mu_p.ndim != 1 or mu_p.size == 0 or np.any(s_p <= 0):
            raise ValueError("prior must be one-dimensional and non-empty, with positive scales")
        dim = mu_p.size
        side, indices = fmt.read(fmt.message_bytes(message), self.spec, dim, self.max_search_bits)
        coords, offsets = coordinates(side.heavy, side.n_chunks, side.trial, dim, seed, stream)
        keys = keys_for(seed, Domain.CANDIDATES, stream, side.n_chunks)
        noise = np.empty(dim)
        for c, k in enumerate(indices):
            lo, hi = offsets[c], offsets[c + 1]
            noise[coords[lo:hi]] = regenerate(keys[c], k, hi - lo)
        with np.errstate(over="ignore"):
            sample = mu_p + s_p * noise
        if not np.all(np.isfinite(sample)):
            raise ValueError("the prior's scale is too large: the sample overflows float64")
        return sample
