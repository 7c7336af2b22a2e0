"""Chunked high-dimensional Gaussian channel simulation (rcc.gaussian_channel)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from rcc import testing
from rcc.bounds import gaussian_kl_bits
from rcc.codes import BitWriter, elias_delta_write, elias_gamma_write
from rcc.gaussian_channel import MEAN_KL_BITS, GaussianChannel, SideInfo


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
    ch = GaussianChannel(chunk_bits=6, headroom_bits=2)
    message, st = ch.encode(mu_q, s_q, mu_p, s_p, seed=3, stream=(1, 2))
    z = ch.decode(message, mu_p, s_p, seed=3, stream=(1, 2))
    assert st.bits == message.bits == 8 * len(message.data)
    assert st.n_chunks >= math.ceil(40 / 6) and np.all(st.chunk_kl_bits <= 6 + 1e-9)
    assert st.chunk_kl_bits.sum() == pytest.approx(st.kl_bits)
    # The decoder's sample realizes exactly the log-ratio the encoder reported.
    assert _realized_bits(z, mu_q, s_p, mu_p) == pytest.approx(st.log_ratio_bits, abs=1e-8)
    # Another seed or stream decodes to something else.
    assert not np.allclose(ch.decode(message, mu_p, s_p, seed=4, stream=(1, 2)), z)


@pytest.mark.parametrize("index_code", ["fixed", "zipf", "zipf_truncated"])
@pytest.mark.parametrize("rule", ["pfr", "orc", "mrc"])
def test_every_rule_and_code_round_trips(rule: str, index_code: str) -> None:
    mu_q, s_q, mu_p, s_p = _equal_variance_problem(np.random.default_rng(1), 50, 20.0)
    ch = GaussianChannel(chunk_bits=5, headroom_bits=3, rule=rule, index_code=index_code)
    message, st = ch.encode(mu_q, s_q, mu_p, s_p, seed=9)
    z = ch.decode(message, mu_p, s_p, seed=9)
    assert _realized_bits(z, mu_q, s_p, mu_p) == pytest.approx(st.log_ratio_bits, abs=1e-8)
    if index_code != "fixed":
        assert st.side_bits > 0


def test_message_encoded_on_one_backend_decodes_on_any() -> None:
    mu_q, s_q, mu_p, s_p = _equal_variance_problem(np.random.default_rng(2), 12, 6.0)
    messages = {b: GaussianChannel(chunk_bits=3, headroom_bits=1, backend=b)
                .encode(mu_q, s_q, mu_p, s_p, seed=5)[0].data for b in ("numpy", "cpu", "gpu")}
    assert messages["numpy"] == messages["cpu"] == messages["gpu"]
    decoded = [GaussianChannel(chunk_bits=3, headroom_bits=1, backend=b)
               .decode(messages["cpu"], mu_p, s_p, seed=5) for b in ("numpy", "cpu", "gpu")]
    np.testing.assert_array_equal(decoded[0], decoded[1])
    np.testing.assert_array_equal(decoded[1], decoded[2])


def _projections(channel: GaussianChannel, trials: int, dim: int, kl_bits: float,
                 unequal: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardised errors of decoded samples along the mean difference and a random direction,
    and the input (the target mean's offset from the prior), over independent trials."""
    rng = np.random.default_rng(11)
    along, across, inputs = [], [], []
    for t in range(trials):
        mu_q, s_q, mu_p, s_p = _equal_variance_problem(rng, dim, kl_bits)
        if unequal:
            s_q = s_q * rng.uniform(0.6, 0.95, size=dim)
        message, _ = channel.encode(mu_q, s_q, mu_p, s_p, seed=t, stream=(7,))
        e = (channel.decode(message, mu_p, s_p, seed=t, stream=(7,)) - mu_q) / s_q  # ~ N(0, I)
        unit = (mu_q - mu_p) / np.linalg.norm(mu_q - mu_p)
        direction = rng.normal(size=dim)
        along.append(e @ unit)
        across.append(e @ direction / np.linalg.norm(direction))
        inputs.append(unit @ mu_p)
    return np.array(along), np.array(across), np.array(inputs)


@pytest.mark.statistical
@pytest.mark.parametrize("unequal", [False, True], ids=["equal-variance", "narrower-target"])
def test_generous_headroom_gives_samples_of_the_target(unequal: bool) -> None:
    channel = GaussianChannel(chunk_bits=3, headroom_bits=10)
    along, across, inputs = _projections(channel, 600, 6, 3.0, unequal)
    testing.assert_ks(along, stats.norm(), what="projection on the mean difference")
    testing.assert_ks(across, stats.norm(), what="random projection")
    testing.assert_independent(inputs, along, bins=4, what="error vs input")


@pytest.mark.statistical
def test_no_headroom_bias_is_detected() -> None:
    """The same test has power: without headroom, truncation pulls samples toward the prior."""
    channel = GaussianChannel(chunk_bits=6, headroom_bits=0)
    along, _, _ = _projections(channel, 600, 6, 6.0, False)
    result = testing.ks(along, stats.norm())
    assert result.pvalue < testing.ALPHA and np.mean(along) < -0.3


def test_zero_kl_sends_the_first_arrival() -> None:
    mu = np.linspace(-1, 1, 10)
    for code, max_bytes in (("fixed", 3), ("zipf_truncated", 5)):  # range coders emit 32-bit words
        ch = GaussianChannel(index_code=code)
        message, st = ch.encode(mu, 1.0, mu, 1.0, seed=1)
        assert st.kl_bits == 0 and st.n_chunks == 1 and st.indices.tolist() == [0]
        assert len(message.data) <= max_bytes
        assert ch.decode(message, mu, 1.0, seed=1).shape == (10,)


def test_single_dimension() -> None:
    ch = GaussianChannel(chunk_bits=4, headroom_bits=4)
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
        GaussianChannel(chunk_bits=4).encode(*args, seed=0)


@pytest.mark.parametrize("kwargs", [
    {"chunk_bits": 0}, {"headroom_bits": -1}, {"rule": "grs"}, {"index_code": "huffman"},
    {"chunk_bits": 30, "headroom_bits": 16}, {"partition_trial_bits": 9},
])
def test_bad_configuration(kwargs) -> None:
    with pytest.raises(ValueError):
        GaussianChannel(**kwargs)


def test_corrupt_messages_are_clear_errors() -> None:
    mu_q, s_q, mu_p, s_p = _equal_variance_problem(np.random.default_rng(3), 40, 30.0)
    ch = GaussianChannel(chunk_bits=6, headroom_bits=2, index_code="fixed")
    message, _ = ch.encode(mu_q, s_q, mu_p, s_p, seed=1)
    with pytest.raises(ValueError, match="length"):
        ch.decode(message.data[:-1], mu_p, s_p, seed=1)
    with pytest.raises(ValueError, match="truncated"):
        ch.decode(message.data[:1], mu_p, s_p, seed=1)
    with pytest.raises(ValueError, match="corrupt"):
        ch.decode(b"\x00\x00\x00\x01" + message.data, mu_p, s_p, seed=1)  # budget grown by 2^31
    writer = BitWriter()
    elias_gamma_write(writer, 1)
    elias_delta_write(writer, 2**32)
    with pytest.raises(ValueError, match="chunks"):
        ch.decode(writer.to_bytes() + message.data, mu_p, s_p, seed=1)  # 2^32 chunks
    with pytest.raises(ValueError, match="length"):
        ch.decode(message.data + b"\x00", mu_p, s_p, seed=1)


@pytest.mark.parametrize("index_code", ["zipf", "zipf_truncated"])
def test_only_the_canonical_range_coded_message_decodes(index_code: str) -> None:
    mu_q, s_q, mu_p, s_p = _equal_variance_problem(np.random.default_rng(5), 200, 60.0)
    ch = GaussianChannel(chunk_bits=6, headroom_bits=2, index_code=index_code)
    message, _ = ch.encode(mu_q, s_q, mu_p, s_p, seed=2)
    ch.decode(message, mu_p, s_p, seed=2)
    for tail in (b"\xff", b"\x00", b"\xff\xff"):  # range decoders read past these without noticing
        with pytest.raises(ValueError, match="canonical|corrupt"):
            ch.decode(message.data + tail, mu_p, s_p, seed=2)


def test_heavy_dimension_grows_the_chunk_budget() -> None:
    """A dimension with more KL than chunk_bits cannot be split: the call's budget grows to fit."""
    mu_p, s = np.zeros(20), np.ones(20)
    mu_q = np.full(20, 0.3)
    mu_q[7] = 3.0  # 6.5 bits in one dimension
    ch = GaussianChannel(chunk_bits=4, headroom_bits=4)
    message, st = ch.encode(mu_q, s, mu_p, s, seed=3)
    assert st.chunk_budget_bits == 7 and st.candidates == 2 ** 11
    assert st.chunk_kl_bits.max() <= 7
    z = ch.decode(message, mu_p, s, seed=3)
    assert _realized_bits(z, mu_q, s, mu_p) == pytest.approx(st.log_ratio_bits, abs=1e-8)


def test_partition_balances_chunk_kl() -> None:
    """KL concentrated in a few dimensions still ends up spread over chunks within budget."""
    rng = np.random.default_rng(4)
    dim = 400
    mu_p, s = np.zeros(dim), np.ones(dim)
    mu_q = np.where(np.arange(dim) < 40, rng.normal(size=dim), 0.01)
    _, st = GaussianChannel(chunk_bits=8, headroom_bits=0).encode(mu_q, s, mu_p, s, seed=0)
    kl = gaussian_kl_bits(mu_q, s, mu_p, s)
    assert st.chunk_kl_bits.max() <= 8 and st.n_chunks >= math.ceil(kl / 8)
    assert st.chunk_kl_bits.sum() == pytest.approx(kl)


@pytest.mark.slow
def test_100k_dimensions_2000_bits_round_trip() -> None:
    """The issue's target: a 100,000-dimension, 2,000-bit message round-trips on the CPU
    (with the default, unbiased configuration: 4-bit chunks, 8 bits of headroom)."""
    mu_q, s_q, mu_p, s_p = _equal_variance_problem(np.random.default_rng(5), 100_000, 2000.0)
    ch = GaussianChannel()
    message, st = ch.encode(mu_q, s_q, mu_p, s_p, seed=2026, stream=(0,))
    z = ch.decode(message, mu_p, s_p, seed=2026, stream=(0,))
    assert st.kl_bits == pytest.approx(2000.0) and st.n_chunks >= 500
    assert st.bits == 8 * len(message.data) and 2000 < st.bits < 2 * 2000
    assert abs(st.shortfall_bits) < 5 * math.sqrt(2 * 2000 / math.log(2))  # 5 sd of a sum of chunks
    assert _realized_bits(z, mu_q, s_p, mu_p) == pytest.approx(st.log_ratio_bits, abs=1e-6)


def _gamma_bits(n: int) -> int:
    return 2 * n.bit_length() - 1


@pytest.mark.parametrize("index_code", ["fixed", "zipf", "zipf_truncated"])
@pytest.mark.parametrize(("dim", "kl"), [(64, 2.0), (300, 40.0), (20, 0.0)])
def test_side_info_is_what_the_decoder_reads(index_code: str, dim: int, kl: float) -> None:
    """The side information: budget growth (gamma), chunk count (delta), the trial only for more
    than one chunk; the index code's bits follow without padding."""
    mu_q, s_q, mu_p, s_p = _equal_variance_problem(np.random.default_rng(6), dim, kl)
    ch = GaussianChannel(index_code=index_code)
    message, st = ch.encode(mu_q, s_q, mu_p, s_p, seed=4)
    side = ch.side_info(message)
    assert side == ch.side_info(message.data)
    growth = st.chunk_budget_bits - ch.chunk_bits
    n = st.n_chunks
    trial_bits = ch.partition_trial_bits if n > 1 else 0
    kl_bits = 0 if index_code == "fixed" else MEAN_KL_BITS
    expected_bits = (_gamma_bits(growth + 1) + _gamma_bits(n.bit_length()) + n.bit_length() - 1 + trial_bits
                     + kl_bits)
    assert side == SideInfo(st.chunk_budget_bits, n, side.trial, side.kl_quanta, expected_bits) == SideInfo(
        st.chunk_budget_bits, n, side.trial, side.kl_quanta, st.side_bits)
    if index_code != "fixed":
        assert abs(side.mean_kl_bits - st.kl_bits / n) <= st.chunk_budget_bits / 2**MEAN_KL_BITS
    assert n > 1 or side.trial == 0
    if index_code == "fixed":
        assert 8 * len(message.data) - 8 < st.side_bits + n * (st.candidates - 1).bit_length() <= st.bits
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


def test_one_chunk_costs_two_side_bits_and_the_mean_kl() -> None:
    mu_q, s_q, mu_p, s_p = _equal_variance_problem(np.random.default_rng(8), 64, 2.5)
    message, st = GaussianChannel().encode(mu_q, s_q, mu_p, s_p, seed=6)
    assert st.n_chunks == 1 and st.side_bits == 2 + MEAN_KL_BITS
    assert GaussianChannel().side_info(message).trial == 0
