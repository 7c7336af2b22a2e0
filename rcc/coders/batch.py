"""The batched API: many independent targets against one proposal, one seed and stream per item.

>>> from rcc.coders import PoissonFunctionalRepresentation
>>> coder, proposal = PoissonFunctionalRepresentation(), Normal(0.0, 1.0)
>>> targets = NormalTargets(loc=[0.1, -0.3], scale=[0.5, 0.4])
>>> messages, stats = coder.encode_batch(targets, proposal, seeds=[0, 1])
>>> coder.decode_batch(messages, proposal, seeds=[0, 1]).shape
(2,)
>>> coder.encode_batch(Normal([0.1, -0.3], [0.5, 0.4]), proposal, seeds=[0, 1])[0] == messages
True

Item ``i`` is exactly the per-item call ``coder.encode(targets[i], proposal, seeds[i],
streams[i])``: same message, same statistics, same decoded sample (the tests check it). The
targets are a sequence of targets, a :class:`NormalTargets`, or a :class:`rcc.distributions.Normal`
with vector parameters, which stands for the univariate Normals of its coordinates. Every coder
gets the batched methods from :class:`BatchCoder`, which loops over the items; exact PFR (and
global A* coding, the same search) and GRS on univariate Normal targets against a univariate
Normal proposal run compiled kernels instead (:mod:`rcc.coders.normal_batch`), and so does the
decoding of every coder whose message is one candidate's index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rcc.core import InvalidTypeError, Message, Proposal, Stats, Target, check_message
from rcc.distributions import Normal

__all__ = ["BatchCoder", "BatchStats", "NormalTargets"]

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


# -- targets, seeds and streams -----------------------------------------------------------------


def _items(targets: Sequence[Target] | NormalTargets | Normal) -> Sequence[Target] | NormalTargets:
    """The targets one by one: a Normal with vector parameters is the batch of its coordinates."""
    return NormalTargets(targets.loc, targets.scale) if isinstance(targets, Normal) else targets


def _messages(messages: object) -> Sequence[Message]:
    """The messages of a batch, each checked to be a :class:`Message`."""
    if isinstance(messages, (str, bytes, bytearray)) or not isinstance(messages, Sequence):
        raise InvalidTypeError("messages must be a sequence of rcc.core.Message, got "
                               f"{type(messages).__name__}")
    for m in messages:
        check_message(m)
    return messages


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
    shared = isinstance(streams, tuple)
    try:
        arr = np.asarray(streams).reshape(1, -1) if shared else np.asarray(streams)
    except (TypeError, ValueError, OverflowError) as err:
        raise InvalidTypeError(f"streams must be integer paths, got {type(streams).__name__}") from err
    if arr.ndim != 2 or (not shared and arr.shape[0] != n) or (arr.size and arr.dtype.kind not in "iu"):
        raise ValueError(f"streams must be one integer path per item, shape ({n}, depth), or one "
                         f"tuple of integers for all, got {arr.dtype} of shape {arr.shape}")
    if arr.dtype.kind == "i" and np.any(arr < 0):
        raise ValueError("stream components must be non-negative")
    return (np.tile(arr, (n, 1)) if shared else arr).astype(np.uint64)


# -- the mixin ----------------------------------------------------------------------------------


class BatchCoder:
    """``encode_batch`` / ``decode_batch`` for a coder with per-item ``encode`` / ``decode``.

    A coder with compiled kernels overrides :meth:`_encode_fast` and :meth:`_decode_fast`, which
    return None for batches they do not take; the per-item loop serves the rest.
    """

    def encode_batch(self, targets: Sequence[Target] | NormalTargets | Normal, proposal: Proposal,
                     seeds: object, streams: Streams = None) -> tuple[list[Message], BatchStats]:
        """Messages and statistics of ``len(targets)`` independent items; item ``i`` uses
        ``seeds[i]`` and ``streams[i]`` (a tuple: one stream for all items)."""
        targets = _items(targets)
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
        n = len(_messages(messages))
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
