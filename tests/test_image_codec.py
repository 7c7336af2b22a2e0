"""DiffC on images with a real (tiny, random) diffusers model loaded from a folder."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest
from tiny_unet import save_tiny_model, smooth_image

import diffc.codec
import diffc.diffusion.spacing
from diffc.codec import DEFAULT_STEPS, DiffCCodec
from diffc.container import ContainerError, encode_header, encode_records, read_container, truncate
from diffc.diffusion.spacing import SPACING_VARIANCE, image_schedule
from diffc.models import load_model
from diffc.models.base import Conditioning
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
    assert codec.decompress(data, method="ode", solver="dpmpp_2m", solver_steps=3).image.shape == (13, 19, 3)


def test_the_default_decoder_is_dpmpp_2m_at_its_own_steps(codec: DiffCCodec,
                                                          encoded: tuple[np.ndarray, bytes]) -> None:
    """DiffC-F defaults to DPM-Solver++(2M) at 10 steps; every other sampler to 20 steps."""
    assert diffc.codec.sampler_for("ode", diffc.codec.DEFAULT_SOLVER, None) == ("dpmpp_2m", 10, 10)
    assert diffc.codec.sampler_for("ode", "ddim", None) == ("ddim", 20, 20)
    assert diffc.codec.sampler_for("ode", "heun", None) == ("heun", 20, 40)
    assert diffc.codec.sampler_for("sde", diffc.codec.DEFAULT_SOLVER, None) == ("ancestral", 20, 20)
    assert diffc.codec.sampler_for("mmse", "ddim", 7) == ("mmse", 7, 1)
    _, data = encoded
    default = codec.decompress(data).image
    assert np.array_equal(default, codec.decompress(data, solver="dpmpp_2m", solver_steps=10).image)
    assert not np.array_equal(default, codec.decompress(data, solver="ddim", solver_steps=20).image)


def test_a_prefix_decodes_and_says_it_is_one(codec: DiffCCodec, encoded: tuple[np.ndarray, bytes]) -> None:
    _, data = encoded
    out = codec.decompress(truncate(data, 2), method="mmse")
    assert out.truncated and (out.n_steps, out.stop_step) == (2, STEPS)
    assert out.t == codec.schedule((3, 13, 19)).times[1]


def test_decoding_with_another_model_names_both_fingerprints(
        tmp_path: Path, codec: DiffCCodec, encoded: tuple[np.ndarray, bytes]) -> None:
    other = DiffCCodec(load_model(save_tiny_model(tmp_path, seed=9)), CHANNEL, steps=STEPS, progress=False)
    with pytest.raises(ContainerError, match="wrong model") as err:
        other.decompress(encoded[1])
    assert codec.model.fingerprint().hex()[:16] in str(err.value)
    assert other.model.fingerprint().hex()[:16] in str(err.value)


def test_the_decoder_reads_a_non_default_step_count_from_the_header(codec: DiffCCodec) -> None:
    image = smooth_image(8, 8, seed=1)
    twelve = DiffCCodec(codec.model, CHANNEL, steps=12, progress=False)
    out = codec.decompress(twelve.compress(image).data, method="mmse")  # not this codec's default
    assert out.n_steps == 12 and out.t == twelve.schedule((3, 8, 8)).times[-1]


def test_image_schedule_starts_at_the_noisiest_time_and_decreases(codec: DiffCCodec) -> None:
    s = image_schedule(codec.vp, (3, 64, 64), DEFAULT_STEPS)
    assert len(s) == DEFAULT_STEPS and s.times[0] == codec.vp.t_max
    assert all(a > b for a, b in zip(s.times, s.times[1:], strict=False))


def test_a_larger_spacing_variance_moves_every_step_towards_the_noise(codec: DiffCCodec) -> None:
    # docs/image_schedule.md: the calibrated default spaces the early steps finer than the
    # photographs' own variance does, and ends at the same last time.
    old, new = (image_schedule(codec.vp, (3, 64, 64), DEFAULT_STEPS, v).times
                for v in (0.25, SPACING_VARIANCE))
    assert old[0] == new[0] and old[-1] == new[-1]
    assert all(a > b for a, b in zip(new[1:-1], old[1:-1], strict=True))
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="variance"):
            image_schedule(codec.vp, (3, 64, 64), DEFAULT_STEPS, bad)


def test_rate_controls(codec: DiffCCodec) -> None:
    image = smooth_image(12, 12, seed=2)
    full = codec.compress(image)
    second = codec.schedule((3, 12, 12)).times[1]
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


def test_a_file_of_another_channel_count_is_refused(tmp_path: Path, codec: DiffCCodec) -> None:
    gray = DiffCCodec(load_model(save_tiny_model(tmp_path, channels=1)), CHANNEL, steps=8, progress=False)
    data = gray.compress(smooth_image(6, 6, channels=1)).data
    with pytest.raises(ContainerError, match="wrong model"):
        codec.decompress(data)
    forged = _resigned(codec.compress(smooth_image(6, 6)).data, shape=(1, 6, 6))
    with pytest.raises(ContainerError, match=r"shape \(1, 6, 6\) for a 6x6 image; this model codes such an "
                                             r"image as \(3, 6, 6\)"):
        codec.decompress(forged)


def _resigned(data: bytes, **changes: object) -> bytes:
    """``data`` with header fields changed and every record's check recomputed (a forged header)."""
    c = read_container(data)
    head = encode_header(dataclasses.replace(c.header, **changes))
    return head + encode_records(head, c.messages)


class _Counting:
    """A denoiser that counts its evaluations; all else is the wrapped one's."""

    def __init__(self, denoiser: object) -> None:
        self.denoiser, self.evaluations = denoiser, 0

    def predict_eps(self, z: np.ndarray, t: float) -> np.ndarray:
        self.evaluations += 1
        return self.denoiser.predict_eps(z, t)

    def __getattr__(self, name: str) -> object:
        if "denoiser" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.denoiser, name)


def test_forged_headers_are_refused_before_any_model_evaluation_or_schedule_search(
        codec: DiffCCodec, encoded: tuple[np.ndarray, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 24: a forged header took 189 s to refuse while schedules were tried. Now the header
    writes its times: the decoder builds no schedule (image_schedule is never called: it raises
    here) and a forged file is refused before the model runs once, by construction."""
    def no_search(*args: object) -> None:
        raise AssertionError("decoding built an image schedule")

    monkeypatch.setattr(diffc.diffusion.spacing, "image_schedule", no_search)
    monkeypatch.setattr(diffc.codec, "image_schedule", no_search)
    assert not hasattr(diffc.codec, "find_schedule")
    counting = _Counting(codec.model.denoiser)
    counted = DiffCCodec(dataclasses.replace(codec.model, denoiser=counting), CHANNEL, progress=False)
    data = encoded[1]
    h = read_container(data).header
    forged = {
        "the exact-variance flag": (_resigned(data, variance="exact"),
                                    "reverse process is not one this model has"),
        "times above the table": (_resigned(data, first_time=1000), "outside this model's schedule"),
        "times below zero": (_resigned(data, first_time=None, time_gaps=(999, *h.time_gaps[1:])),
                             "outside this model's schedule"),
        "a continuous grid": (_resigned(data, time_grid="dyadic"),
                              "dyadic grid, this model's schedule needs"),
        "4096 steps": (_resigned(data, time_gaps=(1,) * 4095), "outside this model's schedule"),
        "another size": (_resigned(data, size=(13, 20)), "this model codes such an image as"),
    }
    for name, (file, match) in forged.items():
        with pytest.raises(ContainerError, match=match):
            counted.decompress(file, method="mmse")
        assert counting.evaluations == 0, name
    # the genuine file: one evaluation per step after the first (whose prior needs none), one MMSE
    out = counted.decompress(data, method="mmse")
    assert counting.evaluations == STEPS and out.image.shape == (13, 19, 3)


def test_decoding_checks_family_and_conditioning_naming_both(codec: DiffCCodec,
                                                             encoded: tuple[np.ndarray, bytes]) -> None:
    data = encoded[1]
    h = read_container(data).header
    assert (h.family, h.conditioning, h.size) == ("pixel", "none", (13, 19))
    sd1 = DiffCCodec(dataclasses.replace(codec.model, family="sd1"), CHANNEL, progress=False)
    with pytest.raises(ContainerError, match="the file was encoded with a pixel model; this model .* is sd1"):
        sd1.decompress(data)
    digest = hashlib.sha256(b"class 3").digest()
    conditioned = DiffCCodec(dataclasses.replace(codec.model, conditioning=Conditioning("class", digest)),
                             CHANNEL, progress=False)
    with pytest.raises(ContainerError, match=f"encoded with conditioning none; this model .* is conditioned "
                                             f"on class {digest.hex()}"):
        conditioned.decompress(data)
    back = conditioned.decompress(conditioned.compress(smooth_image(5, 5)).data, method="mmse")
    assert back.image.shape == (5, 5, 3)


def test_reconstruct_gets_the_original_size(codec: DiffCCodec, encoded: tuple[np.ndarray, bytes]) -> None:
    sizes = []

    class Recording:
        def __getattr__(self, name: str) -> object:
            return getattr(codec.model, name)

        def from_model(self, x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
            sizes.append(size)
            return codec.model.from_model(x, size)

    out = DiffCCodec(Recording(), CHANNEL, progress=False).decompress(encoded[1], method="mmse")
    assert sizes == [(13, 19)] and out.size == (13, 19) and out.bpp == 8 * len(encoded[1]) / (13 * 19)


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
    # A random network's x0 prediction ("sample") can miss by the whole data range even at the
    # last step; 64 steps keep every value's KL within the channel's largest search.
    steps = 64 if prediction == "sample" else STEPS
    codec = DiffCCodec(model, CHANNEL, steps=steps, progress=False)
    image = smooth_image(9, 10, seed=4)
    data = codec.compress(image, seed=1).data
    out = codec.decompress(data, method="ode", solver_steps=2)
    assert out.image.shape == image.shape and out.n_steps == steps
    assert np.array_equal(out.image, codec.decompress(data, method="ode", solver_steps=2).image)
