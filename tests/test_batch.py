"""The batched API: item i of a batch is exactly the per-item call (messages, statistics, decoded
samples), for every coder, through the compiled kernels and through the per-item loop."""

from __future__ import annotations

import numpy as np
import pytest

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
from rcc.coders.batch import NormalTargets
from rcc.codes import EliasDeltaCode, EliasGammaCode, FixedLengthCode, ZipfCode
from rcc.codes.vectorized import first_indices, messages_for
from rcc.core import Coder, Message
from rcc.distributions import Categorical, Normal

P = Normal(0.2, 1.3)
CODERS = [PoissonFunctionalRepresentation(), PoissonFunctionalRepresentation(max_candidates=64),
          OrderedRandomCoding(64), MinimalRandomCoding(64), GreedyRejectionSampling(),
          AStarCoding(), BranchAndBoundAStarCoding(), GreedyPoissonRejectionSampling(),
          BranchAndBoundGPRS()]


def _name(coder: object) -> str:
    return type(coder).__name__ + ("" if getattr(coder, "exact", True) else "(truncated)")


def _targets(n: int, seed: int = 0) -> NormalTargets:
    rng = np.random.default_rng(seed)
    return NormalTargets(0.2 + 0.8 * rng.standard_normal(n), 1.3 * rng.uniform(0.15, 0.8, n))


def _assert_batch_is_per_item(coder, targets, proposal, seeds, streams) -> None:
    messages, stats = coder.encode_batch(targets, proposal, seeds, streams)
    samples = coder.decode_batch(messages, proposal, seeds, streams)
    assert len(messages) == len(stats) == len(targets) == len(samples)
    for i in range(len(targets)):
        stream = (streams if isinstance(streams, tuple) else () if streams is None
                  else tuple(int(c) for c in streams[i]))
        message, st = coder.encode(targets[i], proposal, int(seeds[i]), stream)
        assert messages[i] == message and stats[i] == st, i
        np.testing.assert_array_equal(samples[i], coder.decode(message, proposal, int(seeds[i]),
                                                               stream))


@pytest.mark.parametrize("code", [EliasDeltaCode(), EliasGammaCode(), FixedLengthCode(1000),
                                  FixedLengthCode(1), ZipfCode.for_kl(3.0)], ids=repr)
def test_batch_messages_are_the_codes_own(code) -> None:
    rng = np.random.default_rng(2)
    limit = getattr(code, "n", None) or 2**61
    count = 20 if isinstance(code, ZipfCode) else 200  # the range coder is slow per message
    index = np.concatenate([np.arange(min(limit, count)), rng.integers(0, limit, count),
                            [limit - 1]]).astype(np.int64)
    messages, ideal = messages_for(code, index)
    assert messages == [Message(code.encode([int(k)])) for k in index]
    np.testing.assert_array_equal(ideal, [code.ideal_bits(int(k)) for k in index])
    np.testing.assert_array_equal(first_indices(code, messages), index)


@pytest.mark.parametrize("coder", CODERS, ids=_name)
def test_every_coder_batch_equals_per_item_calls(coder) -> None:
    assert isinstance(coder, Coder) and coder.exact == (getattr(coder, "max_candidates", None) is None
                                                        and not hasattr(coder, "n_candidates"))
    seeds = np.arange(100, 112)
    streams = np.stack([np.arange(12), np.full(12, 3)], axis=1)
    _assert_batch_is_per_item(coder, _targets(12), P, seeds, streams)


@pytest.mark.parametrize("coder", [PoissonFunctionalRepresentation(), GreedyRejectionSampling()],
                         ids=_name)
def test_compiled_kernels_equal_per_item_calls(coder) -> None:
    targets = _targets(300, seed=5)
    assert coder._encode_fast(targets, P, np.arange(300, dtype=np.uint64),
                              np.zeros((300, 0), np.uint64)) is not None
    _assert_batch_is_per_item(coder, targets, P, np.arange(300), (7,))
    # A list of Normal targets takes the same kernel.
    listed = [targets[i] for i in range(20)]
    _assert_batch_is_per_item(coder, listed, P, np.arange(20) + 2**40, None)


@pytest.mark.parametrize("coder", [PoissonFunctionalRepresentation(), GreedyRejectionSampling(),
                                   OrderedRandomCoding(64)], ids=_name)
def test_a_normal_with_vector_parameters_is_a_batch_of_its_coordinates(coder) -> None:
    targets, seeds = _targets(30, seed=6), np.arange(30)
    messages, stats = coder.encode_batch(Normal(targets.loc, targets.scale), P, seeds, (5,))
    expected, expected_stats = coder.encode_batch(targets, P, seeds, (5,))
    assert messages == expected and all(stats[i] == expected_stats[i] for i in range(len(targets)))
    with pytest.raises(ValueError, match="vectors"):
        coder.encode_batch(Normal(0.1, 0.5), P, [0])


def test_compiled_pfr_filters_change_nothing_at_high_dinf() -> None:
    """About 2^9 candidates per item, most of them skipped by the kernel's filters."""
    rng = np.random.default_rng(9)
    targets = NormalTargets(0.2 + 0.01 * rng.standard_normal(40), np.full(40, 0.004))
    assert targets[0].divergences(P).dinf_bits > 8
    _assert_batch_is_per_item(PoissonFunctionalRepresentation(), targets, P, np.arange(40), (2,))


def test_compiled_grs_filter_changes_nothing_at_high_dinf() -> None:
    """About 2^9 steps per item; most candidates lie outside {r > level} and are skipped."""
    rng = np.random.default_rng(10)
    targets = NormalTargets(0.2 + 0.01 * rng.standard_normal(40), np.full(40, 0.004))
    coder = GreedyRejectionSampling()
    _assert_batch_is_per_item(coder, targets, P, np.arange(40), (2,))
    _, stats = coder.encode_batch(targets, P, np.arange(40), (2,))
    assert stats.proposals.mean() > 100


def test_compiled_pfr_follows_other_block_sizes(monkeypatch) -> None:
    """Blocks that are not whole chunks of the kernel (arrival times are summed per block)."""
    import rcc.coders.race as race

    monkeypatch.setattr(race, "FIRST_BLOCK", 5)
    monkeypatch.setattr(race, "MAX_BLOCK_VALUES", 37)
    assert race.block_sizes(()) == (5, 37)
    rng = np.random.default_rng(11)
    targets = NormalTargets(0.2 + 0.05 * rng.standard_normal(30), np.full(30, 0.05))
    _assert_batch_is_per_item(PoissonFunctionalRepresentation(), targets, P, np.arange(30), (4,))


def test_categorical_batches_use_the_per_item_loop() -> None:
    q = [Categorical([0.7, 0.1, 0.2]), Categorical([0.1, 0.1, 0.8])]
    p = Categorical([0.3, 0.3, 0.4])
    for coder in (PoissonFunctionalRepresentation(), GreedyRejectionSampling(),
                  GreedyPoissonRejectionSampling()):
        _assert_batch_is_per_item(coder, q, p, np.array([3, 4]), (1,))


def test_batch_errors_are_the_per_item_errors() -> None:
    coder = PoissonFunctionalRepresentation()
    with pytest.raises(ValueError, match="bounded density ratio"):
        coder.encode_batch(NormalTargets([0.0, 0.1], [0.5, 1.3]), P, [0, 1])
    with pytest.raises(ValueError, match="max_dinf_bits"):
        coder.encode_batch(NormalTargets([0.0], [1e-12]), P, [0])
    with pytest.raises(ValueError, match="seeds"):
        coder.encode_batch(_targets(3), P, [0, 1])
    with pytest.raises(ValueError, match="non-negative"):
        coder.encode_batch(_targets(2), P, [0, -1])
    with pytest.raises(ValueError, match="streams"):
        coder.encode_batch(_targets(2), P, [0, 1], np.zeros((3, 1), np.int64))
    with pytest.raises(ValueError, match="scale"):
        NormalTargets([0.0, 1.0], [0.5, -1.0])
    with pytest.raises(ValueError, match="truncated"):
        coder.decode_batch([Message(b"")], P, [0])
    with pytest.raises(ValueError, match="beyond"):
        PoissonFunctionalRepresentation(max_candidates=100, code=EliasGammaCode()).decode_batch(
            [Message(EliasGammaCode().encode([1])), Message(EliasGammaCode().encode([500]))],
            P, [0, 1])
    with pytest.raises(TypeError):
        coder.decode_batch([b"\x80"], P, [0])
    messages, stats = coder.encode_batch([], P, np.zeros(0, np.int64))
    assert messages == [] and len(stats) == 0
