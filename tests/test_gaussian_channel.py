"""Chunked high-dimensional Gaussian channel simulation (rcc.gaussian)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from rcc import testing
from rcc.bounds import gaussian_kl_bits
from rcc.codes import BitWriter, elias_delta_write, elias_gamma_write
from rcc.gaussian import MEAN_KL_BITS, PRESETS, ChannelSpec, GaussianChannel, SideInfo


def _equal_variance_problem(rng: np.random.Generator, dim: int, kl_bits: float, scale: float = 0.3):
    mu_p = rng.normal(size=dim)
    delta = rng.normal(size=dim)
    delta *= math.sqrt(2 * kl_bits * math.log(2) / np.sum(delta**2))
    s = np.full(dim, scale)
    return mu_p + delta * s, s, mu_p, s


def _realized_bits(z: np.ndarray, mu_q: np.ndarray, s: np.ndarray, mu_p: np.ndarray) -> float:
    """log2 dQ/dP at z for equal variances: what the decoder's sample actually carries."""
    n, delta = (z - mu_p) / s, (mu_q - mu_p) / s
    return float(n @ delta - 0.5 * delta @ delta) / math.log(2)


def test_round_trip_is_the_encoders_selection() -> None:
    mu_q, s_q, mu_p, s_p = _equal_variance_problem(np.random.default_rng(0), 300, 40.0)
    ch = GaussianChannel(ChannelSpec(chunk_bits=6, headroom_bits=2))
    message, st = ch.encode(mu_q, s_q, mu_p, s_p, seed=3, stream=(1, 2))
    z = ch.decode(message, mu_p, s_p, seed=3, stream=(1, 2))
    assert st.bits == message.bits == 8 * len(message.data)
    # Chunks are filled to chunk_bits on average; each searches 2^(its KL rounded up + headroom).
    assert st.n_heavy == 0 and st.n_chunks == math.ceil(40 / 6)
    assert st.chunk_kl_bits.sum() == pytest.approx(st.kl_bits)
    np.testing.assert_array_equal(st.chunk_budgets, np.ceil(st.chunk_kl_bits))
    assert st.chunk_budget_bits == max(6, st.chunk_budgets.max())
    candidates = sum(1 << int(b + 2) for b in st.chunk_budgets)  # chunks of 300 // 7 or one more
    assert 42 * candidates <= st.candidate_dims <= 43 * candidates
    # The decoder's sample realizes exactly the log-ratio the encoder reported.
    assert _realized_bits(z, mu_q, s_p, mu_p) == pytest.approx(st.log_ratio_bits, abs=1e-8)
    # Another seed or stream decodes to something else.
    assert not np.allclose(ch.decode(message, mu_p, s_p, seed=4, stream=(1, 2)), z)


@pytest.mark.parametrize("index_code", ["fixed", "zipf", "zipf_truncated", "pfr_lognormal"])
@pytest.mark.parametrize("rule", ["pfr", "orc", "mrc"])
def test_every_rule_and_code_round_trips(rule: str, index_code: str) -> None:
    mu_q, s_q, mu_p, s_p = _equal_variance_problem(np.random.default_rng(1), 50, 20.0)
    ch = GaussianChannel(ChannelSpec(chunk_bits=5, headroom_bits=3, rule=rule, index_code=index_code))
    message, st = ch.encode(mu_q, s_q, mu_p, s_p, seed=9)
    z = ch.decode(message, mu_p, s_p, seed=9)
    assert _realized_bits(z, mu_q, s_p, mu_p) == pytest.approx(st.log_ratio_bits, abs=1e-8)
    if index_code != "fixed":
        assert st.side_bits > 0


def test_message_encoded_on_one_backend_decodes_on_any() -> None:
    mu_q, s_q, mu_p, s_p = _equal_variance_problem(np.random.default_rng(2), 12, 6.0)
    messages = {b: GaussianChannel(ChannelSpec(chunk_bits=3, headroom_bits=1), backend=b)
                .encode(mu_q, s_q, mu_p, s_p, seed=5)[0].data for b in ("numpy", "cpu", "gpu")}
    assert messages["numpy"] == messages["cpu"] == messages["gpu"]
    decoded = [GaussianChannel(ChannelSpec(chunk_bits=3, headroom_bits=1), backend=b)
               .decode(messages["cpu"], mu_p, s_p, seed=5) for b in ("numpy", "cpu", "gpu")]
    np.testing.assert_array_equal(decoded[0], decoded[1])
    np.testing.assert_array_equal(decoded[1], decoded[2])


def _projections(channel: GaussianChannel, trials: int, dim: int, kl_bits: float,
                 unequal: bool, problems: int, first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardised errors of decoded samples along the mean difference and a random direction,
    and the input (the target mean's offset from the prior), over independent trials (problems
    drawn from the seed ``problems``, trial ``t`` coded with seed ``first + t``)."""
    rng = np.random.default_rng(problems)
    along, across, inputs = [], [], []
    for t in range(trials):
        mu_q, s_q, mu_p, s_p = _equal_variance_problem(rng, dim, kl_bits)
        if unequal:
            s_q = s_q * rng.uniform(0.6, 0.95, size=dim)
        message, _ = channel.encode(mu_q, s_q, mu_p, s_p, seed=first + t, stream=(7,))
        e = (channel.decode(message, mu_p, s_p, seed=first + t, stream=(7,)) - mu_q) / s_q  # ~ N(0, I)
        unit = (mu_q - mu_p) / np.linalg.norm(mu_q - mu_p)
        direction = rng.normal(size=dim)
        along.append(e @ unit)
        across.append(e @ direction / np.linalg.norm(direction))
        inputs.append(unit @ mu_p)
    return np.array(along), np.array(across), np.array(inputs)


@pytest.mark.statistical
@pytest.mark.parametrize("unequal", [False, True], ids=["equal-variance", "narrower-target"])
def test_generous_headroom_gives_samples_of_the_target(unequal: bool, stat_seed) -> None:
    channel = GaussianChannel(ChannelSpec(chunk_bits=3, headroom_bits=10))
    along, across, inputs = _projections(channel, 600, 6, 3.0, unequal, stat_seed(11), stat_seed(0))
    testing.assert_ks(along, stats.norm(), what="projection on the mean difference")
    testing.assert_ks(across, stats.norm(), what="random projection")
    testing.assert_independent(inputs, along, bins=4, what="error vs input")


@pytest.mark.statistical
def test_no_headroom_bias_is_detected(stat_seed) -> None:
    """The same test has power: without headroom, truncation pulls samples toward the prior."""
    channel = GaussianChannel(ChannelSpec(chunk_bits=6, headroom_bits=0))
    along, _, _ = _projections(channel, 600, 6, 6.0, False, stat_seed(11), stat_seed(0))
    result = testing.ks(along, stats.norm())
    assert result.pvalue < testing.ALPHA and np.mean(along) < -0.3


def test_zero_kl_sends_the_first_arrival() -> None:
    mu = np.linspace(-1, 1, 10)
    # range coders emit 32-bit words
    for code, max_bytes in (("fixed", 3), ("zipf_truncated", 5), ("pfr_lognormal", 5)):
        ch = GaussianChannel(ChannelSpec(index_code=code))
        message, st = ch.encode(mu, 1.0, mu, 1.0, seed=1)
        assert st.kl_bits == 0 and st.n_chunks == 1 and st.indices.tolist() == [0]
        assert len(message.data) <= max_bytes
        assert ch.decode(message, mu, 1.0, seed=1).shape == (10,)


def test_single_dimension() -> None:
    ch = GaussianChannel(ChannelSpec(chunk_bits=4, headroom_bits=4))
    message, st = ch.encode([1.0], [0.5], [0.0], [1.0], seed=2)
    assert st.n_chunks == 1
    assert ch.decode(message, [0.0], [1.0], seed=2).shape == (1,)


@pytest.mark.parametrize("args,match", [
    (([np.nan], [1.0], [0.0], [1.0]), "finite"),
    (([0.0], [-1.0], [0.0], [1.0]), "positive"),
    (([0.0], [1.0], [0.0], [0.0]), "positive"),
    (([], [], [], []), "zero-dimensional"),
    ((np.zeros((2, 2)), 1.0, 0.0, 1.0), "one-dimensional"),
    (([10.0, 0.0], [1e-3, 1.0], [0.0, 0.0], [1.0, 1.0]), "max_search_bits"),
])
def test_bad_input_is_a_clear_error(args, match) -> None:
    with pytest.raises(ValueError, match=match):
        GaussianChannel(ChannelSpec(chunk_bits=4)).encode(*args, seed=0)


@pytest.mark.parametrize("kwargs", [
    {"chunk_bits": 0}, {"headroom_bits": -1}, {"rule": "grs"}, {"index_code": "huffman"},
    {"chunk_bits": 30, "headroom_bits": 16}, {"partition_trial_bits": 9},
])
def test_bad_configuration(kwargs) -> None:
    with pytest.raises(ValueError):
        GaussianChannel(ChannelSpec(**kwargs))


def test_corrupt_messages_are_clear_errors() -> None:
    mu_q, s_q, mu_p, s_p = _equal_variance_problem(np.random.default_rng(3), 40, 30.0)
    ch = GaussianChannel(ChannelSpec(chunk_bits=6, headroom_bits=2, index_code="fixed"))
    message, _ = ch.encode(mu_q, s_q, mu_p, s_p, seed=1)
    with pytest.raises(ValueError, match="length"):
        ch.decode(message.data[:-1], mu_p, s_p, seed=1)
    with pytest.raises(ValueError, match="truncated"):
        ch.decode(message.data[:1], mu_p, s_p, seed=1)
    with pytest.raises(ValueError, match="corrupt"):
        ch.decode(b"\x00\x00\x00\x01" + message.data, mu_p, s_p, seed=1)  # budget grown by 2^31
    writer = BitWriter()
    elias_gamma_write(writer, 1)  # no budget growth
    elias_gamma_write(writer, 1)  # no heavy dimension
    elias_delta_write(writer, 2**32)
    with pytest.raises(ValueError, match="chunks"):
        ch.decode(writer.to_bytes() + message.data, mu_p, s_p, seed=1)  # 2^32 chunks
    with pytest.raises(ValueError, match="length"):
        ch.decode(message.data + b"\x00", mu_p, s_p, seed=1)


@pytest.mark.parametrize("index_code", ["zipf", "zipf_truncated", "pfr_lognormal"])
def test_only_the_canonical_range_coded_message_decodes(index_code: str) -> None:
    mu_q, s_q, mu_p, s_p = _equal_variance_problem(np.random.default_rng(5), 200, 60.0)
    ch = GaussianChannel(ChannelSpec(chunk_bits=6, headroom_bits=2, index_code=index_code))
    message, _ = ch.encode(mu_q, s_q, mu_p, s_p, seed=2)
    ch.decode(message, mu_p, s_p, seed=2)
    for tail in (b"\xff", b"\x00", b"\xff\xff"):  # range decoders read past these without noticing
        with pytest.raises(ValueError, match="canonical|corrupt"):
            ch.decode(message.data + tail, mu_p, s_p, seed=2)


def test_a_heavy_dimension_is_a_chunk_of_its_own() -> None:
    """A dimension with more KL than chunk_bits is named in the side information and searched
    alone: the call's other chunks keep their own budgets, and the search work stays put."""
    mu_p, s = np.zeros(2000), np.ones(2000)
    mu_q = np.random.default_rng(3).normal(0.0, 0.3, size=2000)
    ch = GaussianChannel(ChannelSpec(chunk_bits=6, headroom_bits=4))
    _, light = ch.encode(mu_q, s, mu_p, s, seed=3)
    mu_q[777] = 4.2  # 12.7 bits in one dimension
    message, st = ch.encode(mu_q, s, mu_p, s, seed=3)
    assert st.n_heavy == 1 and ch.side_info(message, 2000).heavy == (777,)
    assert st.chunk_budgets[0] == 13 and st.chunk_budget_bits == 13 and st.chunk_kl_bits[0] > 12
    assert st.candidate_dims <= 2 * light.candidate_dims  # not 2^13 x every chunk's dimensions
    np.testing.assert_array_equal(st.chunk_budgets[1:], np.ceil(st.chunk_kl_bits[1:]))
    z = ch.decode(message, mu_p, s, seed=3)
    assert _realized_bits(z, mu_q, s, mu_p) == pytest.approx(st.log_ratio_bits, abs=1e-8)


def test_partition_fills_chunks_and_picks_the_least_search_work() -> None:
    """KL concentrated in a few dimensions: ceil(KL / chunk_bits) chunks, each with its own budget,
    and the trial kept is the one whose chunks search the fewest candidate-dimensions."""
    rng = np.random.default_rng(4)
    dim = 400
    mu_p, s = np.zeros(dim), np.ones(dim)
    mu_q = np.where(np.arange(dim) < 40, rng.normal(size=dim), 0.01)
    kl = gaussian_kl_bits(mu_q, s, mu_p, s)
    work = []
    for bits in range(3):
        spec = ChannelSpec(chunk_bits=8, headroom_bits=0, partition_trial_bits=bits)
        message, st = GaussianChannel(spec).encode(mu_q, s, mu_p, s, seed=0)
        assert st.n_chunks - st.n_heavy == math.ceil((kl - st.chunk_kl_bits[:st.n_heavy].sum()) / 8)
        assert st.chunk_kl_bits.sum() == pytest.approx(kl)
        work.append(st.candidate_dims)
    assert work[0] >= work[1] >= work[2]  # more trials can only find less work
    assert work[0] > work[2]


@pytest.mark.slow
def test_100k_dimensions_2000_bits_round_trip() -> None:
    """The issue's target: a 100,000-dimension, 2,000-bit message round-trips on the CPU
    (with the unbiased preset: 4-bit chunks, 8 bits of headroom)."""
    mu_q, s_q, mu_p, s_p = _equal_variance_problem(np.random.default_rng(5), 100_000, 2000.0)
    ch = GaussianChannel(PRESETS["exact"])
    message, st = ch.encode(mu_q, s_q, mu_p, s_p, seed=2026, stream=(0,))
    z = ch.decode(message, mu_p, s_p, seed=2026, stream=(0,))
    assert st.kl_bits == pytest.approx(2000.0) and st.n_chunks >= 500
    assert st.bits == 8 * len(message.data) and 2000 < st.bits < 2 * 2000
    assert abs(st.shortfall_bits) < 5 * math.sqrt(2 * 2000 / math.log(2))  # 5 sd of a sum of chunks
    assert _realized_bits(z, mu_q, s_p, mu_p) == pytest.approx(st.log_ratio_bits, abs=1e-6)


def _gamma_bits(n: int) -> int:
    return 2 * n.bit_length() - 1


@pytest.mark.parametrize("index_code", ["fixed", "zipf", "zipf_truncated", "pfr_lognormal"])
@pytest.mark.parametrize(("dim", "kl", "heavy"), [(64, 2.0, 0), (300, 40.0, 0), (20, 0.0, 0), (300, 40.0, 2)])
def test_side_info_is_what_the_decoder_reads(index_code: str, dim: int, kl: float, heavy: int) -> None:
    """The side information: budget growth (gamma), heavy count (gamma) and positions, chunk count
    (delta), the trial only for more than one shuffled chunk, the mean-KL level; the index code's
    bits follow without padding."""
    mu_q, s_q, mu_p, s_p = _equal_variance_problem(np.random.default_rng(6), dim, kl)
    mu_q[[5, 17][:heavy]] += 4.0 * s_q[0]  # over 11 bits each: heavy for 8-bit chunks
    ch = GaussianChannel(ChannelSpec(index_code=index_code))
    message, st = ch.encode(mu_q, s_q, mu_p, s_p, seed=4)
    side = ch.side_info(message, dim)
    assert side == ch.side_info(message.data, dim)
    growth = st.chunk_budget_bits - ch.spec.chunk_bits
    n = st.n_chunks
    assert st.n_heavy == heavy and side.heavy == (5, 17)[:heavy]
    trial_bits = ch.spec.partition_trial_bits if n - heavy > 1 else 0
    kl_bits = 0 if index_code == "fixed" else MEAN_KL_BITS
    expected_bits = (_gamma_bits(growth + 1) + _gamma_bits(heavy + 1) + heavy * (dim - 1).bit_length()
                     + _gamma_bits(n.bit_length()) + n.bit_length() - 1 + trial_bits + kl_bits)
    assert side == SideInfo(st.chunk_budget_bits, side.heavy, n, side.trial, side.kl_quanta,
                            expected_bits) == SideInfo(st.chunk_budget_bits, side.heavy, n, side.trial,
                                                       side.kl_quanta, st.side_bits)
    if index_code != "fixed":
        mean = st.chunk_kl_bits.sum() / n
        assert abs(side.mean_kl_bits - mean) <= st.chunk_budget_bits / 2 ** (MEAN_KL_BITS + 1) or (
            side.kl_quanta == 0 and mean < side.mean_kl_bits)
    assert n - heavy > 1 or side.trial == 0
    if index_code == "fixed":
        width = st.chunk_budget_bits + ch.spec.headroom_bits
        assert 8 * len(message.data) - 8 < st.side_bits + n * width <= st.bits
    z = ch.decode(message, mu_p, s_p, seed=4)
    assert _realized_bits(z, mu_q, s_p, mu_p) == pytest.approx(st.log_ratio_bits, abs=1e-8)


def test_range_coded_messages_lose_their_slack() -> None:
    """The range coder's last word is trimmed: one byte fewer no longer decodes to the same sample."""
    mu_q, s_q, mu_p, s_p = _equal_variance_problem(np.random.default_rng(7), 200, 30.0)
    ch = GaussianChannel()
    message, st = ch.encode(mu_q, s_q, mu_p, s_p, seed=5)
    z = ch.decode(message, mu_p, s_p, seed=5)
    try:
        shorter = ch.decode(message.data[:-1], mu_p, s_p, seed=5)
    except ValueError:
        return
    assert not np.array_equal(shorter, z)


def test_one_chunk_costs_three_side_bits_and_the_mean_kl() -> None:
    mu_q, s_q, mu_p, s_p = _equal_variance_problem(np.random.default_rng(8), 64, 2.5)
    message, st = GaussianChannel().encode(mu_q, s_q, mu_p, s_p, seed=6)
    assert st.n_chunks == 1 and st.side_bits == 3 + MEAN_KL_BITS
    assert GaussianChannel().side_info(message, 64).trial == 0


def test_uneven_kl_is_split_until_the_search_work_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mean of a bit per coordinate (chi-square spread): filled 8-bit chunks of 8 dimensions
    would reach 20 bits; the chunk count grows until the work is within WORK_FACTOR of the ideal."""
    import rcc.gaussian.partition as gc

    mu_q, s_q, mu_p, s_p = _equal_variance_problem(np.random.default_rng(9), 512, 500.0)
    ch = GaussianChannel(ChannelSpec(chunk_bits=8, headroom_bits=0))
    message, st = ch.encode(mu_q, s_q, mu_p, s_p, seed=8)
    shuffled = st.n_chunks - st.n_heavy
    rest = 512 - st.n_heavy
    work = sum((int(d) + gc.CANDIDATE_DIMS) << int(b) for d, b in zip(
        [c.size for c in ch.chunk_coordinates(message, 512, seed=8)][st.n_heavy:],
        st.chunk_budgets[st.n_heavy:], strict=True))
    assert work <= (rest + shuffled * gc.CANDIDATE_DIMS) * gc.WORK_FACTOR << 8
    monkeypatch.setattr(gc, "WORK_FACTOR", 2**40)  # no bound: fewer, fuller chunks, far more work
    _, unbounded = ch.encode(mu_q, s_q, mu_p, s_p, seed=8)
    assert unbounded.n_chunks < st.n_chunks and unbounded.candidate_dims > 4 * st.candidate_dims
    z = ch.decode(message, mu_p, s_p, seed=8)
    assert _realized_bits(z, mu_q, s_p, mu_p) == pytest.approx(st.log_ratio_bits, abs=1e-8)


def test_a_dimension_beyond_the_search_limit_with_headroom_gets_less_headroom() -> None:
    """17.5 bits with 8 bits of headroom would be 2^26 candidates: with max_search_bits = 20 the
    chunk searches 2^20 instead of failing; only a dimension beyond 20 bits on its own is refused."""
    mu_p, s = np.zeros(50), np.ones(50)
    mu_q = np.full(50, 0.05)
    mu_q[3] = math.sqrt(2 * 17.5 * math.log(2))
    ch = GaussianChannel(ChannelSpec(chunk_bits=4, headroom_bits=8), max_search_bits=20)
    message, st = ch.encode(mu_q, s, mu_p, s, seed=5)
    assert st.n_heavy == 1 and st.chunk_budgets[0] == 18 and st.indices[0] < 2**20
    # the heavy chunk's budget does not shrink the others: they are filled as usual
    assert st.n_chunks - 1 == math.ceil(st.chunk_kl_bits[1:].sum() / 4)
    assert st.candidate_dims == 2**20 + sum(int(d) << int(b + 8) for d, b in zip(
        [c.size for c in ch.chunk_coordinates(message, 50, seed=5)][1:], st.chunk_budgets[1:], strict=True))
    z = ch.decode(message, mu_p, s, seed=5)
    assert _realized_bits(z, mu_q, s, mu_p) == pytest.approx(st.log_ratio_bits, abs=1e-8)
    mu_q[3] = math.sqrt(2 * 20.5 * math.log(2))
    with pytest.raises(ValueError, match="max_search_bits"):
        ch.encode(mu_q, s, mu_p, s, seed=5)


@pytest.mark.parametrize("index_code", ["fixed", "zipf", "zipf_truncated", "pfr_lognormal"])
def test_a_byte_limit_gives_up_only_on_messages_that_would_not_fit(index_code: str) -> None:
    ch = GaussianChannel(ChannelSpec(chunk_bits=6, headroom_bits=2, index_code=index_code))
    problem = _equal_variance_problem(np.random.default_rng(5), 3000, 1500.0)
    plan = ch.plan(*problem, seed=5, stream=(2,))
    message, stats = ch.send(plan)
    assert message.data == ch.encode(*problem, seed=5, stream=(2,))[0].data
    n = len(message.data)
    assert 0 < plan.floor_bytes <= n
    for limit in sorted({-1, 0, plan.floor_bytes - 1, plan.floor_bytes, n // 2, 3 * n // 4, n - 1, n, n + 5}):
        sent = ch.send(plan, max_bytes=limit)
        assert n > limit if sent is None else (sent[0].data == message.data
                                               and np.array_equal(sent[1].indices, stats.indices))
    # The floor before any search, then the indices of the first rounds, prove these too long.
    assert ch.send(plan, max_bytes=plan.floor_bytes - 1) is None
    assert ch.send(plan, max_bytes=n // 2) is None
    with pytest.raises(ValueError, match="other settings"):
        GaussianChannel(PRESETS["fast"]).send(plan)
