"""DiffC container v1: round trip, progressive truncation, a reader that only raises ContainerError."""

from __future__ import annotations

import hashlib
import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diffc.container import (
    FORMAT_VERSION,
    MAGIC,
    ContainerError,
    Header,
    check_compatible,
    read_container,
    truncate,
    write_container,
)

HEADER = Header(
    model_fingerprint=hashlib.sha256(b"model").digest(),
    schedule_digest=hashlib.sha256(b"schedule").digest(),
    shape=(3, 8, 8),
    value_range=(-1.0, 1.0),
    seed=2**63 + 5,
    rule="pfr",
    index_code="zipf_truncated",
    chunk_bits=12,
    headroom_bits=2,
    partition_trial_bits=3,
    variance="exact",
    clip=True,
    stop_step=4,
)
MESSAGES = (b"\x01\x02\x03", b"", bytes(range(200)), b"\xff" * 130)
FILE = write_container(HEADER, MESSAGES)


def _header_size(ndim: int) -> int:
    # magic, version, two digests, ndim, dims, 2 f64 + u64 + 7 u8 + u32, crc
    return 4 + 1 + 64 + 1 + 4 * ndim + 16 + 8 + 7 + 4 + 4


def test_round_trip_and_byte_layout() -> None:
    c = read_container(FILE)
    assert c.header == HEADER and c.messages == MESSAGES and c.n_steps == 4
    assert FILE[:4] == MAGIC and FILE[4] == FORMAT_VERSION
    assert c.header_bytes == _header_size(3)
    # records: varint length, message, crc; 200 and 130 need two varint bytes
    record_sizes = [1 + 3 + 4, 1 + 0 + 4, 2 + 200 + 4, 2 + 130 + 4]
    assert c.record_ends[-1] == len(FILE) == c.header_bytes + sum(record_sizes)
    assert c.bits_through(4) == 8 * len(FILE)
    assert c.header.channel_params == {"rule": "pfr", "index_code": "zipf_truncated", "chunk_bits": 12,
                                       "headroom_bits": 2, "partition_trial_bits": 3}


def test_every_step_boundary_is_a_valid_earlier_stop() -> None:
    c = read_container(FILE)
    for k in range(1, 5):
        prefix = truncate(FILE, k)
        assert len(prefix) == c.record_ends[k - 1]
        pc = read_container(prefix)
        assert pc.messages == MESSAGES[:k] and pc.header.stop_step == 4


def test_every_other_cut_is_a_container_error() -> None:
    ends = set(read_container(FILE).record_ends)
    for n in range(len(FILE)):
        if n in ends:
            continue
        with pytest.raises(ContainerError):
            read_container(FILE[:n])


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda b: b"XXXX" + b[4:], "not a DiffC file"),
    (lambda b: b[:4] + bytes([2]) + b[5:], "version 2"),
    (lambda b: b[:20] + bytes([b[20] ^ 1]) + b[21:], "header checksum"),
    (lambda b: b[:-5] + bytes([b[-5] ^ 0x10]) + b[-4:], "checksum mismatch in step 3"),
    (lambda b: b + b"\x00", "trailing bytes"),
])
def test_corruptions_are_named(mutate: object, match: str) -> None:
    with pytest.raises(ContainerError, match=match):
        read_container(mutate(FILE))


def test_impossible_fields_behind_a_valid_checksum_are_rejected() -> None:
    body = bytearray(FILE[:_header_size(3) - 4])
    body[-10] = 7  # the rule code: the u8 after seed, 10 bytes before the checksum
    forged = bytes(body) + struct.pack(">I", zlib.crc32(body)) + FILE[_header_size(3):]
    with pytest.raises(ContainerError, match="unknown coder code"):
        read_container(forged)


def test_compatibility_checks_name_the_mismatch() -> None:
    check_compatible(HEADER, HEADER.model_fingerprint, HEADER.schedule_digest)
    with pytest.raises(ContainerError, match="wrong model"):
        check_compatible(HEADER, hashlib.sha256(b"other").digest(), HEADER.schedule_digest)
    with pytest.raises(ContainerError, match="wrong schedule"):
        check_compatible(HEADER, HEADER.model_fingerprint, hashlib.sha256(b"other").digest())


def test_writer_rejects_inconsistent_input() -> None:
    with pytest.raises(ValueError, match="header says 4 steps"):
        write_container(HEADER, MESSAGES[:2])
    with pytest.raises(ContainerError):
        Header(b"short", HEADER.schedule_digest, (2,), (0.0, 1.0), 0, "pfr", "fixed", 12, 2, 3,
               "posterior", False, 1)
    with pytest.raises(ContainerError):
        Header(HEADER.model_fingerprint, HEADER.schedule_digest, (2,), (1.0, 0.0), 0, "pfr", "fixed",
               12, 2, 3, "posterior", False, 1)


def _parse_or_container_error(data: bytes) -> None:
    try:
        read_container(data)
    except ContainerError:
        pass


@given(st.binary(max_size=400))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    _parse_or_container_error(data)
    _parse_or_container_error(MAGIC + bytes([FORMAT_VERSION]) + data)


@given(st.lists(st.tuples(st.integers(0, len(FILE) - 1), st.integers(1, 255)), min_size=1, max_size=4),
       st.integers(0, len(FILE)))
def test_fuzz_corrupted_and_truncated_files(flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(FILE)
    for pos, xor in flips:
        data[pos] ^= xor
    data = bytes(data[:cut])
    try:
        c = read_container(data)
    except ContainerError:
        return
    # Whatever parses must be an untouched prefix ending at a step boundary (CRC-32 collisions aside).
    assert FILE.startswith(data) and c.messages == MESSAGES[:c.n_steps]


def test_index_code_table_matches_the_channel() -> None:
    from diffc.container import INDEX_CODES
    from rcc.gaussian_channel import INDEX_CODES as CHANNEL_CODES

    assert INDEX_CODES == CHANNEL_CODES
