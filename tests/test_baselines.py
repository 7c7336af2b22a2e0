"""Classical baseline codecs: round trips, rate/quality behaviour, bitrate matching, bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from diffc.imaging import baselines
from diffc.imaging.baselines import Codec, PillowCodec, available_codecs, match_bpp

CODECS = list(available_codecs().values())


def _image(height: int, width: int, channels: int, seed: int) -> np.ndarray:
    """A smooth gradient per channel plus Gaussian noise: compressible, but not trivially."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    planes = [(x * (3 + c) + y * (5 - c)) * 255.0 / (3 * (height + width)) for c in range(channels)]
    smooth = np.stack(planes, axis=-1) + rng.normal(0.0, 12.0, (height, width, channels))
    image = np.clip(np.round(smooth), 0, 255).astype(np.uint8)
    return image[..., 0] if channels == 1 else image


IMAGES = {
    "rgb-64x64": _image(64, 64, 3, seed=0),
    "rgb-37x53": _image(37, 53, 3, seed=1),
    "gray-37x53": _image(37, 53, 1, seed=2),
}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def _quality_at(codec: Codec, fraction: float) -> int:
    low, high = codec.quality_range
    return round(low + fraction * (high - low))


codec_param = pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
image_param = pytest.mark.parametrize("name", IMAGES)


def test_jpeg_is_always_available_and_the_probe_rejects_a_missing_format():
    assert {"jpeg-420", "jpeg-444"} <= set(available_codecs())
    assert not baselines._works(PillowCodec("none", "no such format", "NO-SUCH-FORMAT", (0, 1)))


@codec_param
@image_param
def test_round_trip_keeps_shape_and_dtype(codec: Codec, name: str):
    image = IMAGES[name]
    data = codec.encode(image, _quality_at(codec, 0.75))
    decoded = codec.decode(data, gray=image.ndim == 2)
    assert isinstance(data, bytes) and data
    assert decoded.dtype == np.uint8 and decoded.shape == image.shape
    assert _psnr(image, decoded) > 20


@codec_param
def test_grayscale_is_stored_as_grayscale_where_the_format_can(codec: Codec):
    gray = IMAGES["gray-37x53"]
    data = codec.encode(gray, _quality_at(codec, 0.5))
    expected = gray.shape if codec.grayscale_native else (*gray.shape, 3)
    assert codec.decode(data).shape == expected
    assert codec.decode(data, gray=False).shape == (*gray.shape, 3)


@codec_param
@image_param
def test_higher_quality_costs_more_bytes_and_gives_higher_psnr(codec: Codec, name: str):
    image = IMAGES[name]
    low, high = (codec.encode(image, _quality_at(codec, f)) for f in (0.2, 0.9))
    gray = image.ndim == 2
    assert len(high) > len(low)
    assert _psnr(image, codec.decode(high, gray=gray)) > _psnr(image, codec.decode(low, gray=gray)) + 1


@codec_param
@image_param
def test_match_bpp_lands_near_a_reachable_target_and_reports_the_real_rate(codec: Codec, name: str):
    image = IMAGES[name]
    pixels = image.shape[0] * image.shape[1]
    target = 8 * len(codec.encode(image, _quality_at(codec, 0.6))) / pixels
    result = match_bpp(codec, image, target)
    assert result.codec == codec.name
    assert codec.quality_range[0] <= result.quality <= codec.quality_range[1]
    assert result.bpp == 8 * len(result.data) / pixels
    assert result.data == codec.encode(image, result.quality)
    assert abs(result.bpp - target) <= 0.05 * target
    assert result.decoded.shape == image.shape and result.decoded.dtype == np.uint8
    assert result.encode_seconds >= 0 and result.decode_seconds >= 0


@codec_param
def test_match_bpp_clamps_unreachable_targets_to_the_ends_of_the_quality_range(codec: Codec):
    image = IMAGES["rgb-37x53"]
    assert match_bpp(codec, image, 1000.0).quality == codec.quality_range[1]
    lowest = 8 * len(codec.encode(image, codec.quality_range[0])) / (37 * 53)
    assert match_bpp(codec, image, 1e-3).bpp <= lowest * 1.05


BAD_IMAGES = {
    "float": np.zeros((8, 8, 3), np.float32),
    "int16": np.zeros((8, 8), np.int16),
    "rgba": np.zeros((8, 8, 4), np.uint8),
    "1-d": np.zeros(8, np.uint8),
    "4-d": np.zeros((1, 8, 8, 3), np.uint8),
    "no rows": np.zeros((0, 8, 3), np.uint8),
    "no columns": np.zeros((8, 0), np.uint8),
}


@pytest.mark.parametrize("bad", BAD_IMAGES, ids=str)
def test_bad_images_are_value_errors(bad: str):
    codec = available_codecs()["jpeg-420"]
    with pytest.raises(ValueError):
        codec.encode(BAD_IMAGES[bad], 50)
    with pytest.raises(ValueError):
        match_bpp(codec, BAD_IMAGES[bad], 1.0)


def test_non_arrays_and_non_integer_qualities_are_type_errors():
    codec = available_codecs()["jpeg-420"]
    image = IMAGES["rgb-37x53"]
    with pytest.raises(TypeError):
        codec.encode(image.tolist(), 50)  # type: ignore[arg-type]
    for quality in (50.0, True, "50"):
        with pytest.raises(TypeError):
            codec.encode(image, quality)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        match_bpp(codec, image, "1.0")  # type: ignore[arg-type]


@codec_param
def test_quality_outside_the_range_is_a_value_error(codec: Codec):
    low, high = codec.quality_range
    for quality in (low - 1, high + 1):
        with pytest.raises(ValueError, match="quality"):
            codec.encode(IMAGES["rgb-37x53"], quality)


@pytest.mark.parametrize("target", [0.0, -1.0, float("nan"), float("inf")])
def test_target_bpp_must_be_finite_and_positive(target: float):
    with pytest.raises(ValueError, match="target_bpp"):
        match_bpp(available_codecs()["jpeg-420"], IMAGES["rgb-37x53"], target)


@codec_param
def test_foreign_truncated_or_empty_data_is_a_value_error(codec: Codec):
    png = io.BytesIO()
    Image.fromarray(IMAGES["rgb-37x53"]).save(png, format="PNG")
    data = codec.encode(IMAGES["rgb-37x53"], _quality_at(codec, 0.5))
    for bad in (b"", b"not an image" * 8, png.getvalue(), data[: len(data) // 2]):
        with pytest.raises(ValueError, match=codec.name):
            codec.decode(bad)
