"""Fused Gaussian candidate search: numpy reference, Numba CPU and CUDA (simulator) agree."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rcc_kernels
from rcc_kernels import reference
from rcc_kernels.search import (
    MRC,
    ORC,
    PFR,
    SearchProblem,
    regenerate,
    search_cpu,
    search_gpu,
    search_reference,
)

RULES = [PFR, ORC, MRC]


def _problem(rng: np.random.Generator, sizes: list[int], n: int, rule: int, quad: bool,
             seed: int = 1, scale: float = 0.5) -> SearchProblem:
    dim = sum(sizes)
    return SearchProblem(
        lin=rng.normal(size=dim) * scale,
        quad=rng.normal(size=dim) * 0.1 if quad else None,
        offsets=np.concatenate([[0], np.cumsum(sizes)]),
        cand_keys=rcc_kernels.stream_keys(seed, (1, 0), range(len(sizes))),
        arr_keys=rcc_kernels.stream_keys(seed, (2, 0), range(len(sizes))),
        n_candidates=n,
        rule=rule,
    )


def _assert_same(a, b) -> None:  # noqa: ANN001
    np.testing.assert_array_equal(a.index, b.index)
    np.testing.assert_allclose(a.score, b.score, rtol=0, atol=1e-11)
    np.testing.assert_allclose(a.log_weight, b.log_weight, rtol=0, atol=1e-11)


@settings(max_examples=25)
@given(seed=st.integers(0, 2**64 - 1), sizes=st.lists(st.integers(1, 70), min_size=1, max_size=4),
       n=st.integers(1, 5000), rule=st.sampled_from(RULES), quad=st.booleans())
def test_cpu_matches_reference(seed, sizes, n, rule, quad) -> None:
    p = _problem(np.random.default_rng(seed % 2**32), sizes, n, rule, quad, seed=seed)
    _assert_same(search_cpu(p), search_reference(p, window=777))


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("quad", [False, True])
def test_gpu_kernel_matches_reference(rule, quad) -> None:
    """The CUDA kernels (simulator in the ordinary suite), windows carrying the arrival time."""
    p = _problem(np.random.default_rng(rule), [5, 8], 150, rule, quad)
    _assert_same(search_gpu(p, window=64), search_reference(p, window=50))


@pytest.mark.gpu
@pytest.mark.parametrize("rule", RULES)
def test_real_gpu_matches_cpu_at_scale(rule) -> None:
    p = _problem(np.random.default_rng(3), [1000, 1500, 900], 1 << 16, rule, False, scale=0.1)
    _assert_same(search_gpu(p), search_cpu(p))


def test_selected_log_weight_is_the_candidates() -> None:
    """The reported log-weight is that of the regenerated winner: no off-by-one between sides."""
    rng = np.random.default_rng(5)
    p = _problem(rng, [33, 40], 3000, PFR, True)
    res = search_cpu(p)
    for c in range(2):
        lo, hi = p.offsets[c], p.offsets[c + 1]
        z = regenerate(p.cand_keys[c], int(res.index[c]), int(hi - lo))
        expected = z @ p.lin[lo:hi] + (z * z) @ p.quad[lo:hi]
        assert res.log_weight[c] == pytest.approx(expected, abs=1e-10)


def test_regenerate_at_indices_beyond_32_bits() -> None:
    """candidate x dimension far above 2**32 (the int32 overflow of a public implementation)."""
    key = rcc_kernels.stream_keys(9, (1, 0), [3])[0]
    k, d = 2**33 + 12345, 1000
    z = regenerate(key, k, d)
    cand, coord = reference.grid(k, k + 1, d)
    np.testing.assert_allclose(z, reference.normal_at(key, cand, coord)[0], rtol=0,
                               atol=rcc_kernels.FLOAT_TOLERANCE)
    assert k * d > 2**42


def test_single_candidate_and_single_dimension() -> None:
    p = _problem(np.random.default_rng(0), [1], 1, PFR, False)
    assert search_cpu(p).index.tolist() == [0] == search_reference(p).index.tolist()


def test_zero_coefficients_select_by_arrival_only() -> None:
    """With w = 1 everywhere PFR picks the first arrival (k = 0); MRC picks the smallest E_k."""
    base = _problem(np.random.default_rng(0), [4, 4], 500, PFR, False)
    zero = SearchProblem(np.zeros(8), None, base.offsets, base.cand_keys, base.arr_keys, 500, PFR)
    assert search_cpu(zero).index.tolist() == [0, 0]
    mrc = SearchProblem(np.zeros(8), None, base.offsets, base.cand_keys, base.arr_keys, 500, MRC)
    e = [reference.exponential_at(base.arr_keys[c], np.arange(500, dtype=np.uint64), 0) for c in range(2)]
    assert search_cpu(mrc).index.tolist() == [int(np.argmin(x)) for x in e]


@pytest.mark.parametrize("kwargs,match", [
    ({"offsets": np.array([0, 3, 3, 8]), "cand_keys": rcc_kernels.stream_keys(0, (1,), range(3)),
      "arr_keys": rcc_kernels.stream_keys(0, (2,), range(3))}, "empty"),
    ({"offsets": np.array([0, 8])}, "disagree"),
    ({"n_candidates": 0}, "n_candidates"),
    ({"rule": 7}, "rule"),
    ({"lin": np.full(8, np.nan)}, "finite"),
    ({"quad": np.zeros(3)}, "shape"),
])
def test_problem_validation(kwargs, match) -> None:
    base = dict(lin=np.zeros(8), quad=None, offsets=np.array([0, 3, 8]),
                cand_keys=rcc_kernels.stream_keys(0, (1,), range(2)),
                arr_keys=rcc_kernels.stream_keys(0, (2,), range(2)), n_candidates=4, rule=PFR)
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        SearchProblem(**base)
