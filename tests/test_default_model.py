"""The shipped default model: loads offline, matches its model card, and compresses a held-out photo."""

from __future__ import annotations

import re

import numpy as np
import pytest

from diffc.codec import DiffCCodec
from diffc.container import truncate
from diffc.imaging.io import centre_crop
from diffc.imaging.metrics import psnr
from diffc.models import default_model_dir, load_model
from diffc.models.data import held_out_photos

CARD = default_model_dir() / "MODEL_CARD.md"


@pytest.fixture(scope="module")
def model():  # noqa: ANN201
    return load_model(default_model_dir())


def test_fingerprint_matches_the_model_card(model) -> None:  # noqa: ANN001
    found = re.search(r"Fingerprint:\s*`?([0-9a-f]{64})`?", CARD.read_text())
    assert found, "MODEL_CARD.md states the model's SHA-256 fingerprint"
    assert model.fingerprint().hex() == found.group(1)


def test_attention_window_is_the_training_crops_token_grid(model) -> None:  # noqa: ANN001
    from diffusers import UNet2DModel

    from diffc.models.windowed_attention import read_window

    unet = UNet2DModel.load_config(default_model_dir() / "unet")
    levels = len(unet["block_out_channels"]) - 1
    crop = int(re.search(r"(\d+) px crops", CARD.read_text()).group(1))
    assert read_window(default_model_dir() / "unet") == crop // 2**levels == 8


def test_weights_are_small_enough_to_ship() -> None:
    weights = default_model_dir() / "unet" / "diffusion_pytorch_model.safetensors"
    assert weights.stat().st_size <= 20 * 2**20


@pytest.mark.slow
def test_round_trip_on_a_held_out_crop(model) -> None:  # noqa: ANN001
    image = centre_crop(held_out_photos()["skimage/astronaut"], 32)
    codec = DiffCCodec(model, progress=False)
    data = codec.compress(image, seed=0).data
    full = codec.decompress(data, method="mmse")
    assert full.image.shape == image.shape and full.n_steps == codec.steps
    early = codec.decompress(truncate(data, codec.steps // 2), method="mmse")
    assert psnr(image, full.image) > psnr(image, early.image)  # a learned prior: more bits, better image
    assert psnr(image, full.image) > 20.0
    sample = codec.decompress(data, method="sde", solver_steps=8).image
    assert sample.dtype == np.uint8 and sample.shape == image.shape
