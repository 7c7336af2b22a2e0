"""Fuzzing the DiffC v2 reader and decoder: only ContainerError (a ValueError) may escape, with a
message, and nothing may hang or allocate from a count the file claims.

Two sources of inputs. ``hypothesis`` draws arbitrary bytes and random damage to real files. A
seeded mutation corpus (:func:`corpus`) covers the structure deterministically: truncation at
every length, every single-bit flip, overwrites, insertions, deletions, splices of two files
(another seed, same model), header fields edited and header bytes damaged *with every record's
check recomputed* (so the damage reaches the header parser, the limits and the channel's parser),
and messages damaged behind recomputed checks. The slow tier runs all of it (more than 10,000
inputs) through :func:`diffc.decoders.decode_state` and :func:`diffc.ledger.file_ledger`; the
ordinary tier a fixed tenth.

Damage that the checks should see (everything except the re-signed kinds and cuts at record
boundaries) may slip through only as often as a 16-bit check allows: the corpus counts them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diffc.container import (
    FORMAT_VERSION,
    MAGIC,
    MAX_STEPS,
    ContainerError,
    encode_header,
    encode_records,
    read_container,
)
from diffc.decoder import decode_state
from diffc.diffusion.denoisers import DCT2Basis, GaussianOracle, power_law_spectrum
from diffc.diffusion.schedules import ContinuousVP
from diffc.diffusion.spacing import uniform_log_snr
from diffc.encoder import encode
from diffc.ledger import file_ledger
from rcc.gaussian import ChannelSpec, GaussianChannel

VP = ContinuousVP("cosine", -15.0, 15.0)
LAM = power_law_spectrum((8, 8), exponent=2.0)
ORACLE = GaussianOracle(VP, LAM, basis=DCT2Basis())
SCHEDULE = uniform_log_snr(VP, 4, -3.0, 0.0)
X = DCT2Basis().inverse(np.sqrt(LAM) * np.random.default_rng(3).standard_normal((8, 8)))
RESIGNED = ("header-field", "header-bytes", "message-bytes")
"""Corpus kinds whose records' checks are recomputed after the damage."""


@pytest.fixture(scope="module")
def files() -> tuple[bytes, ...]:
    """Two files of one model and schedule with different seeds, and one with an explicit coder
    word (fixed-length indices, ORC) and a value range spelled as two f64."""
    def one(seed: int, channel: GaussianChannel, value_range: tuple[float, float]) -> bytes:
        return encode(X, ORACLE, SCHEDULE, channel, seed=seed, value_range=value_range).data

    default = GaussianChannel()
    explicit = GaussianChannel(ChannelSpec(chunk_bits=8, headroom_bits=3, rule="orc", index_code="fixed"))
    return one(1, default, (-1.0, 1.0)), one(2, default, (-1.0, 1.0)), one(3, explicit, (-0.5, 2.5))


def _sign(head: bytes, messages: list[bytes] | tuple[bytes, ...]) -> bytes:
    """``head`` followed by records whose checks are keyed with it, whatever it holds."""
    return head + encode_records(head, messages)


def _header_edits(header: object, rng: random.Random) -> object:
    """One field of ``header`` changed to an edge value or a random one."""
    field, values = rng.choice([
        ("shape", [(8, 9), (64,), (1, 8, 8), (8, 8, 1), (2**16, 2**15), (3, 2**14, 2**15), (1,) * 8]),
        ("seed", [0, 2, 2**64 - 1, rng.randrange(2**64)]),
        ("stop_step", [1, 2, 3, 5, MAX_STEPS]),
        ("value_range", [(0.0, 1.0), (-4.0, 4.0), (-1e300, 1e300), (0.25, 0.5)]),
        ("clip", [True]),
        ("variance", ["exact"]),
        ("rule", ["orc", "mrc"]),
        ("index_code", ["fixed", "zipf"]),
        ("chunk_bits", [1, 3, 5, 16, 30]),
        ("headroom_bits", [0, 1, 7, 16]),
        ("partition_trial_bits", [0, 2, 8]),
    ])
    if field in ChannelSpec.__dataclass_fields__:
        return replace(header, channel=replace(header.channel, **{field: rng.choice(values)}))
    return replace(header, **{field: rng.choice(values)})


def _damage(data: bytes, rng: random.Random) -> bytes:
    """One overwrite, insertion or deletion of 1..4 bytes, or a bit flip, at a random place."""
    data, pos, n = bytearray(data), rng.randrange(len(data)), rng.randint(1, 4)
    op = rng.randrange(4)
    if op == 0:
        data[pos:pos + n] = rng.randbytes(len(data[pos:pos + n]))
    elif op == 1:
        data[pos:pos] = rng.randbytes(n)
    elif op == 2:
        del data[pos:pos + n]
    else:
        data[pos] ^= 1 << rng.randrange(8)
    return bytes(data)


def corpus(files: tuple[bytes, ...], seed: int = 20261201) -> Iterator[tuple[str, bytes]]:
    """The seeded mutation corpus: (kind, input) pairs, the same on every run."""
    rng = random.Random(seed)
    yield from (("bytes", b) for b in (b"", MAGIC, MAGIC + bytes([FORMAT_VERSION]), b"DFC\x89\x01"))
    parsed = [read_container(f) for f in files]
    for f in files:
        yield from (("truncation", f[:n]) for n in range(len(f)))
        yield from (("bit-flip", bytes(f[:i // 8]) + bytes([f[i // 8] ^ 1 << i % 8]) + f[i // 8 + 1:])
                    for i in range(8 * len(f)))
    for _ in range(5000):
        yield "damage", _damage(rng.choice(files), rng)
    a, b = parsed[0], parsed[1]
    heads = (files[0][:a.header_bytes], files[1][:b.header_bytes])
    yield "splice", heads[0] + files[1][b.header_bytes:]
    for _ in range(800):
        x, y = rng.sample(files, 2)
        yield "splice", x[:rng.randrange(len(x) + 1)] + y[rng.randrange(len(y) + 1):]
    for _ in range(1000):
        c = rng.choice(parsed)
        header = _header_edits(c.header, rng)
        yield "header-field", _sign(encode_header(header), c.messages[:header.stop_step])
    for _ in range(1000):
        c = rng.choice(parsed)
        head = _damage(encode_header(c.header), rng)
        yield "header-bytes", _sign(head, c.messages)
    for _ in range(1000):
        c = rng.choice(parsed)
        k = rng.randrange(c.n_steps)
        messages = list(c.messages)
        messages[k] = _damage(messages[k], rng) if messages[k] else rng.randbytes(rng.randint(1, 8))
        yield "message-bytes", _sign(encode_header(c.header), messages)


def _decode_or_container_error(data: bytes) -> bool:
    """Whether ``data`` decodes; any failure other than a ContainerError with a message propagates."""
    try:
        state = decode_state(data, ORACLE, SCHEDULE)
    except ContainerError as err:
        assert str(err)
        return False
    assert state.z.shape == (8, 8) and np.all(np.isfinite(state.z))
    try:
        file_ledger(state.container)
    except ValueError as err:  # the channel's side information does not parse
        assert str(err)
    return True


def _run(files: tuple[bytes, ...], inputs: Iterator[tuple[str, bytes]]) -> dict[str, list[int]]:
    originals = {f[:end] for f in files for end in read_container(f).record_ends}
    counts: dict[str, list[int]] = {}
    for kind, data in inputs:
        decoded = _decode_or_container_error(data)
        tally = counts.setdefault(kind, [0, 0, 0])  # inputs, decoded, decoded but damaged
        tally[0] += 1
        tally[1] += decoded
        tally[2] += decoded and data not in originals and kind not in RESIGNED
    return counts


def _check_counts(counts: dict[str, list[int]], min_inputs: int) -> None:
    assert sum(n for n, _, _ in counts.values()) >= min_inputs
    slipped = sum(s for _, _, s in counts.values())
    checked = sum(n for kind, (n, _, _) in counts.items() if kind not in RESIGNED)
    # each damaged input that reaches a record check passes it with probability 2^-16
    assert slipped <= 2 + checked / 2**16, counts


@pytest.mark.slow
def test_seeded_corpus(files: tuple[bytes, ...]) -> None:
    counts = _run(files, corpus(files))
    _check_counts(counts, 10_000)
    # exactly the cuts at record boundaries decode: 3 steps short of the full file, per file
    assert counts["truncation"][1] == sum(read_container(f).n_steps - 1 for f in files), counts


def test_seeded_corpus_sample(files: tuple[bytes, ...]) -> None:
    _check_counts(_run(files, (item for i, item in enumerate(corpus(files)) if i % 10 == 0)), 1_000)


@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    _decode_or_container_error(data)
    _decode_or_container_error(MAGIC + bytes([FORMAT_VERSION]) + data)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2), st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1,
                                   max_size=4), st.integers(0, 10**6))
def test_fuzz_damaged_files(files: tuple[bytes, ...], which: int, flips: list[tuple[int, int]],
                            cut: int) -> None:
    data = bytearray(files[which])
    for pos, xor in flips:
        data[pos % len(data)] ^= xor
    _decode_or_container_error(bytes(data[:cut % (len(data) + 1)]))

