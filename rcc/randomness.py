"""Stream domains: the first component of every stream path the toolkit draws from.

Keeping them in one table guarantees that two algorithms never read the same Philox stream. A
stream path is ``(DOMAIN, ...)`` followed by whatever identifies the call (step, chunk, ...), and
the key comes from :func:`kernels.stream_key`. The values are frozen with the randomness mapping
(changing one changes decoded samples and requires a new container version).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

import kernels

__all__ = ["Domain", "key_for"]


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


def key_for(seed: int, domain: Domain, *path: int) -> np.ndarray:
    """Philox key of the stream ``(domain, *path)`` under ``seed``."""
    return kernels.stream_key(seed, (int(domain), *path))
