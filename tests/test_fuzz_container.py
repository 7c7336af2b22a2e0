"""Fuzzing the DiffC v4 reader and decoder: only ContainerError (a ValueError) may escape, with a
message, and nothing may hang, search, or allocate from a count the file claims.

Two sources of inputs. ``hypothesis`` draws arbitrary bytes and random damage to real files. A
seeded mutation corpus (:func:`corpus`) covers the structure deterministically: truncation at
every length, every single-bit flip, overwrites, insertions, deletions, splices of two files
(another seed, same model), every mix of the records of two files with byte-identical headers
(two images of one size, seed 0: issue 24's silent splice) and byte splices between them, header
fields edited (step times, grid, family, conditioning, size, variance, ...) and header bytes
damaged *with every record's check recomputed* (forged headers: the damage reaches the header
parser, the limits, the schedule check and the channel's parser), and messages damaged behind
recomputed checks. Two decoders read every input: :func:`diffc.decoder.decode_state` with the
exact oracle, and with a network-like denoiser that has no posterior variance (so a forged
exact-variance flag must be refused), each followed by :func:`diffc.ledger.file_ledger`. The
slow tier runs all of it (more than 10,000 inputs per decoder); the ordinary tier a fixed tenth.
Every input costs at most one model evaluation per record it holds: no decoder searches.

Damage that the checks should see (everything except the re-signed kinds and cuts at record
boundaries) may slip through only as often as a 16-bit check allows: the corpus counts them.
"""

from __future__ import annotations

import hashlib
import itertools
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
    MAX_TIME_CODE,
    ContainerError,
    encode_header,
    encode_records,
    fingerprint_id,
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
X, Y = (DCT2Basis().inverse(np.sqrt(LAM) * np.random.default_rng(seed).standard_normal((8, 8)))
        for seed in (3, 4))
RESIGNED = ("header-field", "header-bytes", "message-bytes")
"""Corpus kinds whose records' checks are recomputed after the damage."""


class _Network:
    """The oracle's epsilon predictions without its posterior variance (what a network has),
    counting its evaluations."""

    schedule = VP
    shape = (8, 8)  # the oracle's: a model of fixed shape

    def __init__(self) -> None:
        self.evaluations = 0

    def predict_eps(self, z: np.ndarray, t: float) -> np.ndarray:
        self.evaluations += 1
        return ORACLE.predict_eps(z, t)

    def fingerprint(self) -> bytes:
        return ORACLE.fingerprint()


NETWORK = _Network()
DECODERS = {"oracle": ORACLE, "network": NETWORK}


@pytest.fixture(scope="module")
def files() -> tuple[bytes, ...]:
    """Two files of one model and schedule with different seeds, one with an explicit coder word
    (fixed-length indices, ORC) and a value range spelled as two f64, and two files of two images
    with the default seed 0, whose headers are byte-identical (the last two)."""
    def one(x: np.ndarray, seed: int, channel: GaussianChannel, value_range: tuple[float, float]) -> bytes:
        return encode(x, ORACLE, SCHEDULE, channel, seed=seed, value_range=value_range).data

    default = GaussianChannel()
    explicit = GaussianChannel(ChannelSpec(chunk_bits=8, headroom_bits=3, rule="orc", index_code="fixed"))
    unit = (-1.0, 1.0)
    return (one(X, 1, default, unit), one(X, 2, default, unit), one(X, 3, explicit, (-0.5, 2.5)),
            one(X, 0, default, unit), one(Y, 0, default, unit))


def _records(data: bytes) -> tuple[bytes, list[bytes]]:
    c = read_container(data)
    starts = (c.header_bytes, *c.record_ends[:-1])
    return data[:c.header_bytes], [data[a:b] for a, b in zip(starts, c.record_ends, strict=True)]


def test_the_twins_share_their_header_and_differ_in_every_record(files: tuple[bytes, ...]) -> None:
    (head_a, a), (head_b, b) = _records(files[3]), _records(files[4])
    assert head_a == head_b and all(x != y for x, y in zip(a, b, strict=True))


def _sign(head: bytes, messages: list[bytes] | tuple[bytes, ...]) -> bytes:
    """``head`` followed by records whose checks are keyed with it, whatever it holds."""
    return head + encode_records(head, messages)


def _header_edits(header: object, rng: random.Random) -> object:
    """One field of ``header`` changed to an edge value or a random one."""
    digest = fingerprint_id(hashlib.sha256(b"conditioning").digest())
    field, values = rng.choice([
        ("shape", [(8, 9), (64,), (1, 8, 8), (8, 8, 1), (2**16, 2**15), (3, 2**14, 2**15), (1,) * 4]),
        ("seed", [0, 2, 2**64 - 1, rng.randrange(2**64)]),
        ("time_gaps", [(), (1,), header.time_gaps[:2], (*header.time_gaps, 1), (1,) * 4095,
                       tuple(rng.randint(1, 5000) for _ in range(rng.randint(1, 40)))]),
        ("first_time", [None, 0, 2**16, 2**16 + 1, MAX_TIME_CODE, rng.randrange(2**16)]),
        ("time_grid", ["index"]),
        ("family", ["pixel", "sd1", "flux"]),
        ("conditioning", [("prompt", digest, {"prompt": "a red barn"}),
                          ("prompt", digest, {"prompt": "\u6771\u4eac, 4k", "guidance": 7.5}),
                          ("class", digest, {}), ("class", digest, {"class_label": 3, "guidance": -0.25}),
                          ("empty-prompt", digest, {"guidance": 3.5})]),
        ("size", [(8, 9), (1, 1), (2**20, 2**20)]),
        ("value_range", [(0.0, 1.0), (-4.0, 4.0), (-1e300, 1e300), (0.25, 0.5)]),
        ("clip", [True]),
        ("variance", ["exact"]),
        ("rule", ["orc", "mrc"]),
        ("index_code", ["fixed", "zipf"]),
        ("chunk_bits", [1, 3, 5, 16, 30]),
        ("headroom_bits", [0, 1, 7, 16]),
        ("partition_trial_bits", [0, 2, 8]),
    ])
    value = rng.choice(values)
    if field in ChannelSpec.__dataclass_fields__:
        return replace(header, channel=replace(header.channel, **{field: value}))
    if field == "conditioning":
        options = {"prompt": None, "guidance": None, "class_label": None} | value[2]
        return replace(header, conditioning=value[0], conditioning_id=value[1], **options)
    if field == "first_time" and value is not None:
        return replace(header, first_time=max(value, sum(header.time_gaps)))
    if field == "time_gaps" and header.first_time is not None:
        return replace(header, time_gaps=value, first_time=max(header.first_time, sum(value)))
    return replace(header, **{field: value})


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
    (head, twin_a), (_, twin_b) = _records(files[3]), _records(files[4])
    for n in range(1, len(twin_a) + 1):
        for choice in itertools.product((twin_a, twin_b), repeat=n):
            yield "equal-header splice", head + b"".join(records[k] for k, records in enumerate(choice))
    for _ in range(800):
        x, y = rng.sample(files[3:], 2)
        yield "equal-header splice", x[:rng.randrange(len(x) + 1)] + y[rng.randrange(len(y) + 1):]
    for _ in range(1000):
        c = rng.choice(parsed)
        header = _header_edits(c.header, rng)
        messages = (*c.messages, *c.messages)[:header.stop_step]  # as many as the forged header says
        yield "header-field", _sign(encode_header(header), messages)
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


def _decode_or_container_error(data: bytes, decoder: str = "oracle") -> bool:
    """Whether ``data`` decodes with ``decoder``; any failure other than a ContainerError with a
    message propagates, and so does a decoder that evaluates the model more than once a record."""
    NETWORK.evaluations = 0
    try:
        state = decode_state(data, DECODERS[decoder])
    except ContainerError as err:
        assert str(err)
        assert NETWORK.evaluations <= len(data) // 3  # a record is 3 bytes at least
        return False
    assert state.z.shape == (8, 8) and np.all(np.isfinite(state.z))
    assert NETWORK.evaluations <= state.container.n_steps
    try:
        file_ledger(state.container)
    except ContainerError as err:  # the channel's side information does not parse
        assert str(err)
    return True


def _run(files: tuple[bytes, ...], inputs: Iterator[tuple[str, bytes]],
         decoder: str) -> dict[str, list[int]]:
    originals = {f[:end] for f in files for end in read_container(f).record_ends}
    counts: dict[str, list[int]] = {}
    for kind, data in inputs:
        decoded = _decode_or_container_error(data, decoder)
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
@pytest.mark.parametrize("decoder", sorted(DECODERS))
def test_seeded_corpus(files: tuple[bytes, ...], decoder: str) -> None:
    counts = _run(files, corpus(files), decoder)
    _check_counts(counts, 10_000)
    # exactly the cuts at record boundaries decode: 3 steps short of the full file, per file
    assert counts["truncation"][1] == sum(read_container(f).n_steps - 1 for f in files), counts
    # of the mixes of the twins' records, exactly their own prefixes decode (4 steps: 2 x 4 of 30)
    mixes = sum(2**n for n in range(1, 5))
    assert counts["equal-header splice"][0] >= mixes and counts["equal-header splice"][2] == 0, counts
    if decoder == "network":  # a forged exact-variance flag never decodes without a posterior
        assert counts["header-field"][1] < counts["header-field"][0]


@pytest.mark.parametrize("decoder", sorted(DECODERS))
def test_seeded_corpus_sample(files: tuple[bytes, ...], decoder: str) -> None:
    _check_counts(_run(files, (item for i, item in enumerate(corpus(files)) if i % 10 == 0), decoder), 1_000)


@pytest.mark.parametrize("decoder", sorted(DECODERS))
def test_every_mix_of_two_equal_header_files_is_refused(files: tuple[bytes, ...], decoder: str) -> None:
    """Issue 24: any mix of the twins' records that is not a prefix of one of them is refused."""
    (head, twin_a), (_, twin_b) = _records(files[3]), _records(files[4])
    decoded = 0
    for n in range(1, len(twin_a) + 1):
        for choice in itertools.product((0, 1), repeat=n):
            mix = head + b"".join((twin_a, twin_b)[c][k] for k, c in enumerate(choice))
            decoded += _decode_or_container_error(mix, decoder)
            assert _decode_or_container_error(mix, decoder) == (len(set(choice)) == 1)
    assert decoded == 2 * len(twin_a)


@pytest.mark.parametrize("decoder", sorted(DECODERS))
def test_forged_exact_variance_is_a_container_error(files: tuple[bytes, ...], decoder: str) -> None:
    c = read_container(files[0])
    forged = _sign(encode_header(replace(c.header, variance="exact")), c.messages)
    assert _decode_or_container_error(forged, decoder) == (decoder == "oracle")


@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    for decoder in DECODERS:
        _decode_or_container_error(data, decoder)
        _decode_or_container_error(MAGIC + bytes([FORMAT_VERSION]) + data, decoder)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 4), st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1,
                                   max_size=4), st.integers(0, 10**6))
def test_fuzz_damaged_files(files: tuple[bytes, ...], which: int, flips: list[tuple[int, int]],
                            cut: int) -> None:
    data = bytearray(files[which])
    for pos, xor in flips:
        data[pos % len(data)] ^= xor
    for decoder in DECODERS:
        _decode_or_container_error(bytes(data[:cut % (len(data) + 1)]), decoder)

