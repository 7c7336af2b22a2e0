"""The diffusers loader: pipeline and bare folders, prediction types, fingerprints, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_unet import save_tiny_model

from diffc.diffusion.denoisers import Denoiser
from diffc.diffusion.schedules import DiscreteVP
from diffc.models import ModelError, load_model


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("model"))


def test_pipeline_folder_loads_with_the_scheduler_table(folder: Path) -> None:
    from diffusers import DDPMScheduler

    model = load_model(folder)
    assert isinstance(model.denoiser, Denoiser)
    vp = model.denoiser.schedule
    table = DDPMScheduler.from_pretrained(folder / "scheduler").alphas_cumprod.double().numpy()
    assert isinstance(vp, DiscreteVP) and np.array_equal(vp.alphas_cumprod, table)
    assert (model.channels, model.multiple, model.clip, model.value_range) == (3, 2, True, (-1.0, 1.0))


def test_network_timestep_is_the_table_index(folder: Path) -> None:
    model = load_model(folder)
    assert model.denoiser.schedule.model_timestep(417) == 417.0


def test_fingerprint_is_stable_and_tracks_weights(tmp_path: Path, folder: Path) -> None:
    a, b = load_model(folder).fingerprint(), load_model(folder).fingerprint()
    other = load_model(save_tiny_model(tmp_path / "other", seed=1)).fingerprint()
    assert a == b and len(a) == 32 and a != other


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_loading_prints_nothing(folder: Path, dtype: str, capfd: pytest.CaptureFixture[str]) -> None:
    """No library warning reaches a user's terminal on an ordinary load, in any precision."""
    load_model(folder, dtype=dtype, progress=False)
    assert capfd.readouterr() == ("", "")


def test_bare_unet_folder_with_its_scheduler_config(tmp_path: Path, folder: Path) -> None:
    bare = save_tiny_model(tmp_path / "bare", layout="bare")
    assert load_model(bare).fingerprint() == load_model(folder).fingerprint()


@pytest.mark.parametrize("size", [(37, 53), (16, 16), (5, 3)])
def test_any_size_evaluates_with_padding_inside(folder: Path, size: tuple[int, int]) -> None:
    model = load_model(folder)
    z = np.random.default_rng(0).normal(size=(2, 3, *size))
    eps = model.denoiser.predict_eps(z, 500)
    assert eps.shape == z.shape and np.all(np.isfinite(eps))
    # batched evaluation agrees with one item at a time
    np.testing.assert_allclose(eps[1], model.denoiser.predict_eps(z[1], 500), rtol=0, atol=1e-5)


def test_prediction_types_convert_to_epsilon(tmp_path: Path) -> None:
    eps_model = load_model(save_tiny_model(tmp_path / "e", prediction="epsilon"))
    v_model = load_model(save_tiny_model(tmp_path / "v", prediction="v_prediction"))
    x0_model = load_model(save_tiny_model(tmp_path / "x", prediction="sample"))
    z = np.random.default_rng(1).normal(size=(3, 8, 8))
    t = 300
    a2 = eps_model.denoiser.schedule.alphas_cumprod[t]
    alpha, sigma = np.sqrt(a2), np.sqrt(1 - a2)
    raw = eps_model.denoiser.predict_eps(z, t)  # the same weights give the raw network output
    np.testing.assert_allclose(v_model.denoiser.predict_eps(z, t), sigma * z + alpha * raw, atol=1e-6)
    np.testing.assert_allclose(x0_model.denoiser.predict_eps(z, t), (z - alpha * raw) / sigma, atol=1e-5)
    assert len({m.fingerprint() for m in (eps_model, v_model, x0_model)}) == 3


def test_learned_variance_output_contributes_its_mean(tmp_path: Path) -> None:
    model = load_model(save_tiny_model(tmp_path / "lv", out_channels=6))
    z = np.zeros((3, 4, 4))
    assert model.denoiser.predict_eps(z, 10).shape == (3, 4, 4)


def test_bad_folders_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a model folder"):
        load_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="neither"):
        load_model(tmp_path / "empty")
    bare = save_tiny_model(tmp_path / "noscheduler" / "unet", layout="bare")
    (bare / "scheduler_config.json").unlink()
    with pytest.raises(ModelError, match="scheduler"):
        load_model(bare)
    broken = save_tiny_model(tmp_path / "broken")
    (broken / "scheduler" / "scheduler_config.json").write_text("{ not json")
    with pytest.raises(ModelError, match="scheduler config"):
        load_model(broken)
    weird = save_tiny_model(tmp_path / "weird")
    cfg = json.loads((weird / "scheduler" / "scheduler_config.json").read_text())
    (weird / "scheduler" / "scheduler_config.json").write_text(json.dumps(cfg | {"prediction_type": "score"}))
    with pytest.raises(ModelError, match="prediction_type"):
        load_model(weird)
    with pytest.raises(ModelError, match="dtype"):
        load_model(save_tiny_model(tmp_path / "ok"), dtype="float7")


def test_wrong_channel_count_is_refused(folder: Path) -> None:
    model = load_model(folder)
    with pytest.raises(ValueError, match="grayscale"):
        model.to_model(np.zeros((4, 4), np.uint8))
