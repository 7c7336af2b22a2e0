"""Shared randomness: Philox known answers, the frozen mapping, backend agreement, statistics."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

import rcc_kernels
from rcc import testing
from rcc.randomness import Domain, item_keys, key_for
from rcc_kernels import reference
from rcc_kernels.generators import to_numpy
from rcc_kernels.known_answers import KNOWN_ANSWERS
from rcc_kernels.philox import philox4x32_10_cpu, philox4x32_10_numpy
from rcc_kernels.streams import STREAM_TAG

BACKENDS = ["numpy", "cpu", "gpu"]  # "gpu" runs in the CUDA simulator unless RCC_REAL_GPU=1
KINDS = ["uniform", "normal", "exponential"]
GOLDEN = json.loads((Path(__file__).parent / "golden" / "randomness_v1.json").read_text())
U64 = 2**64


def _words(x: int) -> tuple[int, int]:
    return x & 0xFFFFFFFF, x >> 32


# --- Philox4x32-10 known answers (Random123) on every backend --------------------------------


@pytest.mark.parametrize("counter,key,expected", KNOWN_ANSWERS)
def test_known_answers_scalar_numpy_and_cpu(counter, key, expected) -> None:
    assert rcc_kernels.philox4x32_10(counter, key).tolist() == list(expected)
    assert philox4x32_10_numpy(np.array(counter), np.array(key)).tolist() == list(expected)
    got = philox4x32_10_cpu(np.array([counter], np.uint32), np.array([key], np.uint32))
    assert got[0].tolist() == list(expected)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("counter,key,expected", KNOWN_ANSWERS)
def test_known_answers_through_bulk_generators(backend, counter, key, expected) -> None:
    # A block's counter is (block lo, block hi, candidate lo, candidate hi): any counter is reachable.
    block = counter[0] | counter[1] << 32
    cand = counter[2] | counter[3] << 32
    words = rcc_kernels.bits(np.array(key, np.uint32), cand, cand + 1, 1, block_start=block,
                         backend=backend)
    assert to_numpy(words)[0, 0].tolist() == list(expected)


def test_philox_rejects_bad_words() -> None:
    with pytest.raises(ValueError, match="2\\*\\*32"):
        rcc_kernels.philox4x32_10([0, 0, 0, 2**32], [0, 0])
    with pytest.raises(ValueError, match="exactly 2"):
        rcc_kernels.philox4x32_10([0, 0, 0, 0], [0])
    with pytest.raises(TypeError):
        rcc_kernels.philox4x32_10([0.5, 0, 0, 0], [0, 0])


# --- The frozen mapping ------------------------------------------------------------------------


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: f"seed{c['seed']}-{c['stream']}")
def test_golden_vectors(case: dict) -> None:
    key = rcc_kernels.stream_key(case["seed"], case["stream"])
    assert key.tolist() == case["key"]
    cand = np.array([p[0] for p in case["points"]], dtype=np.uint64)
    coord = np.array([p[1] for p in case["points"]], dtype=np.uint64)
    words = reference.bits_at(key, cand, coord >> np.uint64(1))
    assert words.tolist() == case["block_words"]
    golden = {k: np.array([float.fromhex(v) for v in case[k]]) for k in KINDS}
    np.testing.assert_array_equal(reference.uniform_at(key, cand, coord), golden["uniform"])
    for kind in ("normal", "exponential"):
        np.testing.assert_allclose(getattr(reference, f"{kind}_at")(key, cand, coord),
                                   golden[kind], rtol=0, atol=rcc_kernels.FLOAT_TOLERANCE)
    # The CPU kernel, one point at a time, at the same 64-bit indices.
    for i, (k, c) in enumerate(case["points"]):
        for kind in KINDS:
            got = rcc_kernels.generate(kind, key, k, k + 1, 1, coord_start=c, backend="cpu")[0, 0]
            assert abs(got - golden[kind][i]) <= rcc_kernels.FLOAT_TOLERANCE


def test_golden_key_derivation_follows_the_written_rule() -> None:
    """Re-derive keys from the prose rule in docs/randomness.md, independently of stream_key."""
    for case in GOLDEN["cases"]:
        key = list(_words(case["seed"]))
        for level, comp in enumerate(case["stream"]):
            out = rcc_kernels.philox4x32_10([*_words(comp), level, STREAM_TAG], key)
            key = out[:2].tolist()
        assert key == case["key"]


def test_uniform_rule_exact_in_rational_arithmetic() -> None:
    """u = (top 52 bits of hi:lo + 1/2) / 2**52, checked with exact fractions, never 0 or 1."""
    for case in GOLDEN["cases"]:
        rows = zip(case["points"], case["block_words"], case["uniform"], strict=True)
        for (_, coord), words, u_hex in rows:
            lo, hi = (words[0], words[1]) if coord % 2 == 0 else (words[2], words[3])
            top = ((hi << 32) | lo) >> 12
            exact = (Fraction(top) + Fraction(1, 2)) / 2**52
            assert Fraction(float.fromhex(u_hex)) == exact
            assert 0 < exact < 1


def test_normal_is_the_quantile_of_the_uniform() -> None:
    """AS 241 against scipy's independent ndtri, across the whole attainable range of uniforms."""
    u = np.concatenate([
        (np.array([0, 1, 2, 2**20, 2**40]) + 0.5) * 2.0**-52,  # extreme lower tail
        np.linspace(1e-6, 1 - 1e-6, 200_001),
        1 - (np.array([0, 1, 2**30]) + 0.5) * 2.0**-52,  # extreme upper tail
    ])
    from rcc_kernels.variates import ndtri_numpy

    np.testing.assert_allclose(ndtri_numpy(u), special.ndtri(u), rtol=1e-14, atol=1e-15)
    # Exact symmetry on the attainable uniforms (x + 1/2) 2**-52, for which 1 - u is exact.
    x = np.random.default_rng(0).integers(0, 2**52, 100_000)
    grid = (x + 0.5) * 2.0**-52
    np.testing.assert_array_equal(ndtri_numpy(1 - grid), -ndtri_numpy(grid))


def test_stream_keys_vectorised_equals_scalar() -> None:
    keys = rcc_kernels.stream_keys(77, (3, 9), [0, 1, 2**63, 5])
    for row, last in zip(keys, [0, 1, 2**63, 5], strict=True):
        assert row.tolist() == rcc_kernels.stream_key(77, (3, 9, last)).tolist()


def test_item_keys_are_key_for() -> None:
    rng = np.random.default_rng(1)
    seeds = np.append(rng.integers(0, 2**63, 50, dtype=np.uint64), np.uint64(2**64 - 1))
    paths = rng.integers(0, 2**40, (seeds.size, 2)).astype(np.uint64)
    keys = item_keys(seeds, Domain.ARRIVALS, paths)
    for i in range(seeds.size):
        np.testing.assert_array_equal(keys[i], key_for(int(seeds[i]), Domain.ARRIVALS,
                                                       tuple(int(c) for c in paths[i])))
    np.testing.assert_array_equal(item_keys(seeds[:1], Domain.CANDIDATES, np.zeros((1, 0), np.uint64))[0],
                                  key_for(int(seeds[0]), Domain.CANDIDATES))


def test_distinct_streams_get_distinct_keys() -> None:
    paths = [(), (0,), (1,), (0, 0), (0, 1), (1, 0), (0, 0, 0), (2**64 - 1,)]
    keys = {tuple(rcc_kernels.stream_key(5, p).tolist()) for p in paths}
    keys |= {tuple(rcc_kernels.stream_key(6, p).tolist()) for p in paths}
    assert len(keys) == 2 * len(paths)


@pytest.mark.parametrize("seed,stream,err", [
    (-1, (), ValueError), (2**64, (), ValueError), (1.5, (), TypeError), (True, (), TypeError),
    (0, (-1,), ValueError), (0, (2**64,), ValueError), (0, ("a",), TypeError),
])
def test_stream_key_rejects_bad_input(seed, stream, err) -> None:
    with pytest.raises(err):
        rcc_kernels.stream_key(seed, stream)


# --- Backends agree; 64-bit indices -------------------------------------------------------------


def _assert_same(kind: str, a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    if kind == "uniform":  # pure integer-to-float conversion: bit-identical
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=0, atol=rcc_kernels.FLOAT_TOLERANCE)


@settings(max_examples=30)
@given(
    seed=st.integers(0, U64 - 1),
    stream=st.lists(st.integers(0, U64 - 1), max_size=3),
    rows=st.integers(0, 5),
    dim=st.integers(0, 9),
    start=st.one_of(st.integers(0, 100), st.integers(0, U64 - 10)),
    coord_start=st.one_of(st.integers(0, 5), st.integers(0, U64 - 10)),
    kind=st.sampled_from(KINDS),
)
def test_cpu_and_gpu_match_reference(seed, stream, rows, dim, start, coord_start, kind) -> None:
    key = rcc_kernels.stream_key(seed, stream)
    ref = rcc_kernels.generate(kind, key, start, start + rows, dim, coord_start=coord_start,
                           backend="numpy")
    for backend in ("cpu", "gpu"):
        got = to_numpy(rcc_kernels.generate(kind, key, start, start + rows, dim,
                                        coord_start=coord_start, backend=backend))
        _assert_same(kind, got, ref)


@pytest.mark.parametrize("backend", ["cpu", "gpu"])
def test_indices_beyond_32_bits(backend) -> None:
    """candidate x dimension products far above 2**32 (the public-DiffC overflow bug)."""
    key = rcc_kernels.stream_key(11, (8, 1))
    dim = 2**20  # candidate 2**13 + j starts at flat offset 2**33 + ...: int32 would wrap
    start = 2**13
    for coord_start in (0, 2**32 - 3, 2**33 + 1):
        got = to_numpy(rcc_kernels.normal(key, start, start + 2, 7, coord_start=coord_start,
                                      backend=backend))
        cand, coord = reference.grid(start, start + 2, 7, coord_start)
        np.testing.assert_allclose(got, reference.normal_at(key, cand, coord), rtol=0,
                                   atol=rcc_kernels.FLOAT_TOLERANCE)
    # A window of a long row equals the corresponding slice of the full row.
    full = rcc_kernels.normal(key, 2**32 + 1, 2**32 + 3, 64, backend="cpu")
    window = to_numpy(rcc_kernels.normal(key, 2**32 + 1, 2**32 + 3, 21, coord_start=33,
                                     backend=backend))
    np.testing.assert_allclose(window, full[:, 33:54], rtol=0, atol=rcc_kernels.FLOAT_TOLERANCE)
    assert dim * start > 2**32


@pytest.mark.parametrize("backend", BACKENDS)
def test_bits_match_reference(backend) -> None:
    key = rcc_kernels.stream_key(3, (1,))
    ref = rcc_kernels.bits(key, 2**33 - 2, 2**33 + 2, 5, block_start=2**32 - 2, backend="numpy")
    got = to_numpy(rcc_kernels.bits(key, 2**33 - 2, 2**33 + 2, 5, block_start=2**32 - 2,
                                backend=backend))
    assert got.dtype == np.uint32
    np.testing.assert_array_equal(got, ref)


def test_cpu_result_does_not_depend_on_thread_count() -> None:
    key = rcc_kernels.stream_key(9, (2,))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = rcc_kernels.normal(key, 0, 257, 33)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = rcc_kernels.normal(key, 0, 257, 33)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one, many)


def test_prefix_property_rows_and_columns() -> None:
    """Candidate k's values do not depend on how many candidates or coordinates are requested."""
    key = rcc_kernels.stream_key(1, (4,))
    big = rcc_kernels.exponential(key, 10, 30, 50)
    np.testing.assert_array_equal(rcc_kernels.exponential(key, 15, 16, 7, coord_start=3),
                                  big[5:6, 3:10])


@pytest.mark.parametrize("call,err", [
    (lambda k: rcc_kernels.normal(k, 5, 4, 3), ValueError),
    (lambda k: rcc_kernels.normal(k, -1, 4, 3), ValueError),
    (lambda k: rcc_kernels.normal(k, 0, 2**64 + 1, 3), ValueError),
    (lambda k: rcc_kernels.normal(k, 0, 1, -3), ValueError),
    (lambda k: rcc_kernels.normal(k, 0, 1, 3, coord_start=2**64 - 2), ValueError),
    (lambda k: rcc_kernels.normal(k, 0, 1.5, 3), TypeError),
    (lambda k: rcc_kernels.normal(k, 0, 1, 3, backend="tpu"), ValueError),
    (lambda k: rcc_kernels.generate("cauchy", k, 0, 1, 3), ValueError),
    (lambda k: rcc_kernels.normal(np.array([1, 2, 3], np.uint32), 0, 1, 3), ValueError),
    (lambda k: rcc_kernels.normal(np.array([1, 2]), 0, 1, 3), ValueError),
    (lambda k: rcc_kernels.bits(k, 0, 1, 2, block_start=2**64 - 1), ValueError),
])
def test_generators_reject_bad_requests(call, err) -> None:
    with pytest.raises(err):
        call(rcc_kernels.stream_key(0))




# --- Statistics of the variates --------------------------------------------------------------

N_STAT = 200_000


@pytest.mark.statistical
@pytest.mark.parametrize("kind,dist", [
    ("uniform", stats.uniform()), ("normal", stats.norm()), ("exponential", stats.expon()),
])
def test_variates_follow_their_law(kind: str, dist, stat_seed) -> None:
    key = rcc_kernels.stream_key(stat_seed(2024), (1, 0))
    values = rcc_kernels.generate(kind, key, 0, N_STAT // 100, 100)
    testing.assert_ks(values.ravel(), dist, what=f"{kind} variates")
    # Also along a single column across candidates, and at indices beyond 2**32.
    column = rcc_kernels.generate(kind, key, 2**40, 2**40 + N_STAT, 1, coord_start=2**35 + 1)
    testing.assert_ks(column.ravel(), dist, what=f"{kind} variates, one column")


@pytest.mark.statistical
def test_normal_moments(stat_seed) -> None:
    z = rcc_kernels.normal(rcc_kernels.stream_key(stat_seed(7), (3,)), 0, 1000, 1000).ravel()
    n = z.size
    # Mean, variance and kurtosis within ~6 standard errors (a per-check level well below ALPHA).
    assert abs(z.mean()) < 6 / np.sqrt(n)
    assert abs(z.var() - 1) < 6 * np.sqrt(2 / n)
    assert abs(stats.kurtosis(z)) < 6 * np.sqrt(24 / n)


@pytest.mark.statistical
@pytest.mark.parametrize("pair", ["coordinates in one block", "neighbouring blocks",
                                  "neighbouring candidates", "different streams",
                                  "neighbouring seeds"])
def test_independence_of_neighbours(pair: str, stat_seed) -> None:
    n, seed = 100_000, stat_seed(99)
    key = rcc_kernels.stream_key(seed, (2,))
    if pair == "coordinates in one block":
        u = rcc_kernels.uniform(key, 0, n, 2)
        x, y = u[:, 0], u[:, 1]
    elif pair == "neighbouring blocks":
        u = rcc_kernels.uniform(key, 0, n, 4)
        x, y = u[:, 1], u[:, 2]
    elif pair == "neighbouring candidates":
        u = rcc_kernels.uniform(key, 0, n + 1, 1)[:, 0]
        x, y = u[:-1], u[1:]
    elif pair == "different streams":
        x = rcc_kernels.uniform(key, 0, n, 1)[:, 0]
        y = rcc_kernels.uniform(rcc_kernels.stream_key(seed, (3,)), 0, n, 1)[:, 0]
    else:
        x = rcc_kernels.uniform(key, 0, n, 1)[:, 0]
        y = rcc_kernels.uniform(rcc_kernels.stream_key(seed + 1, (2,)), 0, n, 1)[:, 0]
    testing.assert_independent(x, y, bins=10, what=pair)
    # Products of centred normals of independent pairs have mean 0, sd 1/sqrt(n) per pair.
    zx, zy = special.ndtri(x), special.ndtri(y)
    assert abs(np.mean(zx * zy)) < 6 / np.sqrt(n)


@pytest.mark.statistical
def test_low_bits_are_uniform(stat_seed) -> None:
    """The raw words' lowest and highest bytes are uniform (chi-square on 256 counts)."""
    words = rcc_kernels.bits(rcc_kernels.stream_key(stat_seed(5), (6,)), 0, 4096, 64).ravel()
    for shift in (0, 24):
        counts = np.bincount((words >> np.uint32(shift)) & np.uint32(0xFF), minlength=256)
        testing.assert_chi2_counts(counts, np.full(256, 1 / 256), what=f"byte at bit {shift}")


# --- Real GPU only --------------------------------------------------------------------------


@pytest.mark.gpu
def test_real_gpu_bulk_matches_cpu() -> None:
    from rcc_kernels import gpu

    assert not gpu.simulator()
    key = rcc_kernels.stream_key(31, (1, 2))
    for kind in KINDS:
        got = to_numpy(rcc_kernels.generate(kind, key, 2**35, 2**35 + 2048, 1025, coord_start=2**33 + 1,
                                        backend="gpu"))
        ref = rcc_kernels.generate(kind, key, 2**35, 2**35 + 2048, 1025, coord_start=2**33 + 1)
        _assert_same(kind, got, ref)
