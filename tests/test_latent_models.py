"""Latent pipelines of every family, tiny and random, loaded from folders and run through the codec.

Each family's pipeline is built in code (tests/tiny_pipelines.py), saved in diffusers' layout and
loaded by ``load_model``; the checks are the wiring the families differ in (timesteps, packing,
time ids, null class, learned sigma, guidance), the latent side (mean encoding, scaling, padding
and crop), the recorded conditioning, the cached fingerprint, the codec round trip with
deterministic bytes, and the one-line errors.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tiny_pipelines import FAMILIES, build
from tiny_unet import smooth_image

from diffc.codec import DiffCCodec
from diffc.diffusion.schedules import DiscreteVP, RectifiedFlowVP, alpha_sigma
from diffc.models import LatentModel, ModelError, load_model
from diffc.models import weights_digest as wd


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(wd.CACHE_ENV, str(tmp_path_factory.getbasetemp() / "digest-cache"))


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pipelines")
    return {f: build(f, root / f) for f in FAMILIES}


@pytest.fixture(scope="module")
def models(folders: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, LatentModel]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(wd.CACHE_ENV, str(tmp_path_factory.getbasetemp() / "digest-cache"))
        return {f: load_model(p) for f, p in folders.items()}


@pytest.mark.parametrize("family", FAMILIES)
def test_codec_round_trip_with_deterministic_bytes(models: dict[str, LatentModel], family: str) -> None:
    model = models[family]
    assert model.family == family and not model.clip
    image = smooth_image(14, 19, seed=3)  # padded to 16 x 20 (DiT: 20 x 20)
    codec = DiffCCodec(model, steps=12, progress=False)
    first, second = codec.compress(image, seed=7), codec.compress(image, seed=7)
    assert first.data == second.data
    assert model.coded_shape((14, 19)) == ((4, 10, 10) if family == "dit" else (4, 8, 10))
    for method in ("ode", "mmse"):
        decoded = codec.decompress(first.data, method=method, solver_steps=2)
        assert decoded.image.shape == (14, 19, 3) and decoded.image.dtype == np.uint8
    assert codec.decompress(first.data, method="sde", solver_steps=2).bpp == pytest.approx(first.bpp)


@pytest.mark.parametrize("family", ["sd1", "flux"])
def test_psnr_stop_measures_the_decoded_image(models: dict[str, LatentModel], family: str) -> None:
    """The stop is the first step whose MMSE image (the VAE's decoding of the x0 estimate, cropped)
    reaches the target: exactly what ``decompress(method="mmse")`` of that prefix gives."""
    from diffc.container import truncate
    from diffc.imaging.metrics import psnr

    image = smooth_image(14, 19, seed=3)
    codec = DiffCCodec(models[family], steps=12, progress=False)
    full = codec.compress(image, seed=7).data
    reached = [psnr(image, codec.decompress(truncate(full, k), method="mmse").image) for k in range(1, 13)]
    for target in sorted(set(reached))[-3:]:
        first = next(k for k, p in enumerate(reached, start=1) if p >= target)
        out = codec.compress(image, seed=7, psnr=target)
        assert len(out.steps) == first
        assert psnr(image, codec.decompress(out.data, method="mmse").image) == reached[first - 1] >= target


@pytest.mark.parametrize("family", ["sd1", "flux", "dit"])
def test_padding_to_the_multiple_and_crop_back(models: dict[str, LatentModel], family: str) -> None:
    model = models[family]
    image = smooth_image(18, 22, seed=4)
    x = model.to_model(image)
    expected = {"sd1": (4, 10, 12), "flux": (4, 10, 12), "dit": (4, 12, 12)}[family]  # DiT: square
    assert x.shape == model.coded_shape((18, 22)) == expected
    assert model.from_model(x, (18, 22)).shape == (18, 22, 3)


def test_encoding_is_the_scaled_shifted_posterior_mean(models: dict[str, LatentModel]) -> None:
    import torch

    from diffc.models.pixel import pixels_to_unit

    model = models["sd3"]
    ae = model.autoencoder
    assert (ae.scale, ae.shift, ae.factor) == (1.5305, 0.0609, 2)
    image = smooth_image(16, 16, seed=5)
    x = model.to_model(image)
    np.testing.assert_array_equal(x, model.to_model(image))  # the mean, not a random draw
    with torch.inference_mode():
        pixels = torch.from_numpy(pixels_to_unit(image.transpose(2, 0, 1))[None]).float()
        mean = ae.vae.encode(pixels).latent_dist.mean.double().numpy()[0]
    np.testing.assert_allclose(x, (mean - 0.0609) * 1.5305, rtol=1e-6, atol=1e-7)


def test_schedules_and_parametrizations_follow_the_family(models: dict[str, LatentModel]) -> None:
    expected = {"sd1": "epsilon", "sd2": "v_prediction", "sdxl": "epsilon", "dit": "epsilon",
                "sd3": "flow_prediction", "flux": "flow_prediction"}
    for family, model in models.items():
        assert model.denoiser.prediction == expected[family]
        flow = family in ("sd3", "flux")
        assert isinstance(model.denoiser.schedule, RectifiedFlowVP if flow else DiscreteVP)


def _record_calls(monkeypatch: pytest.MonkeyPatch, net: object) -> list[dict]:
    calls: list[dict] = []
    forward = net.forward

    def spy(*args: object, **kwargs: object) -> object:
        calls.append({"args": args, **kwargs})
        return forward(*args, **kwargs)

    monkeypatch.setattr(net, "forward", spy)
    return calls


def _net(model: LatentModel) -> object:
    return model.denoiser.fn.net


@pytest.mark.parametrize("family", ["sd3", "flux"])
def test_flow_network_sees_the_flow_state_at_the_same_s(models: dict[str, LatentModel], family: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    model = models[family]
    calls = _record_calls(monkeypatch, _net(model))
    z = np.random.default_rng(0).normal(size=(4, 8, 8))
    s = 0.3
    model.denoiser.predict_eps(z, s)
    (call,) = calls
    t = call["timestep"]
    # SD3 takes 1000 s; diffusers' Flux transformer multiplies its input by 1000 itself
    assert float(t[0]) == pytest.approx(1000 * s if family == "sd3" else s, rel=1e-6)
    alpha, sigma = alpha_sigma(model.denoiser.schedule, s)
    seen = call["hidden_states"]
    if family == "flux":
        from diffusers import FluxPipeline

        seen = FluxPipeline._unpack_latents(seen, 16, 16, 2)
        assert float(call["guidance"][0]) == 3.5
        assert call["img_ids"].shape == (16, 3)
    np.testing.assert_allclose(seen[0].to(torch.float64).numpy(), z / (alpha + sigma), rtol=1e-6, atol=1e-6)


def test_sdxl_time_ids_and_dit_null_class(models: dict[str, LatentModel],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _record_calls(monkeypatch, _net(models["sdxl"]))
    models["sdxl"].denoiser.predict_eps(np.zeros((2, 4, 8, 6)), 50)
    assert calls[0]["added_cond_kwargs"]["time_ids"].tolist() == [[16.0, 12.0, 0, 0, 16.0, 12.0]] * 2
    assert calls[0]["args"][1].tolist() == [50, 50]
    dit_calls = _record_calls(monkeypatch, _net(models["dit"]))
    eps = models["dit"].denoiser.predict_eps(np.zeros((4, 8, 8)), 99)
    assert dit_calls[0]["class_labels"].tolist() == [10] and eps.shape == (4, 8, 8)  # learned sigma dropped


def test_unconditional_is_recorded_by_kind(models: dict[str, LatentModel]) -> None:
    kinds = {f: m.conditioning.kind for f, m in models.items()}
    assert kinds == {"sd1": "empty-prompt", "sd2": "empty-prompt", "sdxl": "zeros", "dit": "class",
                     "sd3": "empty-prompt", "flux": "empty-prompt"}
    assert len({m.conditioning.digest for m in models.values()}) == len(models)


def test_prompt_guidance_and_class_change_the_digest(folders: dict[str, Path],
                                                     models: dict[str, LatentModel]) -> None:
    plain = models["sd1"]
    cond = load_model(folders["sd1"], prompt="a red barn")
    guided = load_model(folders["sd1"], prompt="a red barn", guidance=2.0)
    assert cond.conditioning.kind == guided.conditioning.kind == "prompt"
    digests = {plain.conditioning.digest, cond.conditioning.digest, guided.conditioning.digest,
               load_model(folders["sd1"], prompt="a red barn", guidance=3.0).conditioning.digest}
    assert len(digests) == 4
    assert cond.fingerprint() == plain.fingerprint()  # the network is the same; the file records both
    # classifier-free guidance: eps_u + G (eps_c - eps_u), two passes
    z = np.random.default_rng(1).normal(size=(4, 8, 8))
    eu, ec, eg = (m.denoiser.predict_eps(z, 40) for m in (plain, cond, guided))
    assert np.abs(ec - eu).max() > 1e-4
    np.testing.assert_allclose(eg, eu + 2.0 * (ec - eu), rtol=1e-4, atol=1e-5)
    labelled = load_model(folders["dit"], class_label=3)
    assert labelled.conditioning.digest != models["dit"].conditioning.digest
    flux_g1 = load_model(folders["flux"], guidance=1.0)
    assert flux_g1.conditioning.digest != models["flux"].conditioning.digest


def test_a_file_records_its_options_and_checks_the_digest(folders: dict[str, Path],
                                                         models: dict[str, LatentModel]) -> None:
    from diffc.container import ContainerError, read_container

    prompted = load_model(folders["sd1"], prompt="a red barn", guidance=2)
    assert prompted.conditioning.options == {"prompt": "a red barn", "guidance": 2.0, "class_label": None}
    assert models["flux"].conditioning.options == {"prompt": None, "guidance": None, "class_label": None}
    data = DiffCCodec(prompted, steps=12, progress=False).compress(smooth_image(8, 8, seed=1)).data
    header = read_container(data).header
    assert header.options == prompted.conditioning.options
    # the model the file's options rebuild decodes it; any other conditioning is refused, naming both
    rebuilt = load_model(folders["sd1"], **header.options)
    decoded = DiffCCodec(rebuilt, steps=12, progress=False).decompress(data, method="mmse")
    assert decoded.image.shape == (8, 8, 3)
    for other in (models["sd1"], load_model(folders["sd1"], prompt="a red bar", guidance=2)):
        with pytest.raises(ContainerError, match="wrong conditioning: the file was encoded with conditioning "
                                                 "prompt .*; this model .* is conditioned on"):
            DiffCCodec(other, steps=12, progress=False).decompress(data)


def test_fingerprint_is_cached_and_stable(folders: dict[str, Path], models: dict[str, LatentModel],
                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    hashed: list[Path] = []
    real = wd.file_sha256
    monkeypatch.setattr(wd, "file_sha256", lambda p: hashed.append(p) or real(p))
    again = load_model(folders["sd1"])
    assert hashed == [] and again.fingerprint() == models["sd1"].fingerprint()
    # a fresh cache hashes every file again and agrees; the model folder gets nothing written
    monkeypatch.setenv(wd.CACHE_ENV, str(tmp_path / "fresh"))
    before = sorted(p for p in folders["sd1"].rglob("*"))
    assert wd.folder_digest(folders["sd1"]) == wd.folder_digest(folders["sd1"])
    assert len(hashed) > 5 and sorted(p for p in folders["sd1"].rglob("*")) == before
    assert (tmp_path / "fresh" / "file-digests.json").is_file()


def test_changed_weights_change_the_fingerprint(folders: dict[str, Path], models: dict[str, LatentModel],
                                                tmp_path: Path) -> None:
    copy = Path(shutil.copytree(folders["sd1"], tmp_path / "sd1"))
    assert load_model(copy).fingerprint() == models["sd1"].fingerprint()  # location-free
    weights = next((copy / "unet").glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert load_model(copy).fingerprint() != models["sd1"].fingerprint()


def test_unsupported_family_names_what_it_found(tmp_path: Path) -> None:
    folder = tmp_path / "pixart"
    (folder / "transformer").mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({
        "_class_name": "PixArtAlphaPipeline", "transformer": ["diffusers", "PixArtTransformer2DModel"],
        "vae": ["diffusers", "AutoencoderKL"]}))
    with pytest.raises(ModelError, match="PixArtTransformer2DModel.*supported denoisers.*FluxTransformer"):
        load_model(folder)


def test_missing_parts_and_mismatched_vae_are_one_line_errors(folders: dict[str, Path],
                                                              tmp_path: Path) -> None:
    from tiny_pipelines import _vae

    missing = Path(shutil.copytree(folders["sdxl"], tmp_path / "sdxl"))
    shutil.rmtree(missing / "text_encoder_2")
    with pytest.raises(ModelError, match="needs its text_encoder_2") as err:
        load_model(missing)
    assert "\n" not in str(err.value)
    mismatched = Path(shutil.copytree(folders["sd1"], tmp_path / "sd1"))
    shutil.rmtree(mismatched / "vae")
    _vae(latent_channels=8).save_pretrained(mismatched / "vae")
    with pytest.raises(ModelError, match="8-channel latents.*4 input channels"):
        load_model(mismatched)


def test_bad_sizes_prompts_and_options_are_refused(folders: dict[str, Path],
                                                   models: dict[str, LatentModel]) -> None:
    with pytest.raises(ValueError, match="smaller than this sd1 model's 4-pixel multiple"):
        models["sd1"].to_model(np.zeros((3, 9, 3), np.uint8))
    with pytest.raises(ValueError, match="RGB"):
        models["sd1"].to_model(np.zeros((8, 8), np.uint8))
    with pytest.raises(ModelError, match="tokens.*never truncated"):
        load_model(folders["sd1"], prompt="x" * 200)
    with pytest.raises(ModelError, match="guidance needs a prompt"):
        load_model(folders["sd3"], guidance=4.0)
    with pytest.raises(ModelError, match="class label"):
        load_model(folders["dit"], prompt="a cat")
    with pytest.raises(ModelError, match="not in"):
        load_model(folders["dit"], class_label=10)
    with pytest.raises(ModelError, match="pixel-space"):
        from tiny_unet import save_tiny_model

        load_model(save_tiny_model(folders["sd1"].parent / "pixel"), prompt="x")


def test_network_dtype_leaves_the_vae_in_float32(folders: dict[str, Path]) -> None:
    import torch

    model = load_model(folders["flux"], dtype="bfloat16")
    assert next(model.denoiser.fn.net.parameters()).dtype == torch.bfloat16
    assert next(model.autoencoder.vae.parameters()).dtype == torch.float32
    x = model.to_model(smooth_image(16, 16, seed=6))
    assert np.all(np.isfinite(model.denoiser.predict_eps(x, 0.5)))


def test_large_images_go_through_the_vae_in_tiles(models: dict[str, LatentModel],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the pixel threshold (lowered here to the tiny VAE's 32-pixel tiles) the VAE encodes and
    decodes tiled, decided by the size alone: the latents differ from the whole-image ones, the
    file round-trips with deterministic bytes, and the decoder decodes tiled too."""
    import dataclasses

    model = models["sd1"]
    tiny = dataclasses.replace(model.autoencoder, tiling_pixels=32 * 32)
    tiled = dataclasses.replace(model, autoencoder=tiny)
    image = smooth_image(46, 70, seed=8)  # padded to 48 x 72: tiles of 32 with an overlap of 8
    assert tiny.tiled(48 * 72) and not tiny.tiled(32 * 32) and not model.autoencoder.tiled(48 * 72)
    x_tiled, x_whole = tiled.to_model(image), model.to_model(image)
    assert x_tiled.shape == x_whole.shape == (4, 24, 36)
    assert np.abs(x_tiled - x_whole).max() > 1e-3  # each tile encoded on its own
    np.testing.assert_array_equal(tiled.to_model(image), x_tiled)  # still the mean: deterministic
    vae = tiny.vae
    calls: list[str] = []
    monkeypatch.setattr(vae, "tiled_decode", lambda *a, _real=vae.tiled_decode, **k: calls.append("tiled")
                        or _real(*a, **k))
    codec = DiffCCodec(tiled, steps=12, progress=False)
    first, second = codec.compress(image, seed=3), codec.compress(image, seed=3)
    assert first.data == second.data and not calls  # encoding never decodes
    decoded = codec.decompress(first.data, method="mmse")
    assert decoded.image.shape == (46, 70, 3) and calls == ["tiled"]
    model.from_model(x_whole, (46, 70))  # the same VAE below the threshold: whole again
    assert calls == ["tiled"] and not vae.use_tiling
    # the default: SDXL's native 1024 x 1024 runs whole, anything larger tiled
    assert not model.autoencoder.tiled(1024 * 1024) and model.autoencoder.tiled(1024 * 1032)
