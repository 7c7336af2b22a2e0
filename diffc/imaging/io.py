"""Image I/O for DiffC: 8-bit photographs in, PNG out, and the padding rule of the codec.

Reading (Pillow): the formats of :data:`READ_FORMATS` (PNG, JPEG, WebP, GIF, TIFF, BMP), as 8-bit
RGB ``(H, W, 3)`` or grayscale ``(H, W)`` ``uint8`` arrays. Files are untrusted input, and
:func:`read_image` answers every bad one with :class:`ImageError` (one line):

- **Formats the fuzz suite covers, no others.** Pillow would open some forty formats (and hand EPS to
  Ghostscript); each format's decoder is attack surface, so the reader opens only those that
  ``tests/test_fuzz_images.py`` fuzzes with 10,000 inputs each, and refuses the rest by name.

- **Size first.** The header's size is checked against ``max_pixels`` (:data:`MAX_PIXELS`, the
  codec's limit, docs/inputs.md) *before* any pixel is decoded, so a 370-byte PNG that claims
  100000 x 100000 pixels is refused at once; Pillow's own decompression-bomb error and warning
  are turned into the same error.
- **What is converted, with a warning** (a note on stderr from the command line): 16-bit images,
  RGB and grayscale alike, to their 8 most significant bits (Pillow's own rule for 16-bit RGB); an
  animation to its first frame; CMYK to RGB (Pillow's naive conversion); a fully opaque alpha
  channel is dropped (no information is lost). The EXIF orientation is applied, as viewers do.
- **What is refused**: float and 32-bit integer images, transparency (a DiffC model has no alpha
  channel), zero-size images, files Pillow cannot decode (truncated, garbage).

Palette and bilevel images are expanded to RGB or grayscale. :func:`match_channels` gives a
grayscale image the three channels of an RGB model (with a warning); the reverse would lose colour
and is refused.

Padding: networks need sizes divisible by a power of two; :func:`pad` reflects the image to the
next multiple (never resizes) and :func:`crop` cuts the decoded image back to the original size.
Reflection is numpy's ``mode="reflect"`` (the border pixel is not repeated), applied repeatedly
when the padding is larger than the image, and ``"edge"`` for a one-pixel-wide side.
:func:`centre_crop` takes the central square of a photograph (the demo's and benchmarks' inputs).

Writing: :func:`encode_png` and :func:`write_png` store a ``uint8`` array losslessly.
"""

from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np

__all__ = ["MAX_PIXELS", "READ_FORMATS", "ImageError", "as_image", "centre_crop", "channels_first",
           "channels_last", "crop", "encode_png", "match_channels", "pad", "read_image", "write_png"]

MAX_PIXELS = 1024 * 1024
"""The most pixels an image may have (the codec's limit too): what the default model compresses
within the memory budget that docs/inputs.md states and measures."""


READ_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "TIFF", "BMP")
"""The Pillow formats :func:`read_image` opens (docs/inputs.md)."""


class ImageError(ValueError):
    """The input is not an 8-bit RGB or grayscale image the codec can take."""


def as_image(array: np.ndarray, name: str = "image") -> np.ndarray:
    """The one image contract of the image layer: a non-empty ``uint8`` array ``(H, W)``,
    ``(H, W, 1)`` (returned as ``(H, W)``) or ``(H, W, 3)``; ``TypeError`` for a non-array,
    :class:`ImageError` otherwise."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(array).__name__}")
    if array.dtype != np.uint8:
        raise ImageError(f"{name} must be an 8-bit image (uint8), got dtype {array.dtype}")
    a = array[:, :, 0] if array.ndim == 3 and array.shape[2] == 1 else array
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        rgba = " (RGBA: drop or composite the alpha channel first)" if a.ndim == 3 and a.shape[2] == 4 else ""
        raise ImageError(f"{name} must have shape (H, W), (H, W, 1) or (H, W, 3), got {a.shape}{rgba}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ImageError(f"{name} is empty ({a.shape[0]}x{a.shape[1]} pixels)")
    return a


def _is_16_bit(img: object) -> bool:
    """Whether Pillow will decode ``img`` from 16-bit samples (before ``load``: the tile's raw mode).
    16-bit grayscale has a mode of its own; 16-bit RGB is silently read as ``"RGB"``."""
    return img.mode.startswith("I;16") or any(";16" in str(tile.args) for tile in getattr(img, "tile", ()))


def _from_pil(img: object, name: str) -> np.ndarray:
    mode = img.mode
    if mode.startswith("I;16"):
        return as_image((np.asarray(img).astype(np.uint16) >> 8).astype(np.uint8))
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        img = img.convert("LA" if mode == "LA" else "RGBA")
        alpha = np.asarray(img)[..., -1]
        if np.any(alpha != 255):
            raise ImageError(f"{name} has transparent pixels (an alpha channel): DiffC models code RGB "
                             f"or grayscale only; flatten it onto a background first")
        warnings.warn(f"{name}: dropping a fully opaque alpha channel", stacklevel=3)
        img = img.convert("L" if mode == "LA" else "RGB")
    elif mode == "CMYK":
        warnings.warn(f"{name}: converting CMYK to RGB", stacklevel=3)
        img = img.convert("RGB")
    elif mode in ("P", "1"):
        img = img.convert("RGB" if mode == "P" else "L")
    elif mode not in ("RGB", "L"):
        raise ImageError(f"{name} is a {mode!r} image; the codec takes 8-bit RGB or grayscale")
    return as_image(np.asarray(img, dtype=np.uint8))


def _check_pixels(name: str, size: tuple[int, int], max_pixels: int | None) -> None:
    width, height = size
    if width == 0 or height == 0:
        raise ImageError(f"{name} is empty ({width}x{height} pixels)")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageError(f"{name} is {width}x{height} pixels, more than the limit of {max_pixels} "
                         f"(docs/inputs.md); crop or tile it first")


def read_image(path: str | Path | BinaryIO, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """Read an image file (a path, or a binary file object such as ``io.BytesIO``) into a ``uint8``
    array ``(H, W)`` or ``(H, W, 3)`` (see the module docstring for what is converted and what
    refused). ``max_pixels``: the largest width x height accepted, checked on the header before
    decoding (None: Pillow's own limit only)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(path, str | Path):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such image file")
    name = str(path) if isinstance(path, Path) else str(getattr(path, "name", "image"))
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice it; a bomb is an error at any size.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=READ_FORMATS) as img:
                _check_pixels(name, img.size, max_pixels)
                frames = getattr(img, "n_frames", 1) if getattr(img, "is_animated", False) else 1
                deep = _is_16_bit(img)
                img.load()
                upright = ImageOps.exif_transpose(img)
                array = _from_pil(upright, name)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(f"{name} is too large to decode safely: {err}") from err
    except UnidentifiedImageError as err:
        raise ImageError(f"{name} is not a readable image (not {', '.join(READ_FORMATS)}, or damaged "
                         f"beyond recognition)") from err
    except (OSError, SyntaxError, EOFError, ValueError, TypeError, IndexError, struct.error) as err:
        # Pillow reports truncated or malformed data under all of these (a damaged TIFF header gives
        # TypeError or ValueError, a damaged GIF frame IndexError, a short header field struct.error:
        # tests/test_fuzz_images.py); each means "not a readable image".
        raise ImageError(f"{name} is not a readable image: {' '.join(str(err).split())}") from err
    if frames > 1:
        warnings.warn(f"{name}: an animation of {frames} frames; coding its first frame only", stacklevel=2)
    if deep:
        warnings.warn(f"{name}: a 16-bit image; coding its 8 most significant bits", stacklevel=2)
    return array


def match_channels(image: np.ndarray, channels: int, name: str = "image") -> np.ndarray:
    """``image`` with the ``channels`` a model codes: a grayscale image is repeated into RGB for a
    3-channel model (with a warning); an RGB image for a 1-channel model is refused (colour would
    be lost), as is any other mismatch."""
    image = as_image(image, name)
    have = 1 if image.ndim == 2 else image.shape[2]
    if have == channels:
        return image
    if have == 1 and channels == 3:
        warnings.warn(f"{name}: a grayscale image; the model codes RGB, so it is coded as RGB with equal "
                      f"channels", stacklevel=2)
        return np.repeat(image[:, :, None], 3, axis=2)
    raise ImageError(f"{name} has {have} channel(s); the model codes {channels}-channel images")


def encode_png(image: np.ndarray) -> bytes:
    """A ``uint8`` image as the bytes of a lossless PNG file."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(as_image(image)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Write a ``uint8`` image losslessly as PNG."""
    Path(path).write_bytes(encode_png(image))


def channels_first(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` or ``(H, W, C)`` to ``(C, H, W)``."""
    image = as_image(image)
    return image[None] if image.ndim == 2 else np.moveaxis(image, -1, 0)


def channels_last(array: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` to ``(H, W, C)``, or ``(H, W)`` for one channel."""
    return array[0] if array.shape[0] == 1 else np.moveaxis(array, 0, -1)


def pad(array: np.ndarray, multiple: int) -> np.ndarray:
    """Reflect-pad the last two axes of ``array`` up to multiples of ``multiple`` (bottom and right)."""
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    for axis in (-2, -1):
        n = array.shape[axis]
        widths = [(0, 0)] * array.ndim
        widths[axis] = (0, -n % multiple)
        array = np.pad(array, widths, mode="reflect" if n > 1 else "edge")
    return array


def crop(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The top-left ``size = (H, W)`` of the last two axes (undoes :func:`pad`)."""
    return array[..., : size[0], : size[1]]


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central ``size x size`` pixels (or the whole side when the image is smaller)."""
    h, w = image.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return image[top:top + size, left:left + size]
