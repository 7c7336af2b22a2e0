"""rcc_kernels.stable_order: numba's bucket sort is numpy's stable argsort, index for index."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import rcc_kernels
from rcc_kernels.ordering import INSERTION_MAX, bucket_count


def _same_as_numpy(values: np.ndarray) -> None:
    order = rcc_kernels.stable_order(values)
    assert order.dtype == np.int64
    np.testing.assert_array_equal(order, rcc_kernels.stable_order(values, backend="numpy"))
    np.testing.assert_array_equal(order, np.argsort(values, kind="stable"))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 17, 1000, 100_003])
def test_philox_uniforms_in_numpys_order(n: int) -> None:
    """What the partition sorts: one row of a stream's uniforms, at sizes around each bucket count."""
    _same_as_numpy(rcc_kernels.uniform(rcc_kernels.stream_key(seed=n, stream=(3,)), 0, 1, n)[0])


def test_a_subset_of_coordinates_as_the_partition_takes_it() -> None:
    u = rcc_kernels.uniform(rcc_kernels.stream_key(seed=7, stream=(0, 1)), 0, 1, 50_000)[0]
    rest = np.flatnonzero(np.random.default_rng(0).random(u.size) > 0.05)
    _same_as_numpy(u[rest])


def test_ties_keep_index_order() -> None:
    """Many equal values (eight levels): each level's indices must come out ascending."""
    values = np.random.default_rng(1).integers(0, 8, size=10_000) / 8
    _same_as_numpy(values)


def test_skewed_values_take_the_merge_sort_of_a_full_bucket() -> None:
    """Values crowded near 0 fill the first bucket far beyond INSERTION_MAX."""
    values = np.random.default_rng(2).random(20_000) ** 12
    assert np.count_nonzero(np.floor(values * bucket_count(values.size)) == 0) > 10 * INSERTION_MAX
    _same_as_numpy(values)


@given(st.lists(st.floats(min_value=0.0, max_value=1.0, exclude_max=True), max_size=300))
def test_any_values_in_the_unit_interval(values: list[float]) -> None:
    _same_as_numpy(np.array(values, dtype=np.float64))


@pytest.mark.parametrize(("values", "match"), [
    (np.array([0.5, 1.0]), r"\[0, 1\)"),
    (np.array([-0.25, 0.5]), r"\[0, 1\)"),
    (np.array([np.nan, 0.5]), r"\[0, 1\)"),
    (np.zeros((2, 2)), "one-dimensional"),
])
def test_refuses_what_it_cannot_order(values: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        rcc_kernels.stable_order(values)


def test_refuses_an_unknown_backend() -> None:
    with pytest.raises(ValueError, match="backend"):
        rcc_kernels.stable_order(np.zeros(3), backend="gpu")
