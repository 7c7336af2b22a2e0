"""DiffC on images with a real (tiny, random) diffusers model loaded from a folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_unet import save_tiny_model, smooth_image

from diffc.codec import DEFAULT_STEPS, DiffCCodec, find_schedule
from diffc.container import ContainerError, read_container, truncate
from diffc.diffusion.spacing import image_schedule
from diffc.models import load_model
from rcc.gaussian import ChannelSpec, GaussianChannel

STEPS = 16
# A cheap channel setting (2^8 candidates per chunk) keeps these tests fast; the CLI tests use the
# default channel.
CHANNEL = GaussianChannel(ChannelSpec(chunk_bits=6, headroom_bits=2))


@pytest.fixture(scope="module")
def codec(tmp_path_factory: pytest.TempPathFactory) -> DiffCCodec:
    model = load_model(save_tiny_model(tmp_path_factory.mktemp("m")))
    return DiffCCodec(model, CHANNEL, steps=STEPS, progress=False)


@pytest.fixture(scope="module")
def encoded(codec: DiffCCodec) -> tuple[np.ndarray, bytes]:
    image = smooth_image(13, 19)
    return image, codec.compress(image, seed=3).data


def test_round_trip_keeps_the_size_and_counts_real_bits(codec: DiffCCodec,
                                                        encoded: tuple[np.ndarray, bytes]) -> None:
    image, data = encoded
    out = codec.decompress(data, method="ode", solver_steps=4)
    assert out.image.shape == image.shape and out.image.dtype == np.uint8
    assert out.bpp == 8 * len(data) / (13 * 19)
    assert out.n_steps == out.stop_step == STEPS and not out.truncated
    assert read_container(data).header.shape == (3, 13, 19)  # no padding is coded


@pytest.mark.parametrize("method", ["ode", "mmse"])
def test_deterministic_decoders_repeat_exactly(codec: DiffCCodec, encoded: tuple[np.ndarray, bytes],
                                               method: str) -> None:
    _, data = encoded
    a = codec.decompress(data, method=method, solver_steps=3).image
    assert np.array_equal(a, codec.decompress(data, method=method, solver_steps=3).image)


def test_ancestral_decoder_repeats_for_a_seed_and_varies_across_seeds(
        codec: DiffCCodec, encoded: tuple[np.ndarray, bytes]) -> None:
    _, data = encoded
    a = codec.decompress(data, method="sde", solver_steps=3, seed=5).image
    assert np.array_equal(a, codec.decompress(data, method="sde", solver_steps=3, seed=5).image)
    assert not np.array_equal(a, codec.decompress(data, method="sde", solver_steps=3, seed=6).image)


def test_eta_and_heun_decoders_run(codec: DiffCCodec, encoded: tuple[np.ndarray, bytes]) -> None:
    _, data = encoded
    assert codec.decompress(data, method="eta", eta=0.5, solver_steps=2).image.shape == (13, 19, 3)
    assert codec.decompress(data, method="ode", solver="heun", solver_steps=2).image.shape == (13, 19, 3)


def test_a_prefix_decodes_and_says_it_is_one(codec: DiffCCodec, encoded: tuple[np.ndarray, bytes]) -> None:
    _, data = encoded
    out = codec.decompress(truncate(data, 2), method="mmse")
    assert out.truncated and (out.n_steps, out.stop_step) == (2, STEPS)
    assert out.t == image_schedule(codec.vp, (3, 13, 19), STEPS).times[1]


def test_decoding_with_another_model_names_both_fingerprints(
        tmp_path: Path, codec: DiffCCodec, encoded: tuple[np.ndarray, bytes]) -> None:
    other = DiffCCodec(load_model(save_tiny_model(tmp_path, seed=9)), CHANNEL, steps=STEPS, progress=False)
    with pytest.raises(ContainerError, match="wrong model") as err:
        other.decompress(encoded[1])
    assert codec.model.fingerprint().hex()[:16] in str(err.value)
    assert other.model.fingerprint().hex()[:16] in str(err.value)


def test_the_decoder_finds_a_non_default_step_count(codec: DiffCCodec) -> None:
    image = smooth_image(8, 8, seed=1)
    data = DiffCCodec(codec.model, CHANNEL, steps=12, progress=False).compress(image).data
    out = codec.decompress(data, method="mmse")  # not this codec's default
    assert out.n_steps == 12
    with pytest.raises(ContainerError, match="schedule"):
        find_schedule(codec.vp, (3, 8, 8), lambda s: False)


def test_image_schedule_starts_at_the_noisiest_time_and_decreases(codec: DiffCCodec) -> None:
    s = image_schedule(codec.vp, (3, 64, 64), DEFAULT_STEPS)
    assert len(s) == DEFAULT_STEPS and s.times[0] == codec.vp.t_max
    assert all(a > b for a, b in zip(s.times, s.times[1:], strict=False))


def test_rate_controls(codec: DiffCCodec) -> None:
    image = smooth_image(12, 12, seed=2)
    full = codec.compress(image)
    second = image_schedule(codec.vp, (3, 12, 12), STEPS).times[1]
    budget = (full.bpp + codec.compress(image, stop_t=second).bpp) / 2
    capped = codec.compress(image, bpp=budget)
    assert capped.bpp <= budget and len(capped.steps) < STEPS
    assert len(codec.compress(image, stop_t=codec.vp.t_max).steps) == 1
    assert 1 <= len(codec.compress(image, psnr=-100.0).steps) == 1
    for bad in ({"bpp": float("nan")}, {"psnr": float("inf")}, {"bpp": 1.0, "psnr": 3.0}):
        with pytest.raises(ValueError):
            codec.compress(image, **bad)
    with pytest.raises(ValueError, match="noisiest"):
        codec.compress(image, stop_t=codec.vp.t_max + 1)


def test_grayscale_model_codes_grayscale_images(tmp_path: Path) -> None:
    gray = DiffCCodec(load_model(save_tiny_model(tmp_path, channels=1)), CHANNEL, steps=8, progress=False)
    image = smooth_image(9, 11, channels=1)
    out = gray.decompress(gray.compress(image).data, method="mmse")
    assert out.image.shape == (9, 11)


def test_an_array_of_the_wrong_channel_count_in_a_file_is_refused(tmp_path: Path, codec: DiffCCodec) -> None:
    gray = DiffCCodec(load_model(save_tiny_model(tmp_path, channels=1)), CHANNEL, steps=8, progress=False)
    data = gray.compress(smooth_image(6, 6, channels=1)).data
    with pytest.raises(ContainerError, match="3-channel"):
        codec.decompress(data)


def test_pixel_limit_applies_before_any_work(codec: DiffCCodec, encoded: tuple[np.ndarray, bytes]) -> None:
    small = DiffCCodec(codec.model, CHANNEL, steps=STEPS, max_pixels=100, progress=False)
    with pytest.raises(ValueError, match="limit"):
        small.decompress(encoded[1])
    with pytest.raises(ValueError, match="limit"):
        small.compress(smooth_image(11, 11))


def test_decoder_arguments_are_checked(codec: DiffCCodec, encoded: tuple[np.ndarray, bytes]) -> None:
    for bad in ({"method": "x"}, {"solver": "euler"}, {"solver_steps": 0}, {"solver_steps": 1.5},
                {"solver_steps": 10**10}, {"method": "eta"}, {"method": "ode", "eta": 0.3}):
        with pytest.raises(ValueError):
            codec.decompress(encoded[1], **bad)


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction", "sample"])
def test_every_prediction_type_round_trips(tmp_path: Path, prediction: str) -> None:
    model = load_model(save_tiny_model(tmp_path, prediction=prediction))
    codec = DiffCCodec(model, CHANNEL, steps=STEPS, progress=False)
    image = smooth_image(9, 10, seed=4)
    data = codec.compress(image, seed=1).data
    out = codec.decompress(data, method="ode", solver_steps=2)
    assert out.image.shape == image.shape and out.n_steps == STEPS
    assert np.array_equal(out.image, codec.decompress(data, method="ode", solver_steps=2).image)
