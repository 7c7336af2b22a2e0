"""DiffC container v3: byte layout and sizes, progressive truncation, binding of records to their
header and position, canonical form, named errors (the fuzzing is in ``test_fuzz_container.py``)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from diffc.container import (
    DEFAULT_CODER,
    FORMAT_VERSION,
    MAGIC,
    MAX_STEPS,
    ContainerError,
    Header,
    check_compatible,
    encode_header,
    fingerprint_id,
    framing_bytes,
    read_container,
    truncate,
    write_container,
)
from diffc.diffusion.checks import checked_int
from rcc.gaussian import ChannelSpec

MODEL = hashlib.sha256(b"model").digest()
SCHEDULE = hashlib.sha256(b"schedule").digest()
HEADER = Header(
    model_fingerprint=fingerprint_id(MODEL),
    schedule_digest=fingerprint_id(SCHEDULE),
    shape=(3, 8, 8),
    value_range=(-1.0, 1.0),
    seed=2**63 + 5,
    channel=ChannelSpec(rule="pfr", index_code="zipf_truncated", chunk_bits=12, headroom_bits=2,
                        partition_trial_bits=3),
    variance="exact",
    clip=True,
    stop_step=4,
)
MESSAGES = (b"\x01\x02\x03", b"", bytes(range(200)), b"\xff" * 130)
FILE = write_container(HEADER, MESSAGES)
TYPICAL = replace(HEADER, shape=(3, 128, 128), seed=7, variance="posterior", clip=False, stop_step=20,
                  channel=DEFAULT_CODER)


def test_round_trip_and_byte_layout() -> None:
    c = read_container(FILE)
    assert c.header == HEADER and c.messages == MESSAGES and c.n_steps == 4 and not c.truncated
    assert FILE[:1] == MAGIC and FILE[1] == FORMAT_VERSION == 3
    assert FILE[2:10] == MODEL[:8] and FILE[10:18] == SCHEDULE[:8]
    # flags, coder word (not the default coder), dims 3 x 1 byte, seed 2^63+5 in 10 varint bytes, stop step
    assert c.header_bytes == 18 + 1 + 3 + 3 + 10 + 1
    # records: varint length, message, 2-byte check; 200 and 130 need two varint bytes
    assert c.framing_bytes == (3, 3, 4, 4) == tuple(framing_bytes(len(m)) for m in MESSAGES)
    assert c.record_ends[-1] == len(FILE) == c.header_bytes + sum(map(len, MESSAGES)) + 14
    assert c.bits_through(4) == 8 * len(FILE)
    assert c.header.channel == ChannelSpec("pfr", "zipf_truncated", 12, 2, 3)


def test_a_typical_header_is_24_bytes() -> None:
    """Default coder, the [-1, 1] preset, 3 x 128 x 128, seed and stop step below 128."""
    assert len(encode_header(TYPICAL)) == 24
    assert read_container(write_container(TYPICAL, [b"x"] * 20)).header == TYPICAL


@pytest.mark.parametrize(("value_range", "extra"), [
    ((-1.0, 1.0), 0), ((0.0, 1.0), 0), ((-4.0, 4.0), 2), ((0.0, 255.0), 3), ((-0.5, 0.5), 16)])
def test_value_ranges_round_trip_compactly(value_range: tuple[float, float], extra: int) -> None:
    h = replace(TYPICAL, value_range=value_range)
    assert len(encode_header(h)) == 24 + extra
    assert read_container(write_container(h, [b"x"] * 20)).header.value_range == value_range


def test_every_step_boundary_is_a_valid_truncated_file() -> None:
    c = read_container(FILE)
    for k in range(1, 5):
        prefix = truncate(FILE, k)
        assert len(prefix) == c.record_ends[k - 1]
        pc = read_container(prefix)
        assert pc.messages == MESSAGES[:k] and pc.header.stop_step == 4 and pc.truncated == (k < 4)


def test_every_other_cut_is_a_container_error() -> None:
    ends = set(read_container(FILE).record_ends)
    for n in range(len(FILE)):
        if n in ends:
            continue
        with pytest.raises(ContainerError):
            read_container(FILE[:n])


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda b: b"XXXX" + b[4:], "not a DiffC file"),
    (lambda b: b[:1] + bytes([4]) + b[2:], "version 4"),
    (lambda b: b[:20] + bytes([b[20] ^ 1]) + b[21:], "check mismatch in step 0"),
    (lambda b: b[:-3] + bytes([b[-3] ^ 0x10]) + b[-2:], "check mismatch in step 3"),
    (lambda b: b + b"\x00", "trailing bytes"),
])
def test_corruptions_are_named(mutate: object, match: str) -> None:
    with pytest.raises(ContainerError, match=match):
        read_container(mutate(FILE))


def test_records_are_bound_to_their_header_and_position() -> None:
    """The header of one file with the records of another (another seed) is refused, and so are
    records in another order, although every record is intact."""
    other = write_container(replace(HEADER, seed=1), MESSAGES)
    head = len(encode_header(HEADER))
    spliced = FILE[:head] + other[len(encode_header(replace(HEADER, seed=1))):]
    assert spliced != FILE
    with pytest.raises(ContainerError, match="check mismatch in step 0"):
        read_container(spliced)
    swapped = write_container(HEADER, (MESSAGES[1], MESSAGES[0], *MESSAGES[2:]))
    records = read_container(swapped).record_ends
    reordered = FILE[:head] + swapped[records[0]:records[1]] + swapped[head:records[0]] + swapped[records[1]:]
    with pytest.raises(ContainerError, match="check mismatch in step 0"):
        read_container(reordered)


def test_non_canonical_spellings_are_refused() -> None:
    head = encode_header(HEADER)
    # the stop step varint spelled in two bytes: 0x83 0x00 instead of 0x03
    long_varint = head[:-1] + bytes([head[-1] | 0x80, 0]) + FILE[len(head):]
    with pytest.raises(ContainerError, match="non-minimal varint"):
        read_container(long_varint)
    # the default coder spelled out: pfr 0, pfr_lognormal 3, chunk 8 - 1, headroom 3, trials 3
    word = (3 << 20 | 7 << 15 | 3 << 10 | 3 << 6).to_bytes(3, "big")
    typical = encode_header(TYPICAL)
    spelled = typical[:18] + bytes([typical[18] | 1]) + word + typical[19:]
    with pytest.raises(ContainerError, match="canonical"):
        read_container(spelled + b"\x01x\x00\x00")


def test_impossible_fields_are_rejected() -> None:
    head = bytearray(encode_header(HEADER))
    head[19] |= 0xC0  # rule code 3 in the coder word
    with pytest.raises(ContainerError, match="unknown coder code"):
        read_container(bytes(head) + FILE[len(head):])
    huge = encode_header(replace(TYPICAL, stop_step=MAX_STEPS))
    with pytest.raises(ContainerError, match="stop step"):
        read_container(huge[:-2] + bytes([0x80, 0x20]) + b"\x00\x00\x00")  # stop step - 1 = 4096


def test_v1_and_v2_files_are_refused_by_name() -> None:
    with pytest.raises(ContainerError, match="DiffC v1 file; v1 files are no longer decoded"):
        read_container(b"DFC\x89\x01" + bytes(200))
    with pytest.raises(ContainerError, match="DiffC v2 file; v2 files are no longer decoded.*re-encode"):
        read_container(MAGIC + bytes([2]) + FILE[2:])


def test_compatibility_checks_name_the_mismatch() -> None:
    check_compatible(HEADER, MODEL, SCHEDULE)
    other = hashlib.sha256(b"other").digest()
    with pytest.raises(ContainerError, match=f"wrong model: .* model {MODEL[:8].hex()}.*is {other.hex()}"):
        check_compatible(HEADER, other, SCHEDULE)
    with pytest.raises(ContainerError, match="wrong schedule"):
        check_compatible(HEADER, MODEL, other)


def test_writer_and_header_reject_inconsistent_input() -> None:
    with pytest.raises(ValueError, match="header says 4 steps"):
        write_container(HEADER, MESSAGES[:2])
    for change in ({"model_fingerprint": MODEL}, {"value_range": (1.0, 0.0)}, {"value_range": ("a", 1.0)},
                   {"stop_step": 1.5}, {"stop_step": MAX_STEPS + 1}, {"seed": -1}, {"seed": 2.0},
                   {"shape": (0, 3)}, {"shape": (2**16, 2**16)}, {"clip": 1}, {"channel": "pfr"}):
        with pytest.raises(ContainerError):
            replace(HEADER, **change)


def test_counts_must_be_integers() -> None:
    for bad in (2.0, 1.5, True, "2", float("nan")):
        with pytest.raises(ValueError, match="n_steps must be an integer"):
            truncate(FILE, bad)
    with pytest.raises(ValueError, match=r"n_steps must be in \[1, 4\]"):
        truncate(FILE, 5)
    assert checked_int(3, "x", 0, 3) == 3
