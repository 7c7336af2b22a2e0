"""Classical baseline codecs (JPEG, WebP, AVIF, JPEG XL through Pillow) and bitrate matching.

Following CompressAI's ``utils/bench/codecs.py``, every classical codec sits behind one small abstract
class, :class:`Codec`: a name, a description, an integer quality range (higher is better) and
``encode(image, quality) -> bytes`` / ``decode(data) -> image`` on 8-bit numpy arrays, (H, W)
grayscale or (H, W, 3) RGB. All concrete codecs are instances of one class, :class:`PillowCodec`,
that differ only in the Pillow format and its save options:

- ``jpeg-420`` / ``jpeg-444``: baseline JPEG (libjpeg via Pillow) with 4:2:0 or 4:4:4 chroma
  subsampling and optimised Huffman tables (``cjpeg -optimize``), quality 1..100;
- ``webp``: lossy WebP (libwebp, always 4:2:0 YUV), quality 0..100;
- ``avif``: AVIF (Pillow's built-in libavif plugin, default speed 6 and 4:2:0), quality 0..100;
- ``jpeg-xl``: JPEG XL through ``pillow_jxl`` (libjxl VarDCT, effort 7), quality 0..99 (100 would
  be lossless, another mode).

:func:`available_codecs` lists only those that actually encode and decode a tiny image on this
machine (the formats are optional Pillow features and plugins; the probe subsumes
``PIL.features.check``). Exact: ``bpp = 8 * len(data) / (H * W)`` counts
the whole file the codec wrote, headers included (at 64x64 a JPEG header alone is ~0.1 bpp), as
CompressAI does. Approximate: :func:`match_bpp` can only reach the rates the integer quality axis
offers, and file size is *not* strictly monotone in quality for every codec (AVIF and JPEG XL map
quality to quantiser settings through rounding, and tiny images have flat stretches), so the
bisection is followed by a look at the neighbours of where it stopped; the reported bpp is always the
real one of the returned file, never the target. Times are wall-clock seconds of one call, Pillow's
array conversion included.

Grayscale: JPEG, AVIF and JPEG XL store grayscale natively and decode it as (H, W). WebP has no
grayscale mode; a grayscale image is coded as gray RGB (the near-constant chroma costs a few bytes)
and the decoder must be told to return luma: ``decode(data, gray=True)``. :func:`match_bpp` always
passes the input's kind, so its decoded image has the input's shape for every codec.
"""

from __future__ import annotations

import io
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from diffc.imaging.io import as_image

try:
    import pillow_jxl  # noqa: F401  (importing it registers the JXL format with Pillow)
except ImportError:  # optional: the `baselines` extra; jpeg-xl is then simply not available
    pass

__all__ = [
    "AVIF",
    "JPEG_420",
    "JPEG_444",
    "JPEG_XL",
    "WEBP",
    "BaselineResult",
    "Codec",
    "PillowCodec",
    "available_codecs",
    "match_bpp",
]


class Codec(ABC):
    """A lossy image codec with an integer quality knob (higher quality: more bytes, less distortion).

    Subclasses implement :meth:`_encode` and :meth:`_decode`; the public methods validate the input
    once for all of them and give the decoded image the requested kind.
    """

    name: str
    description: str
    quality_range: tuple[int, int]  # inclusive

    def encode(self, image: np.ndarray, quality: int) -> bytes:
        """Compress a uint8 (H, W) or (H, W, 3) image at ``quality`` into the codec's file format."""
        image = as_image(image)
        if isinstance(quality, bool) or not isinstance(quality, int | np.integer):
            raise TypeError(f"quality must be an integer, got {type(quality).__name__}")
        low, high = self.quality_range
        if not low <= quality <= high:
            raise ValueError(f"{self.name}: quality must be in [{low}, {high}], got {quality}")
        return self._encode(image, int(quality))

    def decode(self, data: bytes, gray: bool | None = None, max_pixels: int | None = None) -> np.ndarray:
        """Decompress ``data`` to a uint8 image.

        ``gray=None`` returns what the file stores; ``True`` returns (H, W) luma (needed for a
        grayscale image coded by a format without a grayscale mode, such as WebP); ``False`` returns
        (H, W, 3). Data that is not a file of this codec's format, or (for untrusted files) whose
        header claims more than ``max_pixels`` pixels, raises ``ValueError`` before a pixel is decoded.
        """
        decoded = self._decode(bytes(data), max_pixels)
        if gray is None or gray == (decoded.ndim == 2):
            return decoded
        mode = "L" if gray else "RGB"
        return np.asarray(Image.fromarray(decoded).convert(mode))

    @abstractmethod
    def _encode(self, image: np.ndarray, quality: int) -> bytes: ...

    @abstractmethod
    def _decode(self, data: bytes, max_pixels: int | None) -> np.ndarray: ...

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


@dataclass(frozen=True, repr=False)
class PillowCodec(Codec):
    """A codec that is one Pillow format plus fixed save options; ``quality`` is Pillow's own knob."""

    name: str
    description: str
    format: str
    quality_range: tuple[int, int]
    options: Mapping[str, Any] = field(default_factory=dict)
    grayscale_native: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    def _encode(self, image: np.ndarray, quality: int) -> bytes:
        picture = Image.fromarray(image)
        if image.ndim == 2 and not self.grayscale_native:
            # Explicit, so the coded colour model does not depend on what a Pillow version picks.
            picture = picture.convert("RGB")
        buffer = io.BytesIO()
        picture.save(buffer, format=self.format, quality=quality, **self.options)
        return buffer.getvalue()

    def _decode(self, data: bytes, max_pixels: int | None) -> np.ndarray:
        try:
            with Image.open(io.BytesIO(data), formats=[self.format]) as picture:
                width, height = picture.size
                if max_pixels is not None and width * height > max_pixels:
                    raise ValueError(f"{self.name}: the file claims {width}x{height} pixels, more than the "
                                     f"limit of {max_pixels}")
                picture.load()
                if picture.mode not in ("L", "RGB"):
                    picture = picture.convert("RGB")
                return np.asarray(picture)
        except (UnidentifiedImageError, OSError, SyntaxError, RuntimeError,
                Image.DecompressionBombError) as error:
            # Pillow reports truncated or foreign data as any of the first three, pillow_jxl as
            # RuntimeError, a file over twice its pixel limit as a bomb; callers get one error type.
            raise ValueError(f"{self.name}: cannot decode data as {self.format}: "
                             f"{' '.join(str(error).split())}") from error


JPEG_420 = PillowCodec(
    "jpeg-420",
    "JPEG (libjpeg), 4:2:0 chroma, optimised Huffman tables",
    "JPEG",
    (1, 100),
    {"subsampling": "4:2:0", "optimize": True},
)
JPEG_444 = PillowCodec(
    "jpeg-444",
    "JPEG (libjpeg), 4:4:4 chroma, optimised Huffman tables",
    "JPEG",
    (1, 100),
    {"subsampling": "4:4:4", "optimize": True},
)
WEBP = PillowCodec("webp", "WebP lossy (libwebp, 4:2:0)", "WEBP", (0, 100), grayscale_native=False)
AVIF = PillowCodec("avif", "AVIF (libavif via Pillow, speed 6, 4:2:0)", "AVIF", (0, 100))
JPEG_XL = PillowCodec("jpeg-xl", "JPEG XL (libjxl via pillow_jxl, VarDCT, effort 7)", "JXL", (0, 99))

_ALL: tuple[PillowCodec, ...] = (JPEG_420, JPEG_444, WEBP, AVIF, JPEG_XL)


def _works(codec: Codec) -> bool:
    probe = np.zeros((8, 8, 3), np.uint8)
    try:
        return codec.decode(codec.encode(probe, codec.quality_range[1])).shape == probe.shape
    except Exception:  # noqa: BLE001  any failure (missing plugin, encoder error) means "not here"
        return False


@cache
def available_codecs() -> Mapping[str, Codec]:
    """The codecs that encode and decode on this machine, by name, in a fixed order (probed once)."""
    return MappingProxyType({codec.name: codec for codec in _ALL if _works(codec)})


@dataclass(frozen=True)
class BaselineResult:
    """One coded image: the quality picked, the real rate of its file and the decoder's output."""

    codec: str
    quality: int
    bpp: float
    data: bytes = field(repr=False)
    decoded: np.ndarray = field(repr=False)
    encode_seconds: float
    decode_seconds: float


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def match_bpp(codec: Codec, image: np.ndarray, target_bpp: float) -> BaselineResult:
    """Code ``image`` at the quality whose real bpp is nearest ``target_bpp``.

    Bisection finds the lowest quality whose file reaches the target (assuming size grows with
    quality); because that is only mostly true, both qualities around the stopping point and their
    outer neighbours are compared and the nearest wins (ties: the lower quality). A target outside
    the reachable range returns the nearest end. At most ceil(log2(range)) + 4 encodes, each done once.
    """
    image = as_image(image)
    if isinstance(target_bpp, bool) or not isinstance(target_bpp, int | float | np.floating | np.integer):
        raise TypeError(f"target_bpp must be a number, got {type(target_bpp).__name__}")
    if not (math.isfinite(target_bpp) and target_bpp > 0):
        raise ValueError(f"target_bpp must be finite and positive, got {target_bpp}")
    pixels = image.shape[0] * image.shape[1]
    coded: dict[int, tuple[bytes, float]] = {}

    def bpp(quality: int) -> float:
        if quality not in coded:
            coded[quality] = _timed(lambda: codec.encode(image, quality))
        return 8 * len(coded[quality][0]) / pixels

    low, high = codec.quality_range
    while low < high:  # invariant: if any quality reaches the target, the lowest one is <= high
        middle = (low + high) // 2
        if bpp(middle) >= target_bpp:
            high = middle
        else:
            low = middle + 1
    first, last = codec.quality_range
    candidates = [q for q in range(low - 2, low + 2) if first <= q <= last]
    quality = min(candidates, key=lambda q: (abs(bpp(q) - target_bpp), q))
    data, encode_seconds = coded[quality]
    decoded, decode_seconds = _timed(lambda: codec.decode(data, gray=image.ndim == 2))
    return BaselineResult(
        codec.name, quality, 8 * len(data) / pixels, data, decoded, encode_seconds, decode_seconds
    )
