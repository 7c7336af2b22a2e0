"""Fuzzing rcc and kernels (issue 12): decoders fed truncated, bit-flipped, overwritten and grown
messages, and public functions fed wrong types, NaN/inf, huge counts and empty arrays, raise
``ValueError`` (``InvalidTypeError`` for wrong types is a subclass) and nothing else; they never hang,
never allocate from a count they have not checked, and what they return is finite and well shaped.

The mutation corpus is seeded, so every failure reproduces: the ordinary tier runs a sample of it,
the ``slow`` tier all of it (at least 10,000 inputs).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import rcc_kernels
from rcc.bounds import fixed_n_tv_bound, gaussian_kl_bits, grs_expected_proposals, pfr_entropy_bound
from rcc.coders import (
    AStarCoding,
    BranchAndBoundAStarCoding,
    BranchAndBoundGPRS,
    GreedyPoissonRejectionSampling,
    GreedyRejectionSampling,
    MinimalRandomCoding,
    OrderedRandomCoding,
    PoissonFunctionalRepresentation,
)
from rcc.codes import EliasDeltaCode, EliasGammaCode, FixedLengthCode, ZipfCode
from rcc.core import InvalidTypeError, Message
from rcc.distributions import Categorical, Custom, Normal, Uniform
from rcc.gaussian import ChannelSpec, GaussianChannel
from rcc.quantization import HybridCoding, LayeredQuantizer, Prior, UniversalQuantizer

SLOW_CORPUS_MIN = 10_000


def mutations(data: bytes, rng: np.random.Generator, n_random: int) -> Iterator[bytes]:
    """Truncation at every length, then ``n_random`` each of single bit flips, byte overwrites and
    insertions (one to eight random bytes), then random bytes of a similar length."""
    for cut in range(len(data)):
        yield data[:cut]
    for _ in range(n_random):
        if data:
            flipped = bytearray(data)
            bit = int(rng.integers(8 * len(data)))
            flipped[bit // 8] ^= 0x80 >> bit % 8
            yield bytes(flipped)
            written = bytearray(data)
            written[int(rng.integers(len(data)))] = int(rng.integers(256))
            yield bytes(written)
        at = int(rng.integers(len(data) + 1))
        yield data[:at] + rng.bytes(int(rng.integers(1, 9))) + data[at:]
        yield rng.bytes(int(rng.integers(0, 2 * len(data) + 2)))


@dataclass(frozen=True)
class Target:
    """A decoder and valid messages for it; ``check`` validates what it returns."""

    name: str
    messages: tuple[bytes, ...]
    decode: Callable[[bytes], object]
    check: Callable[[object], None]


def _finite(shape: tuple[int, ...]) -> Callable[[object], None]:
    def check(out: object) -> None:
        arr = np.asarray(out)
        assert arr.shape == shape and np.all(np.isfinite(arr))
    return check


def _indices(count: int, limit: int) -> Callable[[object], None]:
    def check(out: object) -> None:
        assert len(out) == count and all(isinstance(k, int) and 0 <= k < limit for k in out)
    return check


def _channel_targets() -> list[Target]:
    rng = np.random.default_rng(0)
    out = []
    for code, dim, kl in (("zipf_truncated", 48, 30.0), ("zipf", 16, 3.0), ("fixed", 24, 12.0),
                          ("pfr_lognormal", 40, 20.0)):
        ch = GaussianChannel(ChannelSpec(chunk_bits=3, headroom_bits=3, index_code=code))
        mu_p, s = rng.normal(size=dim), np.full(dim, 0.5)
        messages = []
        for seed in range(2):
            delta = rng.normal(size=dim)
            delta *= math.sqrt(2 * kl * math.log(2) / np.sum(delta**2))
            messages.append(ch.encode(mu_p + s * delta, s, mu_p, s, seed=seed)[0].data)
        out.append(Target(f"channel-{code}", tuple(messages),
                          lambda d, ch=ch, mu_p=mu_p, s=s: ch.decode(d, mu_p, s, seed=0), _finite((dim,))))
        out.append(Target(f"side-info-{code}", tuple(messages),
                          lambda d, ch=ch, dim=dim: ch.side_info(d, dim), lambda side: None))
    return out


def _code_targets() -> list[Target]:
    rng = np.random.default_rng(1)
    out = []
    for code in (FixedLengthCode(1000), FixedLengthCode(1), EliasGammaCode(), EliasDeltaCode(),
                 ZipfCode.for_kl(2.0), ZipfCode.for_kl(5.0, n=4096), ZipfCode.for_kl(0.0, n=2)):
        limit = getattr(code, "n", None) or 2**62
        count = 12
        messages = tuple(code.encode([int(k) for k in np.minimum(rng.zipf(1.4, count) - 1, limit - 1)])
                         for _ in range(2))
        out.append(Target(repr(code), messages, lambda d, code=code, count=count: code.decode(d, count),
                          _indices(count, limit)))
    return out


def _stream_targets() -> list[Target]:
    x = np.random.default_rng(2).normal(size=10) * 3.0
    out = []
    for quantizer in (UniversalQuantizer(0.5), LayeredQuantizer(0.4)):
        for prior in (Prior.gaussian(0.0, 3.0), Prior.logistic(0.5, 2.0)):
            messages = (quantizer.compress(x, prior, seed=1)[0], quantizer.compress(x + 40, prior, seed=1)[0])
            out.append(Target(f"{type(quantizer).__name__}-{prior.family.name}", messages,
                              lambda d, q=quantizer, p=prior: q.decompress(d, p, x.shape, seed=1),
                              _finite(x.shape)))
    hybrid = HybridCoding(step=1.0)
    targets = [Custom(lambda z: np.zeros(np.shape(z)), dinf_bits=0.0, interval=(c - 0.5, c + 0.5))
               for c in (0.2, -1.3, 2.0)]
    streams = [(i,) for i in range(len(targets))]
    data = hybrid.encode_many(targets, Normal(0.0, 1.0), seed=3, streams=streams)[0]
    out.append(Target("hybrid", (data,),
                      lambda d: hybrid.decode_many(d, Normal(0.0, 1.0), seed=3, streams=streams),
                      _finite((len(targets),))))
    return out


TARGETS = _channel_targets() + _code_targets() + _stream_targets()


def corpus(target: Target, n_random: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [m for message in target.messages for m in mutations(message, rng, n_random)]


def _run(target: Target, inputs: list[bytes]) -> None:
    for data in inputs:
        try:
            out = target.decode(data)
        except ValueError:
            continue
        except Exception as err:  # noqa: BLE001 -- the point of the test
            raise AssertionError(f"{target.name}: {type(err).__name__} on {data.hex()}: {err}") from err
        target.check(out)


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_mutated_messages_raise_only_value_errors(target: Target) -> None:
    _run(target, corpus(target, n_random=8, seed=0))


@pytest.mark.slow
def test_the_seeded_mutation_corpus() -> None:
    """The full corpus: every target, every truncation, and 120 random mutations of each kind per
    message."""
    inputs = {t.name: corpus(t, n_random=120, seed=1) for t in TARGETS}
    assert sum(len(v) for v in inputs.values()) >= SLOW_CORPUS_MIN
    for target in TARGETS:
        _run(target, inputs[target.name])


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_valid_messages_still_decode(target: Target) -> None:
    for message in target.messages:
        target.check(target.decode(message))


def test_messages_of_the_wrong_type_are_refused_before_allocating() -> None:
    ch = GaussianChannel()
    for bad in (2**40, 5, "abc", None, [1, 2], 3.5, memoryview(b"ab")):
        with pytest.raises(InvalidTypeError):
            ch.decode(bad, np.zeros(4), np.ones(4), seed=0)
        with pytest.raises(InvalidTypeError):
            ZipfCode.for_kl(1.0).decode(bad, 1)
        with pytest.raises(InvalidTypeError):
            FixedLengthCode(8).decode(bad, 1)
    assert isinstance(InvalidTypeError("x"), TypeError)


# -- public functions: wrong types, NaN/inf, huge counts, empty arrays ----------------------------

# Integers are small, or beyond every size limit: a valid request of a billion values would only
# test the machine's memory.
JUNK = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True, allow_infinity=True),
                 st.integers(-(2**70), 300), st.integers(2**31, 2**70),
                 st.sampled_from([2**64, 2**64 - 1, 2**40, -1, 0]),
                 st.complex_numbers(), st.text(max_size=3), st.binary(max_size=3),
                 st.lists(st.integers(-3, 3), max_size=3))


def _only_value_errors(call: Callable[[], object]) -> object:
    try:
        return call()
    except ValueError:
        return None


@settings(max_examples=200)
@given(start=JUNK, stop=JUNK, dim=JUNK, coord=JUNK, kind=st.sampled_from(["uniform", "normal", "bits"]))
def test_kernel_generators_take_only_checked_arguments(start, stop, dim, coord, kind) -> None:
    key = rcc_kernels.stream_key(1)
    if kind == "bits":
        out = _only_value_errors(lambda: rcc_kernels.bits(key, start, stop, dim, block_start=coord))
    else:
        out = _only_value_errors(lambda: rcc_kernels.generate(kind, key, start, stop, dim, coord_start=coord))
    if out is not None:
        assert out.shape[:2] == (stop - start, dim)


@settings(max_examples=100)
@given(seed=JUNK, stream=st.lists(JUNK, max_size=2))
def test_stream_keys_take_only_checked_arguments(seed, stream) -> None:
    _only_value_errors(lambda: rcc_kernels.stream_key(seed, stream))


@settings(max_examples=150)
@given(field=st.sampled_from(["chunk_bits", "headroom_bits", "partition_trial_bits", "max_search_bits",
                              "rule", "index_code", "backend"]), value=JUNK)
def test_channel_configuration_takes_only_checked_values(field, value) -> None:
    spec = field in ChannelSpec.__dataclass_fields__
    channel = _only_value_errors(lambda: GaussianChannel(ChannelSpec(**{field: value})) if spec
                                 else GaussianChannel(**{field: value}))
    if channel is not None:
        assert isinstance(channel.spec.chunk_bits, int) and isinstance(channel.spec.headroom_bits, int)


PARAM = st.one_of(JUNK, st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=4),
                  st.just(np.array([])), st.just(np.array([1 + 2j, 0.5])), st.just(np.ones((2, 2))),
                  st.just(np.full(3, 1e300)), st.just(np.full(3, 1e-300)))


@settings(max_examples=150)
@given(mu_q=PARAM, s_q=PARAM, mu_p=PARAM, s_p=PARAM)
def test_channel_encode_and_decode_take_only_checked_parameters(mu_q, s_q, mu_p, s_p) -> None:
    ch = GaussianChannel(ChannelSpec(chunk_bits=2, headroom_bits=2))
    encoded = _only_value_errors(lambda: ch.encode(mu_q, s_q, mu_p, s_p, seed=1))
    z = _only_value_errors(lambda: ch.decode(b"\xc0", mu_p, s_p, seed=1))
    if z is not None:
        assert np.all(np.isfinite(z))
    if encoded is not None:
        assert isinstance(encoded[0], Message)


CODES = (FixedLengthCode(8), EliasGammaCode(), EliasDeltaCode(), ZipfCode(2.0, 100), ZipfCode(1.0))


@settings(max_examples=150)
@given(value=JUNK, code=st.sampled_from(CODES))
def test_index_codes_take_only_checked_arguments(value, code) -> None:
    for call in (lambda: FixedLengthCode(value), lambda: ZipfCode(value), lambda: ZipfCode(2.0, value),
                 lambda: ZipfCode.for_kl(value), lambda: code.encode(value), lambda: code.encode([value]),
                 lambda: code.decode(b"\x5a\x00", value), lambda: code.ideal_bits(value)):
        _only_value_errors(call)


@settings(max_examples=100)
@given(value=JUNK)
def test_quantizers_bounds_and_laws_take_only_checked_arguments(value) -> None:
    quantizer = UniversalQuantizer(0.5)
    prior = Prior.gaussian()
    for call in (lambda: UniversalQuantizer(value), lambda: LayeredQuantizer(value),
                 lambda: Prior.gaussian(value, 1.0), lambda: Prior.logistic(0.0, value),
                 lambda: quantizer.compress(value, prior, seed=1),
                 lambda: quantizer.compress([1.0], prior, seed=value),
                 lambda: quantizer.decompress(b"", prior, value, seed=1),
                 lambda: quantizer.decompress(value, prior, 2, seed=1),
                 lambda: quantizer.decode(value, seed=1), lambda: HybridCoding(value),
                 lambda: Normal(value, 1.0), lambda: Normal(0.0, value), lambda: Uniform(value, 1.0),
                 lambda: Categorical(value), lambda: gaussian_kl_bits(value, 1.0),
                 lambda: pfr_entropy_bound(value), lambda: fixed_n_tv_bound(1.0, value),
                 lambda: fixed_n_tv_bound(value, 4), lambda: grs_expected_proposals(value)):
        _only_value_errors(call)


def test_the_fuzz_findings_in_rcc_and_kernels_are_clear_errors() -> None:
    key = rcc_kernels.stream_key(1)
    with pytest.raises(ValueError, match="2\\*\\*64"):
        rcc_kernels.normal(key, 2**64, 2**64, 1)
    with pytest.raises(ValueError, match="limit"):
        rcc_kernels.normal(key, 0, 2**40, 1)  # 8 TiB, refused before allocating
    with pytest.raises(InvalidTypeError):
        rcc_kernels.normal(key, 0, 2.0, 1)
    with pytest.raises(ValueError, match="alpha"):
        ZipfCode(1e300)
    with pytest.raises(InvalidTypeError):
        GaussianChannel(ChannelSpec(chunk_bits=4.5))
    with pytest.raises(ValueError, match="finite"):
        GaussianChannel().decode(b"\xc0", np.zeros(3), np.full(3, np.inf), seed=0)
    nothing, _ = GaussianChannel().encode(np.zeros(16), 1.0, np.zeros(16), 1.0, seed=0)
    with pytest.raises(ValueError, match="overflows"):
        GaussianChannel().decode(nothing, np.full(16, 1.7e308), np.full(16, 1e308), seed=0)
    with pytest.raises(InvalidTypeError, match="complex"):
        GaussianChannel().encode(np.array([1 + 1j]), 1.0, 0.0, 1.0, seed=0)
    with pytest.raises(ValueError, match="count"):
        FixedLengthCode(1).decode(b"", 2**40)


# -- the public coders: junk seeds, streams, targets, proposals and messages ----------------------

CODERS = (PoissonFunctionalRepresentation(), PoissonFunctionalRepresentation(max_candidates=8),
          OrderedRandomCoding(8), MinimalRandomCoding(8), GreedyRejectionSampling(),
          GreedyPoissonRejectionSampling(), BranchAndBoundGPRS(), AStarCoding(),
          BranchAndBoundAStarCoding())
PAIR = (Normal(1.0, 0.5), Normal(0.0, 1.0))
STREAM = st.one_of(JUNK, st.lists(JUNK, max_size=2).map(tuple), st.just(np.zeros((2, 2))))


def _clear_error(call: Callable[[], object], names: tuple[str, ...]) -> None:
    """``call`` succeeds or raises a ValueError (InvalidTypeError included) whose one-line message
    names one of ``names``: never a raw internal TypeError."""
    try:
        call()
    except ValueError as err:
        text = str(err)
        assert "\n" not in text and any(n in text for n in names), f"{type(err).__name__}: {text}"
    except Exception as err:  # noqa: BLE001 -- the point of the test
        raise AssertionError(f"{type(err).__name__}: {err}") from err


@settings(max_examples=150)
@given(coder=st.sampled_from(CODERS), seed=st.one_of(JUNK, st.just(7)), stream=STREAM,
       junk=JUNK, which=st.sampled_from(["seed", "stream", "target", "proposal", "message"]))
# Found by a fuzzing campaign (issue 24): `stream=None` and `stream=5` raised "Value after * must
# be an iterable".
@example(coder=CODERS[0], seed=7, stream=None, junk=None, which="stream")
@example(coder=CODERS[4], seed=7, stream=5, junk=None, which="stream")
# Found by `make explore`: two seeds for an empty list of messages (the error names the seeds).
@example(coder=CODERS[4], seed=7, stream=-(2**70), junk=[], which="message")
# Found by the same test once it covered the batch API: junk in a shared stream tuple.
@example(coder=CODERS[0], seed=7, stream=("",), junk=None, which="stream")
@example(coder=CODERS[0], seed=7, stream=(-1.0,), junk=None, which="stream")
@example(coder=CODERS[0], seed=7, stream=(None,), junk=None, which="stream")
def test_coders_answer_junk_arguments_with_clear_errors(coder, seed, stream, junk, which) -> None:
    q, p = PAIR
    message, _ = coder.encode(q, p, seed=3, stream=(1,))
    args = dict(seed=seed if which == "seed" else 3, stream=stream if which == "stream" else (1,))
    target = junk if which == "target" else q
    proposal = junk if which == "proposal" else p
    names = {"seed": ("seed",), "stream": ("stream",), "target": ("target",),
             "proposal": ("proposal",), "message": ("message", "Message")}[which]
    _clear_error(lambda: coder.encode(target, proposal, **args), names)
    _clear_error(lambda: coder.decode(junk if which == "message" else message, proposal, **args),
                 names + (("target",) if which == "target" else ()))
    # The batch API: seeds and streams one per item (junk in either is the item's seed or stream).
    batch = dict(seeds=[args["seed"]] * 2, streams=args["stream"] if which == "stream" else None)
    names_batch = names + (("seeds",) if which == "seed" else ("streams",) if which == "stream" else ())
    _clear_error(lambda: coder.encode_batch([target] * 2, proposal, **batch), names_batch)
    messages = junk if which == "message" else [message] * 2
    # A sequence of messages of the wrong length is refused for its mismatch with the seeds.
    _clear_error(lambda: coder.decode_batch(messages, proposal, **batch),
                 names_batch + (("target",) if which == "target" else ("messages", "seeds")))
