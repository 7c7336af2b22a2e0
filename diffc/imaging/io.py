"""Image I/O for DiffC: 8-bit photographs in, PNG out, and the padding rule of the codec.

Reading (Pillow): PNG, JPEG, WebP, TIFF and anything else Pillow opens, as 8-bit RGB ``(H, W, 3)``
or grayscale ``(H, W)`` ``uint8`` arrays. What is not an 8-bit RGB or grayscale photograph is a
clear :class:`ImageError`: 16-bit and float images, zero-size images, files Pillow cannot decode.
An alpha channel is dropped with a warning when it is fully opaque (no information is lost) and
refused otherwise, since a DiffC model has no alpha channel. Palette and bilevel images are expanded
to RGB or grayscale; CMYK is converted to RGB with a warning (Pillow's naive conversion).

Padding: networks need sizes divisible by a power of two; :func:`pad` reflects the image to the
next multiple (never resizes) and :func:`crop` cuts the decoded image back to the original size.
Reflection is numpy's ``mode="reflect"`` (the border pixel is not repeated), applied repeatedly
when the padding is larger than the image, and ``"edge"`` for a one-pixel-wide side.
:func:`centre_crop` takes the central square of a photograph (the demo's and benchmarks' inputs).

Writing: :func:`encode_png` and :func:`write_png` store a ``uint8`` array losslessly.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

__all__ = ["ImageError", "as_image", "centre_crop", "channels_first", "channels_last", "crop", "encode_png",
           "pad", "read_image", "write_png"]


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


def _from_pil(img: object, name: str) -> np.ndarray:
    mode = img.mode
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


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file into a ``uint8`` array ``(H, W)`` or ``(H, W, 3)``."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    try:
        with Image.open(path) as img:
            img.load()
            if img.size[0] == 0 or img.size[1] == 0:
                raise ImageError(f"{path} is empty ({img.size[0]}x{img.size[1]} pixels)")
            return _from_pil(img, str(path))
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        # Pillow reports truncated or unknown data as OSError/SyntaxError; both mean "not an image".
        raise ImageError(f"{path} is not a readable image: {err}") from err


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
