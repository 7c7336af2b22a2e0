"""Stream domains: the first component of every stream path the toolkit draws from.

Keeping them in one table guarantees that two algorithms never read the same Philox stream. A
stream path is ``(DOMAIN, ...)`` followed by whatever identifies the call (step, chunk, ...), and
its key comes from the rule of :mod:`rcc_kernels.streams` (``docs/randomness.md``): :func:`key_for`
for one call, :func:`keys_for` for the chunks of a call, :func:`item_keys` for a batch of
independent items. The values are frozen with the randomness mapping (changing one changes decoded
samples and requires a new container version).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

import numpy as np

import rcc_kernels
from rcc_kernels.errors import InvalidTypeError
from rcc_kernels.streams import path_keys

__all__ = ["Domain", "item_keys", "key_for", "keys_for", "stream_path"]


class Domain(IntEnum):
    """First component of a stream path."""

    CANDIDATES = 1  # proposal samples shared by encoder and decoder
    ARRIVALS = 2  # PFR / ORC arrival times: encoder only, still seeded
    SELECTION = 3  # randomness of sampling-based selection (MRC), encoder only
    DITHER = 4  # universal quantization dither, shared
    LAYER = 5  # layered quantizer's random level/step, shared
    ACCEPT = 6  # greedy rejection sampling acceptance uniforms, shared
    PARTITION = 7  # seeded shuffles of dimensions into chunks, shared
    DIFFC_NOISE = 8  # DiffC-A decoder's own ancestral noise, decoder only
    REFINE_NOISE = 9  # compress-then-refine: the fresh noise of the start state, decoder only


def stream_path(stream: object) -> tuple[int, ...]:
    """A caller's ``stream`` argument as a path tuple: a sequence of integers (each checked, with
    the seed, by :func:`rcc_kernels.stream_key`); :class:`InvalidTypeError` for anything else."""
    if isinstance(stream, (str, bytes, bytearray, dict)) or not isinstance(stream, Iterable):
        raise InvalidTypeError(f"stream must be a tuple of integers, got {type(stream).__name__}")
    return tuple(stream)


def key_for(seed: int, domain: Domain, stream: object = (), *extra: int) -> np.ndarray:
    """Philox key of the stream ``(domain, *stream, *extra)`` under ``seed``; ``stream`` is the
    caller's path (checked by :func:`stream_path`), ``extra`` what the algorithm appends."""
    return rcc_kernels.stream_key(seed, (int(domain), *stream_path(stream), *extra))


def keys_for(seed: int, domain: Domain, path: object, count: int) -> np.ndarray:
    """Keys (count, 2) of the streams ``(domain, *path, j)`` for ``j < count``: one per chunk of a call."""
    return rcc_kernels.stream_keys(seed, (int(domain), *stream_path(path)), range(count))


def item_keys(seeds: np.ndarray, domain: Domain, paths: np.ndarray) -> np.ndarray:
    """``key_for(seeds[i], domain, *paths[i])`` for every item, (n, 2) uint32: ``seeds`` (n,) and
    ``paths`` (n, depth) are uint64 arrays."""
    full = np.empty((paths.shape[0], paths.shape[1] + 1), dtype=np.uint64)
    full[:, 0], full[:, 1:] = int(domain), paths
    return path_keys(seeds, full)
