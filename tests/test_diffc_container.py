"""DiffC container v5: byte layout and sizes, step-time codes, progressive truncation, the chain that
binds every record to the header and the records before it, canonical form, named errors (the
fuzzing is in ``test_fuzz_container.py``)."""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from dataclasses import replace

import pytest

from diffc import prompt_code
from diffc.container import (
    DEFAULT_CODER,
    FORMAT_VERSION,
    MAGIC,
    MAX_PROMPT_BYTES,
    MAX_STEPS,
    MAX_TIME_CODE,
    ContainerError,
    Header,
    check_identity,
    code_range,
    conditioning_record,
    encode_header,
    encode_records,
    fingerprint_id,
    framing_bytes,
    grid_time,
    max_message_bytes,
    quantize_times,
    read_container,
    truncate,
    write_container,
)
from diffc.diffusion.checks import checked_int
from diffc.diffusion.schedules import DiscreteVP
from diffc.diffusion.spacing import image_schedule
from diffc.encoder import _step_times, quantized
from rcc.gaussian import ChannelSpec

MODEL = hashlib.sha256(b"model").digest()
PROMPT = hashlib.sha256(b"a prompt").digest()
HEADER = Header(
    model_fingerprint=fingerprint_id(MODEL),
    shape=(4, 8, 8),
    value_range=(-1.0, 1.0),
    seed=2**63 + 5,
    channel=ChannelSpec(rule="pfr", index_code="zipf_truncated", chunk_bits=12, headroom_bits=2,
                        partition_trial_bits=3),
    variance="exact",
    clip=True,
    time_grid="dyadic",
    first_time=60000,
    time_gaps=(20000, 9, 300),
    family="sd1",
    conditioning="prompt",
    conditioning_id=fingerprint_id(PROMPT),
    size=(61, 64),
    prompt="a red barn",
    guidance=7.5,
)
MESSAGES = (b"\x01\x02\x03", b"", bytes(range(200)), b"\xff" * 130)
FILE = write_container(HEADER, MESSAGES)


def _default_table() -> DiscreteVP:
    """The default model's table: diffusers' squaredcos_cap_v2 DDPM schedule of 1000 steps."""
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")
    return DiscreteVP.from_diffusers(scheduler)


def _pixel_header(size: tuple[int, int], steps: int = 16) -> Header:
    schedule = quantized(image_schedule(_default_table(), (3, *size), steps))
    return Header(fingerprint_id(MODEL), (3, *size), (-1.0, 1.0), 0, DEFAULT_CODER, "posterior", True,
                  **_step_times(schedule), family="pixel")


def test_round_trip_and_byte_layout() -> None:
    c = read_container(FILE)
    assert c.header == HEADER and c.messages == MESSAGES and c.n_steps == 4 and not c.truncated
    assert FILE[:1] == MAGIC and FILE[1] == FORMAT_VERSION == 5
    assert FILE[2:10] == MODEL[:8]
    # flags: 3 axes, preset range, exact, clip, coder word, size; family sd1 (2), conditioned,
    # dyadic times, first time written, options
    assert FILE[10:12] == bytes([0b10_00_1_1_1_1, 0b010_1_1_1_1_0])
    assert FILE[12] == 3 and FILE[13:21] == PROMPT[:8]  # conditioning kind "prompt", digest prefix
    # options: prompt and guidance; 7.5 = 75 x 10^-1 as zigzag varints (150, 1); the prompt's 10
    # UTF-8 bytes, then its block: mode bit 0 (Huffman), 41 code bits, 6 zero bits (docs/container.md)
    assert FILE[21:26] == bytes([0xC0, 0x96, 0x01, 0x01, 10]) and FILE[26:32] == bytes.fromhex("20a990e29560")
    # coder word 3, dims 3 x 1 byte, size 2 x 1 byte, seed 2^63+5 in 10 varint bytes, stop step 1
    times_at = 32 + 3 + 3 + 2 + 10 + 1
    assert c.header_bytes == times_at + len(encode_header(HEADER)[times_at:])
    # records: varint length, message, 2-byte check; 200 and 130 need two varint bytes
    assert c.framing_bytes == (3, 3, 4, 4) == tuple(framing_bytes(len(m)) for m in MESSAGES)
    assert c.record_ends[-1] == len(FILE) == c.header_bytes + sum(map(len, MESSAGES)) + 14
    assert c.bits_through(4) == 8 * len(FILE)
    assert c.header.stop_step == 4 and c.header.time_codes(0) == (60000, 40000, 39991, 39691)


@pytest.mark.parametrize(("size", "limit"), [((64, 64), 33), ((128, 128), 33), ((256, 256), 35),
                                             ((512, 768), 34)])
def test_a_typical_header_is_at_most_35_bytes(size: tuple[int, int], limit: int) -> None:
    """A pixel model on the default table, 16 steps, default coder, the [-1, 1] preset, seed 0."""
    h = _pixel_header(size)
    assert h.first_time is None and h.size == size and h.stop_step == 16
    assert len(encode_header(h)) == limit
    assert read_container(write_container(h, [b"x"] * 16)).header == h


@pytest.mark.parametrize(("value_range", "extra"), [
    ((-1.0, 1.0), 0), ((0.0, 1.0), 0), ((-4.0, 4.0), 2), ((0.0, 255.0), 3), ((-0.5, 0.5), 16)])
def test_value_ranges_round_trip_compactly(value_range: tuple[float, float], extra: int) -> None:
    typical = _pixel_header((128, 128))
    h = replace(typical, value_range=value_range)
    assert len(encode_header(h)) == len(encode_header(typical)) + extra
    assert read_container(write_container(h, [b"x"] * 16)).header.value_range == value_range


def test_step_time_codes_round_trip() -> None:
    """Random gaps from 1 to the largest code, first times written or not, on both grids."""
    rng = random.Random(4)
    for _ in range(300):
        n = rng.randint(0, 40)
        gaps = tuple(rng.choice([1, 2, rng.randint(1, 1000), rng.randint(1, MAX_TIME_CODE // 64)])
                     for _ in range(n))
        first = rng.choice([None, sum(gaps) + rng.randint(0, 1000)])
        h = replace(HEADER, time_grid=rng.choice(["index", "dyadic"]), first_time=first, time_gaps=gaps)
        assert read_container(write_container(h, [b""] * h.stop_step)).header == h


def test_quantized_times_are_exact_and_inside_the_schedule() -> None:
    """Continuous times become multiples of 2^-16 (exact floats), moved into [t_min, t_max]; table
    indices stay; an ulp in a computed time changes the code only across a grid boundary."""
    grid, codes = quantize_times([1.0, 0.5 + 2**-18, 0.25 - 2**-40, 1e-9], False, 0.001, 1.0)
    assert grid == "dyadic" and codes == (65536, 32768, 16384, 66)  # 66 = ceil(0.001 * 2^16)
    assert [grid_time(q, grid) * 2**16 for q in codes] == list(codes)
    assert quantize_times([0.999], False, 1e-3, 0.999)[1] == (65470,) == (code_range(1e-3, 0.999, grid)[1],)
    t = 0.3  # not on the grid: its neighbours one ulp away quantize alike
    neighbours = (math.nextafter(t, 0), t, math.nextafter(t, 1))
    assert {quantize_times([v], False, 0.0, 1.0)[1] for v in neighbours} == {(19661,)}
    assert quantize_times([999.0, 500.0, 3.0], True, 0.0, 999.0) == ("index", (999, 500, 3))
    with pytest.raises(ValueError, match="same code"):
        quantize_times([0.5, 0.5 - 2**-20], False, 0.0, 1.0)


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
    (lambda b: b[:1] + bytes([6]) + b[2:], "version 6"),
    (lambda b: b[:-3] + bytes([b[-3] ^ 0x10]) + b[-2:], "check mismatch in step 3"),
    (lambda b: b + b"\x00", "trailing bytes"),
])
def test_corruptions_are_named(mutate: object, match: str) -> None:
    with pytest.raises(ContainerError, match=match):
        read_container(mutate(FILE))
    head = read_container(FILE).header_bytes
    with pytest.raises(ContainerError, match="check mismatch in step 0"):
        read_container(FILE[:head + 1] + bytes([FILE[head + 1] ^ 1]) + FILE[head + 2:])


def test_records_are_bound_to_their_header_and_position() -> None:
    """The header of one file with the records of another (another seed) is refused, and so are
    records in another order, although every record is intact."""
    other_header = replace(HEADER, seed=1)
    other = write_container(other_header, MESSAGES)
    head = len(encode_header(HEADER))
    spliced = FILE[:head] + other[len(encode_header(other_header)):]
    with pytest.raises(ContainerError, match="check mismatch in step 0"):
        read_container(spliced)
    swapped = write_container(HEADER, (MESSAGES[1], MESSAGES[0], *MESSAGES[2:]))
    records = read_container(swapped).record_ends
    reordered = FILE[:head] + swapped[records[0]:records[1]] + swapped[head:records[0]] + swapped[records[1]:]
    with pytest.raises(ContainerError, match="check mismatch in step 0"):
        read_container(reordered)


def _records(data: bytes) -> tuple[bytes, list[bytes]]:
    c = read_container(data)
    starts = (c.header_bytes, *c.record_ends[:-1])
    return data[:c.header_bytes], [data[a:b] for a, b in zip(starts, c.record_ends, strict=True)]


def test_splices_of_two_files_with_identical_headers_are_refused() -> None:
    """Issue 24: same header bytes (same size, seed 0), different records. Every mix of the two
    files' records, of every length, is refused unless it is a prefix of one of them, at the first
    record taken from the other file: its check follows the chain of its own file's records."""
    h = replace(HEADER, seed=0)
    a = write_container(h, MESSAGES)
    b = write_container(h, (b"\x07", b"\x08\x09", b"\x0a" * 5, b"\x0b" * 9))
    head, ra = _records(a)
    head_b, rb = _records(b)
    assert head == head_b and all(x != y for x, y in zip(ra, rb, strict=True))
    refused = 0
    for n in range(1, 5):
        for choice in itertools.product((0, 1), repeat=n):
            mix = head + b"".join((ra, rb)[c][k] for k, c in enumerate(choice))
            if len(set(choice)) == 1:
                assert read_container(mix).n_steps == n
                continue
            switch = choice.index(1 - choice[0])  # the first record from the other file
            with pytest.raises(ContainerError, match=f"check mismatch in step {switch}:"):
                read_container(mix)
            refused += 1
    assert refused == sum(2**n - 2 for n in range(1, 5))


def test_non_canonical_spellings_are_refused() -> None:
    typical = _pixel_header((128, 128))
    head = encode_header(typical)
    body = encode_records(head, [b"x"] * 16)

    def refused(h: bytes, match: str) -> None:
        with pytest.raises(ContainerError, match=match):
            read_container(h + encode_records(h, [b"x"]))

    assert read_container(head + body).header == typical
    # the seed varint (0) spelled in two bytes: 0x80 0x00; it sits just before the stop step and times
    times = len(encode_header(replace(typical, time_gaps=())))  # header length up to the time block
    seed_at = times - 3
    assert head[seed_at] == 0
    refused(head[:seed_at] + b"\x80\x00" + head[seed_at + 1:], "non-minimal varint")
    # the default coder spelled out: pfr 0, pfr_lognormal 3, chunk 8 - 1, headroom 3, trials 3
    word = (3 << 20 | 7 << 15 | 3 << 10 | 3 << 6).to_bytes(3, "big")
    refused(head[:10] + bytes([head[10] | 2, head[11]]) + word + head[12:], "canonical")
    # the size spelled out although it is the array's
    refused(head[:10] + bytes([head[10] | 1, head[11]]) + head[12:15] + b"\x7f\x7f" + head[15:], "canonical")
    # one step: the time block is 4 bits of first Exp-Golomb order (0) and 4 padding bits
    one = encode_header(replace(typical, time_gaps=()))
    assert one[-1] == 0
    refused(one[:-1] + b"\x01", "canonical")  # a padding bit set
    refused(one[:-1] + b"\x10", "canonical")  # another first order than the cheapest


def test_impossible_fields_are_rejected() -> None:
    head = bytearray(encode_header(HEADER))
    head[32] |= 0xC0  # rule code 3 in the coder word
    with pytest.raises(ContainerError, match="unknown coder code"):
        read_container(bytes(head) + FILE[len(head):])
    for kind in (0, 5, 255):
        bad = FILE[:12] + bytes([kind]) + FILE[13:]
        with pytest.raises(ContainerError, match="unknown conditioning kind"):
            read_container(bad)
    with pytest.raises(ContainerError, match="a reserved flag bit"):
        read_container(FILE[:11] + bytes([FILE[11] | 1]) + FILE[12:])
    typical = encode_header(_pixel_header((64, 64), 1))
    with pytest.raises(ContainerError, match="stop step"):
        read_container(typical[:-2] + bytes([0x80, 0x20]) + bytes(20))  # stop step - 1 = 4096
    with pytest.raises(ContainerError, match="step-time code is too long"):
        read_container(typical[:-2] + bytes([1, 0]) + bytes(20))  # one gap, all zero bits
    with pytest.raises(ContainerError, match="below zero"):
        replace(HEADER, first_time=5, time_gaps=(1, 5))


def test_conditioning_options_round_trip_compactly() -> None:
    """Each option alone and together; the guidance scale as its shortest decimal, exactly."""
    base = replace(HEADER, prompt=None, guidance=None, conditioning="class")
    assert encode_header(base)[11] & 2 == 0 and len(encode_header(base)) == len(encode_header(HEADER)) - 11
    for options, extra in (({"class_label": 3}, 2), ({"class_label": 999, "guidance": 4.0}, 5),
                           ({"guidance": 0.30000000000000004}, 10), ({"guidance": -1e300}, 4)):
        h = replace(base, **options)
        assert len(encode_header(h)) == len(encode_header(base)) + extra
        assert read_container(write_container(h, MESSAGES)).header == h
    for prompt in ("a", "portrait of an old fisherman, highly detailed, oil painting",
                   "\u6771\u4eac\u306e\u591c", "x" * MAX_PROMPT_BYTES, "\x00\xff"):
        h = replace(HEADER, prompt=prompt)
        assert read_container(write_container(h, MESSAGES)).header.prompt == prompt


@pytest.mark.parametrize(("prompt", "block_bytes"), [
    ("a red barn", 6), ("a photograph of an astronaut riding a horse", 24),
    ("A high quality photo of a cat sitting on a windowsill, soft morning light, 35mm film", 50),
    ("portrait of an old fisherman, highly detailed, dramatic lighting, oil painting, by Rembrandt", 53),
    ("Aerial view of a coastal town at sunset, 4k, trending on artstation", 38),
    ("a bowl of ramen with a soft-boiled egg, chopsticks, steam, close-up, shallow depth of field", 55),
    ("\u6771\u4eac\u306e\u591c\u666f\u3001\u30cd\u30aa\u30f3\u3001\u96e8", 34),
    ("ein Hund spielt im Schnee, Fotografie", 22)])
def test_prompt_blocks_have_the_documented_sizes(prompt: str, block_bytes: int) -> None:
    """docs/container.md's table: the static Huffman code is part of the format; the block plus the
    present byte and the length varint is what a prompt adds to a header."""
    h = replace(HEADER, guidance=None, prompt=prompt)
    assert len(conditioning_record(h)) == 2 + block_bytes
    assert math.ceil(prompt_code.encoded_bits(prompt.encode()) / 8) == block_bytes


def test_corrupted_prompts_and_options_are_named() -> None:
    def refused(data: bytes, match: str) -> None:
        with pytest.raises(ContainerError, match=match):
            read_container(data)

    refused(FILE[:21] + b"\x00" + FILE[22:], "options byte 0x00")
    refused(FILE[:21] + b"\x10" + FILE[22:], "options byte 0x10")
    plain = encode_header(replace(HEADER, conditioning="none", conditioning_id=b"", prompt=None,
                                  guidance=None))
    refused(plain[:11] + bytes([plain[11] | 2]) + plain[12:], "options without a conditioning")
    refused(FILE[:25] + b"\xff\x7f" + FILE[26:], "a prompt of 16383 bytes, more than 4096")
    # a raw block (mode bit 1) of 6 bytes that are not UTF-8
    cjk = encode_header(replace(HEADER, prompt="\u6771\u4eac"))
    assert cjk[25] == 6 and cjk[26] >> 7 == 1  # 6 UTF-8 bytes, written raw (shorter than Huffman)
    block = ((1 << 48 | int.from_bytes(b"\xff" * 6, "big")) << 7).to_bytes(7, "big")
    refused(cjk[:26] + block + cjk[33:], "the prompt is not valid UTF-8")
    # every single bit flip in the prompt's bytes is refused (a parse error, another spelling, or
    # the chain: the header's bytes key every record's check)
    for pos in range(26, 32):
        for bit in range(8):
            bad = bytearray(FILE)
            bad[pos] ^= 1 << bit
            refused(bytes(bad), "corrupted header|not valid UTF-8|canonical|check mismatch in step 0|"
                                "truncated")


def test_older_versions_are_refused_by_name() -> None:
    with pytest.raises(ContainerError, match="DiffC v1 file; v1 files are no longer decoded"):
        read_container(b"DFC\x89\x01" + bytes(200))
    for version in (2, 3, 4):
        with pytest.raises(ContainerError, match=f"DiffC v{version} file; v{version} files are no longer "
                                                 "decoded by this version, which reads v5 only.*re-encode"):
            read_container(MAGIC + bytes([version]) + FILE[2:])


def test_identity_checks_name_both_sides() -> None:
    check_identity(HEADER, "sd1", "prompt", PROMPT, MODEL, "here")
    other = hashlib.sha256(b"other").digest()
    with pytest.raises(ContainerError, match="wrong model family: the file was encoded with a sd1 model; "
                                             r"this model \(here\) is flux"):
        check_identity(HEADER, "flux", "prompt", PROMPT, MODEL, "here")
    with pytest.raises(ContainerError, match=f"wrong conditioning: .* prompt {PROMPT[:8].hex()}...; this "
                                             f"model is conditioned on prompt {other.hex()}"):
        check_identity(HEADER, "sd1", "prompt", other, MODEL)
    with pytest.raises(ContainerError, match="conditioning prompt .* conditioned on empty-prompt"):
        check_identity(HEADER, "sd1", "empty-prompt", PROMPT, MODEL)
    with pytest.raises(ContainerError, match=f"wrong model: .* model {MODEL[:8].hex()}...; this model is "
                                             f"{other.hex()}"):
        check_identity(HEADER, "sd1", "prompt", PROMPT, other)
    plain = replace(HEADER, conditioning="none", conditioning_id=b"", prompt=None, guidance=None)
    with pytest.raises(ContainerError, match="encoded with conditioning none; this model is conditioned "
                                             "on class"):
        check_identity(plain, "sd1", "class", PROMPT, MODEL)


def test_writer_and_header_reject_inconsistent_input() -> None:
    with pytest.raises(ValueError, match="header says 4 steps"):
        write_container(HEADER, MESSAGES[:2])
    for change in ({"model_fingerprint": MODEL}, {"value_range": (1.0, 0.0)}, {"value_range": ("a", 1.0)},
                   {"time_gaps": (1.5,)}, {"time_gaps": (1,) * MAX_STEPS}, {"time_gaps": (0,)},
                   {"first_time": -1}, {"first_time": 3}, {"seed": -1}, {"seed": 2.0},
                   {"shape": (0, 3)}, {"shape": (2**16, 2**16)}, {"shape": (1,) * 5}, {"clip": 1},
                   {"channel": "pfr"}, {"family": "sd4"}, {"conditioning": "none"},
                   {"conditioning_id": b""}, {"time_grid": "seconds"}, {"size": (0, 4)}, {"size": (4,)},
                   {"prompt": None}, {"prompt": ""}, {"prompt": 3}, {"prompt": "\ud800"},
                   {"prompt": "x" * (MAX_PROMPT_BYTES + 1)}, {"conditioning": "class"}, {"class_label": 3},
                   {"guidance": float("nan")}, {"guidance": "2"}, {"guidance": True}):
        with pytest.raises(ContainerError):
            replace(HEADER, **change)


def test_counts_must_be_integers() -> None:
    for bad in (2.0, 1.5, True, "2", float("nan")):
        with pytest.raises(ValueError, match="n_steps must be an integer"):
            truncate(FILE, bad)
    with pytest.raises(ValueError, match=r"n_steps must be in \[1, 4\]"):
        truncate(FILE, 5)
    assert checked_int(3, "x", 0, 3) == 3


def test_max_message_bytes_is_the_longest_message_whose_record_fits() -> None:
    edges = [8 * (127 + framing_bytes(127)) + 7, 8 * (128 + framing_bytes(128)), 1e6 + 0.5]
    for bits in [*range(0, 2000, 3), *edges]:
        fits = [n for n in range(int(bits) // 8 + 1) if 8 * (n + framing_bytes(n)) <= bits]
        assert max_message_bytes(bits) == (max(fits) if fits else -1)
