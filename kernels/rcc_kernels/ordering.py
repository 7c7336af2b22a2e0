"""The order of values in [0, 1): a stable argsort in linear expected time for uniform values.

The partition of the Gaussian channel shuffles up to a million coordinates by the order of their
shared uniforms, eight times per step (``rcc.gaussian.partition``). numpy's stable argsort is a
merge sort, O(n log n); uniform values sort in O(n) expected time by a counting sort on their
leading bits (the bucket ``floor(u * 2^b)``, with ``2^b`` between n/4 and n/2, is exact: a
power-of-two scale and a truncation), then an insertion sort inside each bucket, where two to four
values land on average (fewer, larger buckets than one per value keep the counts in cache). Both
passes keep equal values in index order, so the result is **exactly** ``np.argsort(values,
kind="stable")``, for any values in [0, 1) (skewed values only cost time: a bucket holding more than
``INSERTION_MAX`` values is merge-sorted instead).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rcc_kernels.cpu import JIT_OPTIONS

__all__ = ["INSERTION_MAX", "bucket_count", "stable_order"]

INSERTION_MAX = 32
"""Largest bucket that is insertion-sorted; larger ones (skewed values) take numba's merge sort."""


def bucket_count(n: int) -> int:
    """The buckets for ``n`` values: the power of two in [n/4, n/2) (one for n <= 4)."""
    return 1 << max((n - 1).bit_length() - 2, 0)


@njit(**JIT_OPTIONS)
def _stable_order(values: np.ndarray, scale: float) -> np.ndarray:
    n = values.size
    n_buckets = int(scale)
    starts = np.zeros(n_buckets + 1, dtype=np.int64)
    buckets = np.empty(n, dtype=np.int64)
    for i in range(n):
        b = int(values[i] * scale)
        buckets[i] = b
        starts[b + 1] += 1
    for b in range(n_buckets):
        starts[b + 1] += starts[b]
    order = np.empty(n, dtype=np.int64)
    fill = starts[:-1].copy()
    for i in range(n):  # in index order: equal values keep it
        order[fill[buckets[i]]] = i
        fill[buckets[i]] += 1
    for b in range(n_buckets):
        lo, hi = starts[b], starts[b + 1]
        if hi - lo > INSERTION_MAX:
            segment = order[lo:hi].copy()
            order[lo:hi] = segment[np.argsort(values[segment], kind="mergesort")]
            continue
        for j in range(lo + 1, hi):
            item = order[j]
            v = values[item]
            k = j
            while k > lo and values[order[k - 1]] > v:  # strict: stable
                order[k] = order[k - 1]
                k -= 1
            order[k] = item
    return order


def stable_order(values: np.ndarray, *, backend: str = "cpu") -> np.ndarray:
    """``np.argsort(values, kind="stable")`` of float64 ``values`` in [0, 1) (``int64``): numba's
    bucket sort on "cpu", numpy's merge sort on "numpy" (the reference)."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"values must be one-dimensional, got shape {values.shape}")
    if backend == "numpy":
        return np.argsort(values, kind="stable").astype(np.int64)
    if backend != "cpu":
        raise ValueError(f"backend must be 'cpu' or 'numpy', got {backend!r}")
    if values.size and not (values.min() >= 0.0 and values.max() < 1.0):
        raise ValueError("values must lie in [0, 1)")
    return _stable_order(values, float(bucket_count(values.size)))
