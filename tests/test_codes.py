"""Index codes: round trips, lengths, real bits against ideal bits, errors on bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rcc.bounds import LOG2E_OVER_E
from rcc.codes import (
    BitReader,
    BitWriter,
    EliasDeltaCode,
    EliasGammaCode,
    FixedLengthCode,
    PFRIndexCode,
    ZipfCode,
    elias_gamma_read,
    elias_gamma_write,
    trim,
    zipf_alpha,
)

CODES = [FixedLengthCode(1), FixedLengthCode(1000), FixedLengthCode(2**40), EliasGammaCode(),
         EliasDeltaCode(), ZipfCode.for_kl(0.0), ZipfCode.for_kl(6.0), ZipfCode.for_kl(3.0, n=1),
         ZipfCode.for_kl(3.0, n=2), ZipfCode.for_kl(3.0, n=1000), PFRIndexCode.for_kl(0.0, n=1),
         PFRIndexCode.for_kl(8.0, n=2**11), PFRIndexCode.for_kl(25.0, n=2**30), PFRIndexCode.for_kl(3.0)]


def _limit(code) -> int:
    return getattr(code, "n", None) or 2**62


@pytest.mark.parametrize("code", CODES, ids=repr)
@settings(max_examples=20)
@given(data=st.data())
def test_round_trip(code, data) -> None:
    limit = _limit(code)
    indices = data.draw(st.lists(st.one_of(st.integers(0, min(limit - 1, 50)),
                                           st.integers(0, limit - 1)), max_size=30))
    encoded = code.encode(indices)
    assert code.decode(encoded, len(indices)) == indices


def test_elias_lengths_are_the_textbook_ones() -> None:
    for k in [0, 1, 2, 6, 7, 100, 2**20, 2**40 + 3]:
        n = k + 1
        assert EliasGammaCode().ideal_bits(k) == 2 * math.floor(math.log2(n)) + 1
        length = n.bit_length()
        assert EliasDeltaCode().ideal_bits(k) == length - 1 + 2 * (length.bit_length() - 1) + 1
    # Known codewords: gamma(5) = 00101, delta(5) = 01101.
    assert EliasGammaCode().encode([4]) == bytes([0b00101000])
    assert EliasDeltaCode().encode([4]) == bytes([0b01101000])


def test_bit_writer_and_reader_interleave_fields() -> None:
    writer = BitWriter()
    writer.write(5, 3)
    elias_gamma_write(writer, 77)
    writer.write(0, 0)
    writer.write(2**40 - 1, 40)
    assert writer.bits_written == 3 + 13 + 40
    reader = BitReader(writer.to_bytes())
    assert reader.read(3) == 5 and elias_gamma_read(reader) == 77 and reader.read(40) == 2**40 - 1
    assert reader.bits_left < 8


def test_zipf_alpha_is_li_and_el_gamals() -> None:
    assert zipf_alpha(3.0) == pytest.approx(3.0 + math.log2(math.e) / math.e + 1)
    assert ZipfCode.for_kl(3.0).lam == pytest.approx(1 + 1 / (4 + LOG2E_OVER_E))


@pytest.mark.parametrize("n", [1, 2, 7, 1000])
def test_truncated_zipf_ideal_lengths_form_a_distribution(n: int) -> None:
    code = ZipfCode.for_kl(2.0, n=n)
    assert sum(2.0 ** -code.ideal_bits(k) for k in range(n)) == pytest.approx(1.0, rel=1e-9)


@pytest.mark.parametrize(("kl", "n"), [(0.0, 2), (2.0, 1000), (8.0, 2**11)])
def test_pfr_index_law_ideal_lengths_form_a_distribution(kl: float, n: int) -> None:
    code = PFRIndexCode.for_kl(kl, n=n)
    assert sum(2.0 ** -code.ideal_bits(k) for k in range(n)) == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("kl", [4.0, 8.0])
def test_pfr_index_law_beats_zipf_on_pfr_indices_of_a_gaussian_chunk(kl: float) -> None:
    """Where the law is right (indices of exact PFR on a Gaussian chunk of that KL: log2 K =
    log2 w(Z) + log2 E), it spends fewer real bits than Li & El Gamal's Zipf law, and what the
    range coder spends is its ideal length."""
    rng = np.random.default_rng(5)
    delta = math.sqrt(2 * kl * math.log(2))  # one coordinate, equal variances: KL = delta^2 / 2 nats
    log_w = delta * rng.standard_normal(4000) + 0.5 * delta**2  # log w(Z) at Z ~ Q
    arrival = np.exp(log_w) * rng.exponential(size=4000)  # T_K = w(Z) E
    indices = [int(k) for k in np.minimum(np.floor(arrival), 2**20 - 1)]  # K - 1 ~ T_K
    lognormal, zipf = PFRIndexCode.for_kl(kl, n=2**20), ZipfCode.for_kl(kl, n=2**20)
    real, zipf_real = 8 * len(lognormal.encode(indices)), 8 * len(zipf.encode(indices))
    assert sum(lognormal.ideal_bits(i) for i in indices) <= real <= 0.99 * zipf_real


def test_untruncated_zipf_normaliser_is_the_zeta_function() -> None:
    from scipy import special

    code = ZipfCode.for_kl(4.0)
    # Truncation at 2**62 drops a tail of mass ~ 2**(-62/alpha) / (lambda - 1), visible but small.
    full = math.log2(special.zeta(code.lam))
    assert code.log_normaliser() == pytest.approx(full, abs=0.05)
    assert code.log_normaliser() < full


@pytest.mark.parametrize("kl", [1.0, 8.0])
def test_zipf_real_bits_match_ideal_bits_on_zipf_indices(kl: float) -> None:
    """The range coder spends what the model says, plus a termination cost per stream."""
    code = ZipfCode.for_kl(kl, n=2**20)
    rng = np.random.default_rng(3)
    k = np.arange(2**20)
    p = (k + 1.0) ** -code.lam
    indices = [int(i) for i in rng.choice(k, size=3000, p=p / p.sum())]
    real = 8 * len(code.encode(indices))
    ideal = sum(code.ideal_bits(i) for i in indices)
    assert ideal <= real <= ideal * 1.001 + 64


def test_bad_input_gets_a_clear_error() -> None:
    with pytest.raises(ValueError, match="outside the code's range"):
        ZipfCode.for_kl(3.0, n=100).encode([100])  # an index beyond a truncated code
    with pytest.raises(ValueError, match="outside"):
        FixedLengthCode(8).encode([8])
    with pytest.raises(ValueError):
        EliasGammaCode().encode([-1])
    with pytest.raises(TypeError):
        EliasDeltaCode().encode([1.5])
    with pytest.raises(ValueError, match="truncated"):
        EliasGammaCode().decode(b"\x00", 1)  # runs out of bits
    with pytest.raises(ValueError, match="truncated"):
        FixedLengthCode(2**20).decode(b"\x01", 1)
    with pytest.raises(ValueError, match="corrupt"):
        FixedLengthCode(5).decode(bytes([0b11100000]), 1)  # 7 >= 5
    with pytest.raises(ValueError, match="corrupt"):
        ZipfCode.for_kl(0.0, n=2).decode(b"\xff" * 14, 20)  # constriction's AssertionError, wrapped
    with pytest.raises(TypeError):
        ZipfCode.for_kl(1.0).decode("abc", 1)
    for bad in (float("nan"), -1.0, math.inf):
        with pytest.raises(ValueError):
            zipf_alpha(bad)
    with pytest.raises(ValueError):
        ZipfCode(alpha=0.0)
    with pytest.raises(ValueError):
        ZipfCode(alpha=2.0, n=0)
    with pytest.raises(ValueError):
        FixedLengthCode(0)
    writer = BitWriter()
    with pytest.raises(ValueError, match="does not fit"):
        writer.write(8, 3)


def test_trimmed_zipf_streams_decode_as_zero_padded() -> None:
    code = ZipfCode.for_kl(3.0, n=4096)
    indices = [0, 5, 17, 2, 900, 1]
    data = code.encode(indices)
    trimmed = trim(data, lambda d: code.decode(d, len(indices)) == indices, max_cut=3)
    assert len(trimmed) < len(data) and code.decode(trimmed, len(indices)) == indices


@pytest.mark.parametrize("alpha", [2.0**40 * 1.5, 1e300, 2.0**53])
def test_a_zipf_code_too_flat_to_build_is_a_value_error(alpha: float) -> None:
    """lambda = 1 + 1/alpha rounds to 1 for alpha >= 2^53 (a ZeroDivisionError, once)."""
    with pytest.raises(ValueError, match="alpha"):
        ZipfCode(alpha)
    with pytest.raises(ValueError, match="alpha"):
        ZipfCode.for_kl(alpha)
    assert ZipfCode(2.0**40).encode([3]) != b""


def test_a_bernoulli_model_with_its_probability_built_in_codes_the_parameterized_models_bits() -> None:
    """The octave decoder decodes each halving with a concrete ``Bernoulli(p)`` while the encoder
    codes it with the parameterized family at ``p``: the two must quantize ``p`` alike, to the same
    words, for every probability, the extremes included."""
    import constriction

    rng = np.random.default_rng(0)
    probs = np.concatenate([rng.random(2000), rng.random(500) ** 20, 1 - rng.random(500) ** 20,
                            [0.0, 1.0, 1e-300, 0.5, 2.0**-24, 1 - 2.0**-24, 2.0**-25, 1 - 2.0**-53]])
    family = constriction.stream.model.Bernoulli(perfect=False)
    for p in probs:
        bits = rng.integers(0, 2, size=4).astype(np.int32)
        encoders = constriction.stream.queue.RangeEncoder(), constriction.stream.queue.RangeEncoder()
        encoders[0].encode(bits, family, np.full(bits.size, p))
        encoders[1].encode(bits, constriction.stream.model.Bernoulli(p, perfect=False))
        np.testing.assert_array_equal(encoders[0].get_compressed(), encoders[1].get_compressed(),
                                      err_msg=f"p = {p!r}")


def _cheapest_sequences(code, count: int) -> list[list[int]]:
    """Sequences a floor must stay below: the lowest index of every octave (the least probable
    halvings' opposite: every halving takes the likelier, lower half) and the largest index."""
    limit = _limit(code)
    lows = [(1 << e) - 1 for e in range(min(limit.bit_length(), 63)) if (1 << e) - 1 < limit]
    return [[k] * count for k in lows] + [[limit - 1] * count]


@pytest.mark.parametrize("code", CODES, ids=repr)
@settings(max_examples=15)
@given(data=st.data())
def test_floor_bits_is_below_every_encoding_whatever_is_known(code, data) -> None:
    limit = _limit(code)
    count = data.draw(st.integers(0, 200))
    drawn = data.draw(st.lists(st.one_of(st.integers(0, min(limit - 1, 50)), st.integers(0, limit - 1)),
                               min_size=count, max_size=count))
    _assert_floors(code, drawn)


# lambda = 1 + 1/alpha: 16, the largest at which the floor counts halvings, and 21, beyond it
STEEP_CODES = [ZipfCode(1 / 15, n=2**10), ZipfCode(1 / 15), ZipfCode(0.05, n=2**10)]


@pytest.mark.parametrize("code", CODES + STEEP_CODES, ids=repr)
def test_floor_bits_is_below_the_cheapest_encodings(code) -> None:
    for indices in _cheapest_sequences(code, 40):
        _assert_floors(code, indices)


def _assert_floors(code, indices: list[int]) -> None:  # noqa: ANN001
    count = len(indices)
    real = 8 * len(code.encode(indices))
    if isinstance(code, FixedLengthCode):  # exact: the bits before the byte padding
        real = count * code.width
    for known in (0, count // 2, count):
        assert code.floor_bits(count, indices[:known]) <= real
        assert code.floor_bits(count, np.array(indices[:known], dtype=np.int64)) <= real


@pytest.mark.parametrize("kl", [4.0, 8.0])
def test_floor_bits_of_a_range_code_is_close_once_the_indices_are_known(kl: float) -> None:
    """On the indices PFR selects the floor with every index known is most of the real length (the
    octaves' costs are exact, only the halvings are bounded), and with none known a fixed share."""
    code = PFRIndexCode.for_kl(kl, n=2**12)
    rng = np.random.default_rng(3)
    # log2 K of PFR on a Gaussian chunk is about normal (the code's own model), truncated at n
    log2_k = rng.normal(kl - 0.83, math.sqrt(2.885 * kl + 3.4), 2000)
    indices = (np.clip(np.exp2(log2_k), 1, 2**12).astype(int) - 1).tolist()
    real = 8 * len(code.encode(indices))
    assert 0.8 * real <= code.floor_bits(len(indices), indices) <= real
    assert 0.15 * real <= code.floor_bits(len(indices)) <= 0.5 * real


def test_floor_bits_refuses_known_indices_it_cannot_hold() -> None:
    for code in (FixedLengthCode(8), EliasGammaCode(), ZipfCode.for_kl(3.0, n=16)):
        with pytest.raises(ValueError, match="known indices"):
            code.floor_bits(1, [0, 1])
    for code in (FixedLengthCode(8), ZipfCode.for_kl(3.0, n=16), PFRIndexCode.for_kl(3.0, n=16)):
        with pytest.raises(ValueError, match="outside the code's range"):
            code.floor_bits(2, [16])
    with pytest.raises(ValueError, match="count"):
        ZipfCode.for_kl(3.0).floor_bits(-1)
