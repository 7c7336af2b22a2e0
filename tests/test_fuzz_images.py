"""Images as untrusted input (issue 24): bombs, oversize, truncated and garbage files, 16-bit,
animated and EXIF-rotated images, and the failures of a sweep and of a full disk.

Every refusal is an :class:`ImageError` and happens before Pillow decodes a pixel: the tests count
the decoder's ``load`` calls and record the size of every image it decodes, so "no refusal slower
than a second" and "nothing over the memory budget" hold by construction (no wall-clock asserts).
"""

from __future__ import annotations

import errno
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_unet import smooth_image

from diffc.imaging.io import MAX_PIXELS, READ_FORMATS, ImageError, match_channels, read_image
from rcc.experiments import atomic_write


def png(width: int, height: int, depth: int = 8, colour: int = 2, raw: bytes = b"") -> bytes:
    """A PNG from its header fields and raw (filtered) scanlines; any size the header may claim."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("size", [(100_000, 100_000), (1, Image.MAX_IMAGE_PIXELS + 1),
                                  (1, 2 * Image.MAX_IMAGE_PIXELS + 1), (MAX_PIXELS + 1, 1)])
def test_bombs_are_refused_from_the_header(tmp_path: Path, decoded: list, size: tuple[int, int]) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png(*size))
    assert path.stat().st_size < 100
    with pytest.raises(ImageError, match="limit"):  # ours, or Pillow's (it checks on opening)
        read_image(path)
    assert decoded == []


@pytest.mark.parametrize("size", [(1, Image.MAX_IMAGE_PIXELS + 1), (1, 2 * Image.MAX_IMAGE_PIXELS + 1)])
def test_pillows_bomb_warning_and_error_are_image_errors(tmp_path: Path, decoded: list,
                                                         size: tuple[int, int]) -> None:
    """Without our limit, Pillow's own (a warning just over it, an error over twice it) still refuses."""
    path = tmp_path / "bomb.png"
    path.write_bytes(png(*size))
    with pytest.raises(ImageError, match="too large to decode safely"):
        read_image(path, max_pixels=None)
    assert decoded == []


def test_the_limit_is_inclusive_and_an_oversize_real_image_is_refused_undecoded(tmp_path: Path,
                                                                                decoded: list) -> None:
    side = int(MAX_PIXELS ** 0.5)
    Image.new("L", (side + 1, side)).save(tmp_path / "over.png")
    with pytest.raises(ImageError, match=f"{side + 1}x{side} pixels"):
        read_image(tmp_path / "over.png")
    assert decoded == []
    Image.new("L", (side, side)).save(tmp_path / "max.png")
    assert read_image(tmp_path / "max.png").shape == (side, side)


def _samples() -> dict[str, bytes]:
    image = smooth_image(24, 20)
    out = {}
    for fmt, options in (("PNG", {}), ("JPEG", {"quality": 80}), ("WEBP", {"quality": 60}), ("GIF", {}),
                         ("TIFF", {}), ("BMP", {})):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format=fmt, **options)
        out[fmt] = buffer.getvalue()
    return out


def _mutations(data: bytes, rng: np.random.Generator, n: int) -> list[bytes]:
    """Truncations, bit flips, overwritten runs, insertions and deletions of ``data``."""
    out = []
    for i in range(n):
        b = bytearray(data)
        kind = i % 5
        pos = int(rng.integers(0, len(b)))
        if kind == 0:
            b = b[:pos]
        elif kind == 1:
            for p in rng.integers(0, len(b), size=int(rng.integers(1, 8))):
                b[p] ^= 1 << int(rng.integers(0, 8))
        elif kind == 2:
            run = rng.integers(0, 256, size=int(rng.integers(1, 16)), dtype=np.uint8).tobytes()
            b[pos:pos + len(run)] = run
        elif kind == 3:
            b[pos:pos] = rng.integers(0, 256, size=int(rng.integers(1, 16)), dtype=np.uint8).tobytes()
        else:
            del b[pos:pos + int(rng.integers(1, 16))]
        out.append(bytes(b))
    return out


SIZE_BITS = {"PNG": 31, "JPEG": 16, "WEBP": 14, "GIF": 16, "TIFF": 32, "BMP": 31}
"""The width of each format's size fields (the values forged into them fit)."""


def _forge_size(data: bytes, fmt: str, width: int, height: int) -> bytes:
    """``data`` with its header's size fields set to ``width`` x ``height`` (a GIF's screen and
    first frame alike, a TIFF's as LONG; PNG's header CRC recomputed), as a forger would."""
    b = bytearray(data)
    if fmt == "PNG":
        b[16:24] = struct.pack(">II", width, height)
        b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])))
    elif fmt == "JPEG":
        at = b.index(b"\xff\xc0") + 5  # SOF0: length, precision, then height and width
        b[at:at + 4] = struct.pack(">HH", height, width)
    elif fmt == "WEBP":
        at = b.index(b"\x9d\x01\x2a") + 3  # the VP8 key frame's start code, then 14-bit sizes
        b[at:at + 4] = struct.pack("<HH", width, height)
    elif fmt == "GIF":
        b[6:10] = struct.pack("<HH", width, height)
        at = 13 + (3 << (b[10] & 7) + 1 if b[10] & 0x80 else 0)  # past the global colour table
        while b[at] == 0x21:  # extension blocks: label, then sub-blocks to a zero length
            at += 2
            while b[at]:
                at += b[at] + 1
            at += 1
        b[at + 5:at + 9] = struct.pack("<HH", width, height)  # image descriptor: left, top, size
    elif fmt == "TIFF":
        ifd = struct.unpack_from("<I", b, 4)[0]
        for k in range(struct.unpack_from("<H", b, ifd)[0]):
            entry = ifd + 2 + 12 * k
            tag = struct.unpack_from("<H", b, entry)[0]
            if tag in (256, 257):  # ImageWidth, ImageLength
                b[entry + 2:entry + 12] = struct.pack("<HII", 4, 1, width if tag == 256 else height)
    else:  # BMP: signed 32-bit width and height (a negative height is a top-down image)
        b[18:26] = struct.pack("<ii", width, -height if height & 1 else height)
    return bytes(b)


def _claims(fmt: str, rng: np.random.Generator, n: int, limit: int) -> list[tuple[int, int]]:
    """Sizes to forge: edge values (empty, the limit's edges, the fields' maxima) and random ones
    of every magnitude the field holds."""
    top = (1 << SIZE_BITS[fmt]) - 1
    side = int(limit ** 0.5)
    edges = [0, 1, 2, side - 1, side, side + 1, limit, limit + 1, 255, 256, 4096, 65535, top]
    out = []
    for _ in range(n):
        width, height = (int(rng.choice(edges)) if rng.random() < 0.5
                         else int(rng.integers(1, 1 << int(rng.integers(1, SIZE_BITS[fmt] + 1))))
                         for _ in range(2))
        out.append((min(width, top), min(height, top)))
    return out


def _fuzz(decoded: list, fmt: str, n_damaged: int, n_forged: int, seed: int) -> None:
    """Damaged files and files whose header claims another size either read as a uint8 image no
    larger than the limit or raise ImageError (one line); nothing larger than the limit is ever
    decoded (a small limit makes that strict here), and a header that claims more than the limit is
    refused with no decode at all: a refusal costs one header parse (docs/inputs.md times it)."""
    limit = 64 * 64
    rng = np.random.default_rng(seed)
    sample = _samples()[fmt]
    claims = _claims(fmt, rng, n_forged, limit)
    inputs = ([(data, None) for data in _mutations(sample, rng, n_damaged)]
              + [(_forge_size(sample, fmt, w, h), w * h) for w, h in claims]
              + [(b"", None), (b"\x00" * 64, None), (rng.bytes(300), None)])
    refused = read = 0
    for data, claim in inputs:
        loads = len(decoded)
        try:
            image = read_image(io.BytesIO(data), max_pixels=limit)
        except ImageError as err:
            assert "\n" not in str(err)
            # a claim over the limit is refused by the size check, before any decode
            assert claim is None or claim <= limit or ("limit" in str(err) and len(decoded) == loads), claim
            refused += 1
            continue
        read += 1
        assert claim is None or claim <= limit, claim
        assert image.dtype == np.uint8 and image.shape[0] * image.shape[1] <= limit
    assert refused > 0 and read > 0 and len(inputs) == n_damaged + n_forged + 3
    assert all(w * h <= limit for w, h in decoded)


FORMATS = list(READ_FORMATS)


def test_the_reader_opens_only_the_fuzzed_formats(tmp_path: Path) -> None:
    """Pillow opens some forty formats; the reader only those fuzzed here."""
    assert set(_samples()) == set(READ_FORMATS) == set(SIZE_BITS)
    for fmt in ("PPM", "TGA", "PCX", "SGI"):
        path = tmp_path / f"x.{fmt.lower()}"
        Image.fromarray(smooth_image(8, 8)).save(path, format=fmt)
        with pytest.raises(ImageError, match="not a readable image .not PNG, JPEG"):
            read_image(path)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("fmt", FORMATS)
def test_damaged_and_forged_files_read_or_fail_with_image_error_only(decoded: list, fmt: str) -> None:
    _fuzz(decoded, fmt, 150, 150, 24)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("fmt", FORMATS)
def test_damaged_and_forged_files_many(decoded: list, fmt: str) -> None:
    """10,003 inputs a format: 4,000 damaged files, 6,000 forged sizes (a damaged TIFF header once
    escaped as TypeError and ValueError)."""
    _fuzz(decoded, fmt, 4000, 6000, 7)


def test_16_bit_rgb_and_grayscale_are_both_reduced_to_8_bits_with_a_warning(tmp_path: Path) -> None:
    values = (np.arange(4 * 5 * 3).reshape(4, 5, 3) * 1000 + 7).astype(np.uint16)
    rgb_rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in values)
    gray_rows = b"".join(b"\x00" + row[:, 0].astype(">u2").tobytes() for row in values)
    (tmp_path / "rgb16.png").write_bytes(png(5, 4, 16, 2, rgb_rows))
    (tmp_path / "gray16.png").write_bytes(png(5, 4, 16, 0, gray_rows))
    with pytest.warns(UserWarning, match="16-bit"):
        rgb = read_image(tmp_path / "rgb16.png")
    with pytest.warns(UserWarning, match="16-bit"):
        gray = read_image(tmp_path / "gray16.png")
    np.testing.assert_array_equal(rgb, (values >> 8).astype(np.uint8))
    np.testing.assert_array_equal(gray, (values[..., 0] >> 8).astype(np.uint8))


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animations_code_their_first_frame_with_a_warning(tmp_path: Path, fmt: str) -> None:
    frames = [Image.fromarray(np.full((6, 7, 3), v, np.uint8)) for v in (40, 200, 120)]
    path = tmp_path / f"anim.{fmt.lower()}"
    frames[0].save(path, format=fmt, save_all=True, append_images=frames[1:], duration=100,
                   **({"lossless": True} if fmt == "WEBP" else {}))
    with pytest.warns(UserWarning, match="animation of 3 frames"):
        image = read_image(path)
    assert image.shape == (6, 7, 3) and abs(int(image.mean()) - 40) <= 2


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation_is_applied(tmp_path: Path, fmt: str) -> None:
    """Orientation 6: the stored pixels are shown rotated 90 degrees clockwise, as viewers do."""
    stored = np.zeros((8, 16, 3), np.uint8)
    stored[:, :8] = 255  # the left half white
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / f"rot.{fmt.lower()}"
    Image.fromarray(stored).save(path, format=fmt, exif=exif, **({"quality": 95} if fmt == "JPEG" else {}))
    image = read_image(path)
    assert image.shape == (16, 8, 3)
    assert image[:4].mean() > 200 and image[-4:].mean() < 50  # the white half is now on top


def test_grayscale_is_coded_as_rgb_for_an_rgb_model_and_rgb_is_refused_by_a_gray_one() -> None:
    gray = smooth_image(5, 6, channels=1)
    with pytest.warns(UserWarning, match="grayscale"):
        rgb = match_channels(gray, 3)
    assert rgb.shape == (5, 6, 3) and all(np.array_equal(rgb[..., c], gray) for c in range(3))
    with pytest.raises(ImageError, match="3 channel"):
        match_channels(smooth_image(5, 6), 1)
    assert match_channels(gray, 1) is gray


def test_a_full_disk_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(self: Path, data: bytes) -> int:
        with open(self, "wb") as f:
            f.write(data[:0])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OSError, match="No space"):
        atomic_write(tmp_path / "jobs" / "a.json", b"{}")
    assert list((tmp_path / "jobs").iterdir()) == []
