"""Fuzzing the refine file's decoder (issue 24): :meth:`diffc.refine.codec.RefineCodec.read`, all that
``diffc refine decompress`` does with a file before the model runs (the side information, the
classical decoder, and for JPEG files the coefficient reader of the consistency projection).

Only ``ValueError`` may escape (:class:`SideInfoError` for the side information), with a one-line
message; nothing larger than :data:`MAX_PIXELS` is decoded (the tests record the size of every
image Pillow loads, before and after), and a header that claims more is refused before any pixel
or coefficient array is allocated (tracemalloc's peak stays far below one such array). So a refusal
costs one header parse: refusal times are measured in docs/inputs.md, not asserted here.

A seeded corpus, the same on every run: truncations and bit flips of whole files (the CRC-32
refuses them all), splices of two files, side-information fields forged behind a recomputed CRC
(codec ids, versions, fingerprints, seeds, overlong and endless varints), classical files damaged
behind a recomputed CRC (so the damage reaches Pillow's decoders and the JPEG reader), a codec's
file under another codec's id, and headers forged to claim bombs and oversize images (JPEG SOF,
WebP VP8, AVIF ispe). The slow tier runs all of it (more than 10,000 inputs); the ordinary tier a
fixed tenth.
"""

from __future__ import annotations

import random
import struct
import tracemalloc
import zlib
from collections.abc import Iterator

import numpy as np
import pytest
from tiny_unet import save_tiny_model, smooth_image

from diffc.imaging.io import MAX_PIXELS
from diffc.models import load_model
from diffc.refine.codec import JPEG_CODECS, RefineCodec
from diffc.refine.sideinfo import CODECS, unpack

RESIGNED = ("side-information", "payload", "codec-swap", "bomb")
"""Corpus kinds whose CRC is recomputed after the forgery: the damage reaches the parsers behind it."""
BOMBS = ((65535, 65535), (16383, 16383), (1025, 1024), (16383, 65))
"""(width, height) claims, all above MAX_PIXELS and within 14-bit fields (WebP's) but the first; the
first two above Pillow's own bomb limits."""
JPEG_IDS = tuple(bytes([CODECS.index(c)]) for c in JPEG_CODECS)
"""The codec ids of JPEG files, which are read with the consistency projection's coefficient reader."""
BOMB_PEAK_BYTES = 8 << 20
"""tracemalloc's peak while a bomb is refused: far below one array of MAX_PIXELS pixels' blocks."""


@pytest.fixture(scope="module")
def refine(tmp_path_factory: pytest.TempPathFactory) -> RefineCodec:
    return RefineCodec(load_model(save_tiny_model(tmp_path_factory.mktemp("m"))), progress=False)


@pytest.fixture(scope="module")
def files(refine: RefineCodec) -> dict[str, bytes]:
    return make_files(refine)


def make_files(refine: RefineCodec) -> dict[str, bytes]:
    """A refine file of every classical codec available here (24 x 20 pixels, seed 300)."""
    from diffc.imaging.baselines import available_codecs

    image = smooth_image(20, 24)
    return {codec: refine.compress(image, codec, quality=40, seed=300).data
            for codec in CODECS if codec in available_codecs()}


def _split(data: bytes) -> tuple[bytes, bytes]:
    """A refine file's side information (without its CRC) and its classical file."""
    _, payload = unpack(data)
    return data[:len(data) - len(payload) - 4], payload


def _sign(head: bytes, payload: bytes) -> bytes:
    return head + struct.pack(">I", zlib.crc32(payload, zlib.crc32(head))) + payload


def _damage(data: bytes, rng: random.Random) -> bytes:
    """One to four overwrites, insertions, deletions or bit flips of 1..4 bytes, or a cut."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        pos, n, op = rng.randrange(len(data) + 1), rng.randint(1, 4), rng.randrange(5)
        if op == 0:
            data[pos:pos + n] = rng.randbytes(len(data[pos:pos + n]))
        elif op == 1:
            data[pos:pos] = rng.randbytes(n)
        elif op == 2:
            del data[pos:pos + n]
        elif op == 3 and pos < len(data):
            data[pos] ^= 1 << rng.randrange(8)
        else:
            del data[pos:]
        if not data:
            break
    return bytes(data)


def _claim(payload: bytes, codec: str, width: int, height: int) -> bytes | None:
    """``payload`` with its header's size fields set to ``width`` x ``height``, where this test
    knows where they are (None for JPEG XL, whose size header is bit-packed)."""
    data = bytearray(payload)
    if codec in JPEG_CODECS:
        at = data.index(b"\xff\xc0") + 5  # SOF0: length (2), precision (1), then height, width
        data[at:at + 4] = struct.pack(">HH", min(height, 65535), min(width, 65535))
    elif codec == "webp":
        at = data.index(b"\x9d\x01\x2a") + 3  # VP8 key frame start code, then 14-bit sizes
        data[at:at + 4] = struct.pack("<HH", min(width, 16383), min(height, 16383))
    elif codec == "avif":
        at = data.index(b"ispe") + 8  # image spatial extents: version and flags, then sizes
        data[at:at + 8] = struct.pack(">II", width, height)
    else:
        return None
    return bytes(data)


def corpus(files: dict[str, bytes], seed: int = 20261205) -> Iterator[tuple[str, bytes]]:
    """The seeded corpus: (kind, input) pairs, the same on every run."""
    rng = random.Random(seed)
    names = sorted(files)
    yield from (("bytes", b) for b in (b"", b"RF", b"RF\x01", b"RF" + bytes(20), rng.randbytes(64)))
    for name in names:
        f = files[name]
        yield from (("truncation", f[:n]) for n in range(len(f)))
        yield from (("bit-flip", f[:i // 8] + bytes([f[i // 8] ^ 1 << i % 8]) + f[i // 8 + 1:])
                    for i in range(8 * min(len(f), 64)))
    for _ in range(1500):
        yield "damage", _damage(files[rng.choice(names)], rng)
    for _ in range(300):
        x, y = (files[rng.choice(names)] for _ in range(2))
        yield "splice", x[:rng.randrange(len(x) + 1)] + y[rng.randrange(len(y) + 1):]
    for _ in range(1000):
        head, payload = _split(files[rng.choice(names)])
        head = bytearray(head)
        field = rng.randrange(6)
        if field == 0:
            head[2] = rng.choice([0, 2, 255])  # version
        elif field == 1:
            head[3] = rng.choice([len(CODECS), 255, rng.randrange(len(CODECS))])  # codec id
        elif field == 2:
            head[4:6] = struct.pack(">h", rng.choice([-(2**15), -(2**15) + 1, 0, 2**15 - 1]))  # level
        elif field == 3:
            head[6:10] = rng.randbytes(4)  # fingerprint
        elif field == 4:
            head[10:] = rng.choice([b"\x80" * 12, b"\xff" * 9 + b"\x7f", b"\xff" * 10 + b"\x01", b"\x80\x00"])
        else:
            head = _damage(bytes(head), rng)
        yield "side-information", _sign(bytes(head), payload)
    for i in range(8000):
        head, payload = _split(files[names[i % len(names)]])
        yield "payload", _sign(head, _damage(payload, rng))
    for a in names:
        for b in names:
            (head, _), (_, payload) = _split(files[a]), _split(files[b])
            yield "codec-swap", _sign(head, payload)
    for name in names:
        head, payload = _split(files[name])
        for width, height in BOMBS:
            forged = _claim(payload, name, width, height)
            if forged is not None:
                yield "bomb", _sign(head, forged)


def _read(refine: RefineCodec, data: bytes) -> bool:
    """Whether ``data`` reads; any failure other than a ValueError with a one-line message propagates."""
    try:
        info, plain, cells = refine.read(data, project=data[3:4] in JPEG_IDS)
    except ValueError as err:
        assert str(err) and "\n" not in str(err)
        return False
    assert plain.dtype == np.uint8 and plain.shape[0] * plain.shape[1] <= MAX_PIXELS
    assert cells is None or cells.coefficients.size == plain.shape[:2]
    return True


def _run(refine: RefineCodec, files: dict[str, bytes], inputs: Iterator[tuple[str, bytes]],
         decoded: list[tuple[int, int]]) -> dict[str, list[int]]:
    originals = set(files.values())
    counts: dict[str, list[int]] = {}
    for kind, data in inputs:
        if kind == "bomb":
            tracemalloc.start()
            ok = _read(refine, data)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert not ok and peak < BOMB_PEAK_BYTES, (data[:16], peak)
        else:
            ok = _read(refine, data)
        tally = counts.setdefault(kind, [0, 0, 0])  # inputs, read, read but damaged
        tally[0] += 1
        tally[1] += ok
        tally[2] += ok and data not in originals and kind not in RESIGNED
    assert all(w * h <= MAX_PIXELS for w, h in decoded)
    # a CRC-32 refuses every damaged file that was not re-signed (it misses one in 2^32)
    assert sum(s for _, _, s in counts.values()) == 0, counts
    return counts


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_seeded_corpus(refine: RefineCodec, files: dict[str, bytes], decoded: list[tuple[int, int]]) -> None:
    counts = _run(refine, files, corpus(files), decoded)
    assert sum(n for n, _, _ in counts.values()) >= 10_000, counts
    assert counts["truncation"][1] == 0 and counts["bomb"][0] >= 3 * len(BOMBS)
    # a codec's file read by another codec's decoder is refused: only the files themselves read, and
    # the two JPEG codecs' files under each other's id (one decoder)
    assert counts["codec-swap"][1] == len(files) + 2, counts


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_seeded_corpus_sample(refine: RefineCodec, files: dict[str, bytes],
                              decoded: list[tuple[int, int]]) -> None:
    counts = _run(refine, files, (item for i, item in enumerate(corpus(files)) if i % 10 == 0), decoded)
    assert sum(n for n, _, _ in counts.values()) >= 1_000, counts


def test_bombs_are_refused_before_decoding(refine: RefineCodec, files: dict[str, bytes],
                                           decoded: list[tuple[int, int]]) -> None:
    """Every forged size over the limit is refused from the header: by the size check where the
    forged fields are the size Pillow reports (JPEG, WebP, AVIF under libavif's own size limit), else
    by libavif's parser (an ispe box beyond its limit)."""
    bombs = [data for kind, data in corpus(files) if kind == "bomb"]
    assert len(bombs) >= 3 * len(BOMBS)
    for data in bombs:
        codec = CODECS[data[3]]
        refusal = "limit|too large" if codec != "avif" else "limit|cannot identify"
        with pytest.raises(ValueError, match=refusal):
            refine.read(data, project=codec in JPEG_CODECS)
    assert decoded == []


def test_the_jpeg_reader_checks_the_frame_before_allocating(files: dict[str, bytes]) -> None:
    """The coefficient reader has its own size check: a frame claiming 65535 x 65535 pixels would
    need 17 GB of blocks."""
    from diffc.refine.jpeg_coefficients import read_coefficients

    payload = _claim(_split(files["jpeg-420"])[1], "jpeg-420", 65535, 65535)
    with pytest.raises(ValueError, match="limit"):
        read_coefficients(payload, MAX_PIXELS)


def test_the_files_read(refine: RefineCodec, files: dict[str, bytes]) -> None:
    assert {"jpeg-420", "jpeg-444", "webp"} <= set(files)
    for data in files.values():
        assert _read(refine, data)
