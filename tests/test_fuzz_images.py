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

from diffc.imaging.io import MAX_PIXELS, ImageError, match_channels, read_image
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


def _fuzz(tmp_path: Path, decoded: list, fmt: str, n: int, seed: int) -> None:
    """Mutated files either read as a uint8 image no larger than the limit or raise ImageError;
    nothing larger than the limit is ever decoded (a small limit makes that strict here)."""
    limit = 64 * 64
    rng = np.random.default_rng(seed)
    inputs = _mutations(_samples()[fmt], rng, n) + [b"", b"\x00" * 64, rng.bytes(300)]
    path = tmp_path / f"x.{fmt.lower()}"
    refused = 0
    for data in inputs:
        path.write_bytes(data)
        try:
            image = read_image(path, max_pixels=limit)
        except ImageError as err:
            assert "\n" not in str(err)
            refused += 1
            continue
        assert image.dtype == np.uint8 and image.shape[0] * image.shape[1] <= limit
    assert refused > 0
    assert all(w * h <= limit for w, h in decoded)


FORMATS = ["PNG", "JPEG", "WEBP", "GIF", "TIFF", "BMP"]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("fmt", FORMATS)
def test_damaged_files_read_or_fail_with_image_error_only(tmp_path: Path, decoded: list, fmt: str) -> None:
    _fuzz(tmp_path, decoded, fmt, 150, 24)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("fmt", FORMATS)
def test_damaged_files_many(tmp_path: Path, decoded: list, fmt: str) -> None:
    """2,000 mutations a format (a damaged TIFF header once escaped as TypeError and ValueError)."""
    _fuzz(tmp_path, decoded, fmt, 2000, 7)


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
