"""Image I/O: formats in, PNG out, the RGBA/16-bit/empty refusals, padding and the pixel rounding rule."""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_unet import smooth_image

from diffc.imaging.io import ImageError, as_image, crop, pad, read_image, write_png
from diffc.models.pixel import pixels_to_unit, unit_to_pixels


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "WEBP", "JPEG"])
@pytest.mark.parametrize("channels", [1, 3])
def test_formats_read_as_uint8_with_their_shape(tmp_path: Path, fmt: str, channels: int) -> None:
    image = smooth_image(21, 34, channels)
    path = tmp_path / f"x.{fmt.lower()}"
    options = {"lossless": True} if fmt == "WEBP" else {}
    Image.fromarray(image).save(path, format=fmt, **options)
    back = read_image(path)
    assert back.dtype == np.uint8
    if fmt == "WEBP" and channels == 1:  # WebP has no grayscale mode: it comes back as gray RGB
        assert back.shape == (21, 34, 3) and np.array_equal(back[..., 0], image)
        return
    assert back.shape == image.shape
    if fmt != "JPEG":
        assert np.array_equal(back, image)


def test_png_round_trip_is_exact(tmp_path: Path) -> None:
    image = smooth_image(37, 53)
    write_png(tmp_path / "x.png", image)
    assert np.array_equal(read_image(tmp_path / "x.png"), image)


def test_opaque_alpha_is_dropped_with_a_warning(tmp_path: Path) -> None:
    rgb = smooth_image(8, 9)
    Image.fromarray(np.dstack([rgb, np.full((8, 9), 255, np.uint8)])).save(tmp_path / "a.png")
    with pytest.warns(UserWarning, match="alpha"):
        assert np.array_equal(read_image(tmp_path / "a.png"), rgb)


def test_transparent_rgba_is_refused(tmp_path: Path) -> None:
    rgba = np.dstack([smooth_image(8, 9), np.full((8, 9), 10, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "a.png")
    with pytest.raises(ImageError, match="alpha"):
        read_image(tmp_path / "a.png")


def test_float_and_garbage_and_missing_files_are_clear_errors(tmp_path: Path) -> None:
    Image.fromarray(np.full((4, 4), 0.5, np.float32)).save(tmp_path / "float.tiff")
    with pytest.raises(ImageError, match="8-bit"):
        read_image(tmp_path / "float.tiff")
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(ImageError, match="not a readable image"):
        read_image(tmp_path / "junk.png")
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "missing.png")


def zero_width_png() -> bytes:
    """A PNG whose header says 0 x 4 pixels (Pillow refuses to write one)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", 0, 4, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def test_zero_size_image_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(zero_width_png())
    with pytest.raises(ImageError):
        read_image(tmp_path / "empty.png")
    with pytest.raises(ImageError, match="empty"):
        as_image(np.zeros((0, 5, 3), np.uint8))


def test_arrays_are_checked() -> None:
    with pytest.raises(ImageError, match="uint8"):
        as_image(np.zeros((4, 4), np.float32))
    with pytest.raises(ImageError, match="RGBA"):
        as_image(np.zeros((4, 4, 4), np.uint8))
    assert as_image(np.zeros((4, 5, 1), np.uint8)).shape == (4, 5)


@pytest.mark.parametrize("size", [(37, 53), (1, 5), (3, 2), (16, 16)])
def test_reflect_padding_reaches_the_multiple_and_crops_back(size: tuple[int, int]) -> None:
    x = np.random.default_rng(0).normal(size=(3, *size))
    padded = pad(x, 8)
    assert padded.shape[1] % 8 == 0 and padded.shape[2] % 8 == 0
    assert np.array_equal(crop(padded, size), x)
    if size[1] > 1 and padded.shape[2] > size[1]:
        assert np.array_equal(padded[:, : size[0], size[1]], x[:, :, size[1] - 2])  # border not repeated


def test_pixel_mapping_inverts_exactly_and_rounds_to_nearest() -> None:
    u = np.arange(256, dtype=np.uint8)
    assert np.array_equal(unit_to_pixels(pixels_to_unit(u)), u)
    assert pixels_to_unit(u)[0] == -1.0 and pixels_to_unit(u)[-1] == 1.0
    half_step = 1.0 / 255.0
    x = pixels_to_unit(np.array([10, 10], np.uint8)) + np.array([0.49, 0.51]) * 2 * half_step
    assert unit_to_pixels(x).tolist() == [10, 11]
    assert unit_to_pixels(np.array([-3.0, 3.0])).tolist() == [0, 255]


def test_no_warning_for_plain_rgb(tmp_path: Path) -> None:
    write_png(tmp_path / "x.png", smooth_image(5, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_image(tmp_path / "x.png")
