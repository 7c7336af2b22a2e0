"""Training the default model, on a tiny UNet and generated photos: the level weighting, a few steps,
bit-exact resume, refusal to mix settings, and the saved pipeline folder loading back."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from diffc.cli import main
from diffc.models import training

TINY = training.TrainConfig(size=16, steps=4, batch=2, warmup=2, block_out_channels=(8, 16),
                            norm_num_groups=4, attention=False, checkpoint_minutes=60.0, threads=1)


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    """Smooth random colour fields (a photo-like spectrum), of different sizes."""
    rng = np.random.default_rng(0)
    out = []
    for h, w in ((24, 30), (20, 20), (32, 18)):
        field = rng.normal(size=(h, w, 3)).cumsum(0).cumsum(1)
        field = (field - field.min()) / (np.ptp(field) + 1e-9)
        out.append((255 * field).astype(np.uint8))
    return out


def test_level_weights_are_a_distribution_with_bounded_elbo_weights() -> None:
    ab = training.build_scheduler(training.TrainConfig()).alphas_cumprod
    c = 0.25
    q, weight = training.level_weights(ab, c)
    assert q.shape == weight.shape == (1000,)
    assert torch.all(q > 0) and abs(float(q.sum()) - 1) < 1e-5
    assert abs(float((q * weight).sum()) - 1) < 1e-4
    # The ELBO weight over q is (1 + c SNR) / (c (1 + SNR)) up to a constant: between 1 and 1/c.
    ratio = weight.max() / weight.min()
    assert 1 <= float(ratio) <= 1 / c + 1e-3


def test_a_few_steps_write_log_checkpoint_and_a_loadable_pipeline(photos: list[np.ndarray],
                                                                   tmp_path: Path) -> None:
    from diffusers import DDPMScheduler, UNet2DModel

    state = training.train(photos, tmp_path, TINY, progress=False)
    assert state.step == TINY.steps
    rows = (tmp_path / training.LOSS_LOG).read_text().splitlines()
    assert rows[0] == "step,loss,lr,wall_s" and len(rows) == TINY.steps + 1
    pipe = tmp_path / training.PIPELINE
    assert (pipe / "model_index.json").is_file()
    unet = UNet2DModel.from_pretrained(pipe / "unet", local_files_only=True)
    scheduler = DDPMScheduler.from_pretrained(pipe / "scheduler", local_files_only=True)
    assert scheduler.config.prediction_type == "v_prediction" and not scheduler.config.clip_sample
    assert scheduler.config.beta_schedule == "squaredcos_cap_v2"
    saved = unet.state_dict()
    assert all(torch.equal(saved[k], state.ema[k]) for k in saved)  # the EMA weights are what ships
    assert any(not torch.equal(saved[k], v) for k, v in state.unet.state_dict().items())


def test_the_saved_pipeline_loads_through_the_model_loader(photos: list[np.ndarray], tmp_path: Path) -> None:
    from diffc.models import load_model

    training.train(photos, tmp_path, replace(TINY, steps=1), progress=False)
    model = load_model(tmp_path / training.PIPELINE)
    assert model.channels == 3


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(photos: list[np.ndarray],
                                                               tmp_path: Path) -> None:
    straight = training.train(photos, tmp_path / "a", TINY, progress=False)
    training.train(photos, tmp_path / "b", replace(TINY, steps=2), progress=False)
    resumed = training.train(photos, tmp_path / "b", TINY, resume=True, progress=False)
    assert resumed.step == straight.step == TINY.steps
    for name, value in straight.unet.state_dict().items():
        assert torch.equal(value, resumed.unet.state_dict()[name]), name
        assert torch.equal(straight.ema[name], resumed.ema[name]), name
    losses = [(tmp_path / d / training.LOSS_LOG).read_text().splitlines() for d in "ab"]
    assert [r.split(",")[:2] for r in losses[0]] == [r.split(",")[:2] for r in losses[1]]


def test_resume_refuses_other_settings_and_a_fresh_run_refuses_to_overwrite(photos: list[np.ndarray],
                                                                             tmp_path: Path) -> None:
    training.train(photos, tmp_path, replace(TINY, steps=1), progress=False)
    with pytest.raises(ValueError, match="other settings.*lr"):
        training.train(photos, tmp_path, replace(TINY, lr=1e-3), resume=True, progress=False)
    with pytest.raises(ValueError, match="exists"):
        training.train(photos, tmp_path, TINY, progress=False)
    with pytest.raises(OSError, match="no checkpoint"):
        training.train(photos, tmp_path / "new", TINY, resume=True, progress=False)


def test_photos_smaller_than_the_crop_are_rejected(photos: list[np.ndarray], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 64 px"):
        training.train(photos, tmp_path, replace(TINY, size=64), progress=False)


def test_the_crop_sampler_gives_each_octave_an_equal_share() -> None:
    photos = [np.zeros((h, h, 3), np.uint8) for h in (20, 30, 40)]
    positions = torch.tensor([5.0 ** 2, 15.0 ** 2, 25.0 ** 2], dtype=torch.float64)  # 16 px crops
    assert torch.equal(training.CropSampler(photos, 16).prob, positions / positions.sum())
    grouped = training.CropSampler(photos, 16, groups=[0, 0, 1]).prob
    expected = torch.tensor([25 / 250 / 2, 225 / 250 / 2, 1 / 2], dtype=torch.float64)
    assert torch.allclose(grouped, expected, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="2 group labels for 3 photos"):
        training.CropSampler(photos, 16, groups=[0, 1])


def test_octaves_must_label_the_photos_of_a_multi_octave_run(photos: list[np.ndarray],
                                                            tmp_path: Path) -> None:
    config = replace(TINY, octaves=(-1, 0), steps=1)
    with pytest.raises(ValueError, match="label each photo"):
        training.train(photos, tmp_path / "a", config, progress=False)
    with pytest.raises(ValueError, match=r"octaves \[1\] are not in"):
        training.train(photos, tmp_path / "b", config, progress=False, octaves=[0, 1, 0])
    state = training.train(photos, tmp_path / "c", config, progress=False, octaves=[-1, 0, 0])
    assert state.step == 1


def test_a_checkpoint_from_before_octaves_existed_resumes_as_octave_zero(photos: list[np.ndarray],
                                                                         tmp_path: Path) -> None:
    """Runs started before the ``octaves`` and ``codec_share`` settings must stay resumable, as the
    runs they were: one octave, no draws at the codec's levels."""
    import json

    training.train(photos, tmp_path, replace(TINY, steps=1), progress=False)
    ckpt = torch.load(tmp_path / training.CHECKPOINT, weights_only=True)
    for name in training.SETTINGS_BEFORE:
        del ckpt["config"][name]
    torch.save(ckpt, tmp_path / training.CHECKPOINT)
    config = json.loads((tmp_path / "config.json").read_text())
    for name in training.SETTINGS_BEFORE:
        del config[name]
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert training.export_pipeline(tmp_path, tmp_path / "export").step == 1
    assert training.train(photos, tmp_path, replace(TINY, steps=2), resume=True, progress=False).step == 2
    with pytest.raises(ValueError, match="other settings.*octaves"):
        training.train(photos, tmp_path, replace(TINY, steps=3, octaves=(0, 1)), resume=True,
                       progress=False, octaves=[0, 1, 1])


def test_the_codec_levels_are_the_image_codecs_times_weighted_by_their_steps_rates() -> None:
    from diffc.diffusion.schedules import DiscreteVP
    from diffc.diffusion.spacing import DEFAULT_STEPS, image_schedule

    scheduler = training.build_scheduler(training.TrainConfig())
    levels, prob = training.codec_levels(scheduler.alphas_cumprod, 64)
    times = image_schedule(DiscreteVP.from_diffusers(scheduler), (3, 64, 64), DEFAULT_STEPS).times
    assert levels.tolist() == [int(t) for t in times[:-1]] and levels[0] == 999
    ab = scheduler.alphas_cumprod.double()
    snr = ab / (1 - ab)
    # The step from 999 to the second time: SNR_{t_1} - SNR_999 times sigma_999^2, over the total.
    coef = [0.5 * (snr[b] - snr[a]) * (1 - ab[a])
            for a, b in zip(map(int, times[:-1]), map(int, times[1:]), strict=True)]
    assert torch.allclose(prob.double(), torch.tensor(coef) / sum(coef), rtol=1e-6)
    # The ELBO's own distribution over levels almost never draws the first: the reason for the share.
    q, _ = training.level_weights(scheduler.alphas_cumprod, 0.3)
    assert q[999] < 1e-6 < prob[0]


def test_draw_levels_puts_the_codec_share_last_with_weight_one_and_the_right_frequencies() -> None:
    """Chi-square of 16,000 codec draws against the codec's distribution (15 levels, at the suite's
    per-check level), and the ELBO draws unchanged by the share."""
    from rcc.testing import assert_chi2_counts

    scheduler = training.build_scheduler(training.TrainConfig())
    codec = training.codec_levels(scheduler.alphas_cumprod, 64)
    q, weight = training.level_weights(scheduler.alphas_cumprod, 0.3)
    plain, _ = training.draw_levels(14, q, weight, torch.Generator().manual_seed(5))
    t, w = training.draw_levels(16, q, weight, torch.Generator().manual_seed(5), 2, codec)
    assert torch.equal(t[:14], plain) and torch.equal(w[:14], weight[plain])
    assert torch.equal(w[14:], torch.ones(2))
    gen = torch.Generator().manual_seed(0)
    draws = torch.cat([training.draw_levels(10, q, weight, gen, 8, codec)[0][2:] for _ in range(2000)])
    assert set(draws.tolist()) <= set(codec[0].tolist())
    counts = [int((draws == level).sum()) for level in codec[0]]
    prob = codec[1].double().numpy()
    assert_chi2_counts(counts, prob / prob.sum(), what="codec levels")  # float32 sums to 1 +- 1e-7


def test_a_codec_share_trains_resumes_bit_exactly_and_must_leave_elbo_draws(photos: list[np.ndarray],
                                                                          tmp_path: Path) -> None:
    config = replace(TINY, batch=4, codec_share=0.25)
    straight = training.train(photos, tmp_path / "a", config, progress=False)
    training.train(photos, tmp_path / "b", replace(config, steps=2), progress=False)
    resumed = training.train(photos, tmp_path / "b", config, resume=True, progress=False)
    for name, value in straight.ema.items():
        assert torch.equal(value, resumed.ema[name]), name
    plain = training.train(photos, tmp_path / "c", replace(TINY, batch=4), progress=False)
    assert not all(torch.equal(v, plain.ema[k]) for k, v in straight.ema.items())
    with pytest.raises(ValueError, match="codec_share"):
        training.train(photos, tmp_path / "d", replace(TINY, codec_share=0.75), progress=False)
    with pytest.raises(ValueError, match="other settings.*codec_share"):
        training.train(photos, tmp_path / "a", replace(TINY, batch=4), resume=True, progress=False)


def test_cli_train_errors(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    args = ["train", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--quiet"]
    assert main(args) == 1  # no manifest.json in the data folder
    assert main([*args, "--size", "20"]) == 2  # four levels need a multiple of 8
    for octaves in ("5", "0,x"):
        with pytest.raises(SystemExit) as exc:
            main([*args, "--octaves", octaves])
        assert exc.value.code == 2
    if not torch.cuda.is_available():
        assert main([*args, "--device", "cuda"]) == 2
        assert main([*args, "--recipe", "gpu"]) == 2  # the gpu recipe trains on CUDA unless told otherwise
    with pytest.raises(SystemExit) as exc:
        main([*args, "--recipe", "tpu"])
    assert exc.value.code == 2
    assert main([*args, "--batch", "8", "--codec-share", "0.95"]) == 2  # no draw left for the ELBO
    with pytest.raises(SystemExit) as exc:
        main([*args, "--codec-share", "1.5"])
    assert exc.value.code == 2


class _StubModel:
    """An ELBO model whose ``x_hat`` is a fixed shrinkage of the true image (known exact NELBO)."""

    def __init__(self, x: torch.Tensor, shrink: float):
        self.alphas_cumprod = training.build_scheduler(training.TrainConfig()).alphas_cumprod.double()
        self.x, self.shrink = x.double(), shrink

    def x_hat(self, z: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        return self.shrink * self.x


def test_nelbo_estimate_is_unbiased_against_the_exact_sum_over_levels() -> None:
    from diffc.models import nelbo

    gen = torch.Generator().manual_seed(0)
    x = (torch.randint(0, 256, (3, 3, 4, 4), generator=gen).double() * (2 / 255) - 1)
    model = _StubModel(x, 0.9)
    ab = model.alphas_cumprod
    snr = ab / (1 - ab)
    err = (0.1 * x).pow(2).flatten(1).sum(1)
    exact_kl = 0.5 * (snr[:-1] - snr[1:]).sum() * err
    prior = 0.5 * (ab[-1] * x.pow(2) - ab[-1] - torch.log1p(-ab[-1])).flatten(1).sum(1)
    decoder = nelbo.discretized_gaussian_nll(x, 0.9 * x, float((1 - ab[0]).sqrt()))
    exact = prior + decoder + exact_kl
    q, _ = training.level_weights(ab, 0.3)
    draws = nelbo.nelbo_draws(model, x, 4000, gen, q.double())
    mean, se = draws.mean(0), draws.std(0) / math.sqrt(draws.shape[0])
    assert torch.all((mean - exact).abs() < 5 * se), (mean, exact, se)


def test_the_codec_rate_of_a_known_predictor_is_exact() -> None:
    """With ``x_hat = 0.9 x`` every step's error is known: one draw gives the exact rate."""
    from diffc.models import nelbo

    gen = torch.Generator().manual_seed(0)
    x = (torch.randint(0, 256, (2, 3, 8, 8), generator=gen).double() * (2 / 255) - 1)
    model = _StubModel(x, 0.9)
    times = training.codec_times(model.alphas_cumprod, 8)
    assert times[0] == 999 and len(times) == 16 and times == sorted(times, reverse=True)
    ab = model.alphas_cumprod
    snr = ab / (1 - ab)
    err = (0.1 * x).pow(2).flatten(1).sum(1)
    terms = nelbo.codec_rate_draws(model, x, times, gen)
    assert terms.shape == (16, 2)
    prior = 0.5 * (ab[999] * x.pow(2) - ab[999] - torch.log1p(-ab[999])).flatten(1).sum(1)
    assert torch.allclose(terms[0], prior)
    for k in range(15):
        assert torch.allclose(terms[k + 1], 0.5 * (snr[times[k + 1]] - snr[times[k]]) * err)


def test_discretized_gaussian_puts_all_mass_on_the_bins() -> None:
    from diffc.models import nelbo

    levels = torch.arange(256, dtype=torch.float64) * (2 / 255) - 1
    mean = torch.full((256,), 0.3141, dtype=torch.float64)
    nll = nelbo.discretized_gaussian_nll(levels.view(256, 1, 1, 1), mean.view(256, 1, 1, 1), 0.05)
    assert abs(float(torch.exp(-nll).sum()) - 1) < 1e-9
    # A perfect mean with std a quarter of the bin width: 99.99 % of the mass in the right bin.
    exact = nelbo.discretized_gaussian_nll(levels.view(256, 1, 1, 1), levels.view(256, 1, 1, 1), 0.001)
    assert float(exact.max()) < 1e-3


def test_nelbo_of_a_saved_pipeline_beside_png_and_webp(photos: list[np.ndarray], tmp_path: Path) -> None:
    from diffc.models import nelbo

    training.train(photos, tmp_path, replace(TINY, steps=1), progress=False)
    images = {"a": photos[0], "b": photos[2]}
    result = nelbo.evaluate(tmp_path / training.PIPELINE, size=16, draws=2, progress=False, photos=images)
    assert result["crops"] == sum(r["crops"] for r in result["per_photo"].values()) > 0
    assert result["nelbo_bpd"] > 0 and 0 < result["nelbo_bpd_stderr"] < result["nelbo_bpd"]
    assert result["crops"] == 3 and result["per_photo"]["b"]["crops"] == 2
    small = nelbo.evaluate(tmp_path / training.PIPELINE, size=16, draws=2, progress=False,
                           photos=images | {"tiny": photos[0][:8, :8]})
    assert small["per_photo"]["tiny"] == {"crops": 0} and small["crops"] == 3
    assert 0 < result["webp_lossless_bpd"] < 16 and 0 < result["png_bpd"] < 16
    # The same draws for another model: the paired difference, exact zero against itself.
    training.train(photos, tmp_path / "other", replace(TINY, steps=2), progress=False)
    other = nelbo.evaluate(tmp_path / "other" / training.PIPELINE, size=16, draws=2, progress=False,
                           photos=images)
    assert nelbo.paired_difference(result, result) == {"bpd": 0.0, "stderr": 0.0}
    d = nelbo.paired_difference(other, result)
    assert d["bpd"] == pytest.approx(other["nelbo_bpd"] - result["nelbo_bpd"]) and d["stderr"] > 0
    with pytest.raises(ValueError, match="same crops"):
        nelbo.paired_difference(other, result | {"seed": 1})
    with pytest.raises(ValueError, match="draws must be an integer >= 2"):
        nelbo.evaluate(tmp_path / training.PIPELINE, size=16, draws=1, progress=False, photos=images)
    # The codec's rate at its own steps, paired like the NELBO; the NELBO's draws are unchanged by it.
    both = [nelbo.evaluate(folder, size=16, draws=2, progress=False, photos=images, codec=True)
            for folder in (tmp_path / training.PIPELINE, tmp_path / "other" / training.PIPELINE)]
    assert both[0]["per_crop_bpd"] == result["per_crop_bpd"]
    codec = both[0]["codec"]
    assert len(codec["times"]) == 16 and codec["times"][0] == 999 and len(codec["per_crop_bpd"]) == 3
    assert sum(codec["step_bpd"]) == pytest.approx(codec["rate_bpd"]) and codec["rate_bpd_stderr"] > 0
    d = nelbo.paired_difference(*both)
    codec_diff = both[0]["codec"]["rate_bpd"] - both[1]["codec"]["rate_bpd"]
    assert d["codec_rate"]["bpd"] == pytest.approx(codec_diff)
    assert nelbo.paired_difference(both[0], both[0])["codec_first_step"] == {"bpd": 0.0, "stderr": 0.0}
    moved = both[1] | {"codec": both[1]["codec"] | {"times": both[1]["codec"]["times"][::-1]}}
    with pytest.raises(ValueError, match="same steps"):
        nelbo.paired_difference(both[0], moved)
    # One crop has no standard error over crops: null in the JSON, never NaN.
    one = nelbo.evaluate(tmp_path / training.PIPELINE, size=16, draws=2, progress=False,
                         photos={"a": photos[1][:16, :16]}, codec=True)
    assert one["crops"] == 1 and one["codec"]["rate_bpd_stderr"] is None
    assert nelbo.paired_difference(one, one)["codec_rate"]["stderr"] is None
    json.dumps(one | {"minus": nelbo.paired_difference(one, one)}, allow_nan=False)


def test_nelbo_pairs_with_an_earlier_runs_json(photos: list[np.ndarray], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """``--baseline run.json`` pairs with a stored run exactly as evaluating the baseline again does,
    and a stored run that cannot pair is refused before the model is evaluated."""
    from functools import partial

    from diffc.models import nelbo

    images = {"a": photos[0], "b": photos[2]}
    # The command tiles every held-out photo; two small ones keep the test fast.
    monkeypatch.setattr(nelbo, "evaluate", partial(nelbo.evaluate, photos=images))
    for name, steps in (("one", 1), ("two", 2)):
        training.train(photos, tmp_path / name, replace(TINY, steps=steps), progress=False)
    one, two = (str(tmp_path / name / training.PIPELINE) for name in ("one", "two"))
    common = ["--size", "16", "--draws", "2", "--quiet", "--codec"]
    assert nelbo.main(["--model", one, "--json", str(tmp_path / "one.json")] + common) == 0
    assert nelbo.main(["--model", two, "--baseline", one, "--json", str(tmp_path / "a.json")] + common) == 0
    stored = tmp_path / "one.json"
    assert nelbo.main(["--model", two, "--baseline", str(stored), "--json", str(tmp_path / "b.json")]
                      + common) == 0
    fresh, paired = (json.loads((tmp_path / f).read_text())["minus_baseline"] for f in ("a.json", "b.json"))
    assert fresh["bpd"] != 0 and fresh["codec_rate"]["bpd"] != 0
    assert {k: v for k, v in fresh.items() if k != "baseline"} == \
        {k: v for k, v in paired.items() if k != "baseline"}
    capsys.readouterr()

    def refused(argv: list[str]) -> str:
        with pytest.raises(SystemExit) as exit_info:
            nelbo.main(["--model", two] + argv)
        assert exit_info.value.code == 2
        return capsys.readouterr().err

    monkeypatch.setattr(nelbo, "evaluate", lambda *a, **k: pytest.fail("evaluated before refusing"))
    assert "seed 0" in refused(["--baseline", str(stored), "--seed", "1"] + common)
    no_codec = tmp_path / "no_codec.json"
    no_codec.write_text(json.dumps({k: v for k, v in json.loads(stored.read_text()).items() if k != "codec"}))
    assert "without --codec" in refused(["--baseline", str(no_codec)] + common)
    earlier = json.loads(stored.read_text())
    earlier["codec"]["times"] = [999, 615, 428]
    (tmp_path / "earlier.json").write_text(json.dumps(earlier))
    assert "other steps" in refused(["--baseline", str(tmp_path / "earlier.json")] + common)
    (tmp_path / "bad.json").write_text("{")
    assert "not a JSON file of this module" in refused(["--baseline", str(tmp_path / "bad.json")] + common)
    assert "no such pipeline folder or JSON file" in refused(["--baseline", str(tmp_path / "nope")] + common)


def test_export_pipeline_from_a_running_or_finished_run(photos: list[np.ndarray], tmp_path: Path) -> None:
    from diffusers import UNet2DModel

    state = training.train(photos, tmp_path / "run", replace(TINY, steps=2), progress=False)
    assert training.export_pipeline(tmp_path / "run", tmp_path / "copy").step == 2
    unet = UNet2DModel.from_pretrained(tmp_path / "copy" / "unet", local_files_only=True)
    assert all(torch.equal(v, state.ema[k]) for k, v in unet.state_dict().items())


def test_a_warm_start_begins_from_the_given_pipeline_and_refuses_another_architecture(
        photos: list[np.ndarray], tmp_path: Path) -> None:
    first = training.train(photos, tmp_path / "a", replace(TINY, steps=1), progress=False)
    warm = replace(TINY, steps=0, init=str(tmp_path / "a" / training.PIPELINE))
    state = training.train(photos, tmp_path / "b", warm, progress=False)
    for name, value in state.unet.state_dict().items():
        assert torch.equal(value, first.ema[name]), name  # the source's shipped (EMA) weights
    other = replace(warm, block_out_channels=(8, 8))
    with pytest.raises(ValueError, match="not this run's architecture"):
        training.train(photos, tmp_path / "c", other, progress=False)


def test_the_learning_rate_warms_up_then_is_constant_or_follows_the_cosine() -> None:
    config = replace(TINY, lr=1e-3, warmup=10, steps=110)
    assert training._lr(config, 0) == pytest.approx(1e-4)
    assert all(training._lr(config, s) == pytest.approx(1e-3) for s in (9, 50, 109))
    decayed = replace(config, lr_final=0.1)
    assert training._lr(decayed, 10) == pytest.approx(1e-3)
    assert training._lr(decayed, 60) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    assert training._lr(decayed, 110) == pytest.approx(1e-4)
    lrs = [training._lr(decayed, s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))


def test_the_cpu_recipe_is_the_defaults_and_the_gpu_recipe_warm_starts_from_the_shipped_model() -> None:
    from diffc.models import default_model_dir

    assert training.RECIPES["cpu"] == training.TrainConfig()
    gpu = training.RECIPES["gpu"]
    assert gpu.bf16 and gpu.device == "cuda" and gpu.batch > training.TrainConfig().batch
    assert Path(gpu.init) == default_model_dir()
    # The shipped model's architecture is the recipe's: the warm start loads every tensor.
    state = training._new_state(replace(gpu, device="cpu"), 0.3)
    from diffusers import UNet2DModel

    shipped = UNet2DModel.from_pretrained(default_model_dir() / "unet", local_files_only=True).state_dict()
    assert all(torch.equal(v, shipped[k]) for k, v in state.unet.state_dict().items())


def test_bf16_autocast_trains_on_the_cpu_and_changes_the_arithmetic(photos: list[np.ndarray],
                                                                    tmp_path: Path) -> None:
    tiny_gpu = replace(training.RECIPES["gpu"], size=TINY.size, steps=2, batch=2, warmup=2,
                       block_out_channels=TINY.block_out_channels, norm_num_groups=TINY.norm_num_groups,
                       attention=False, init="", device="cpu", threads=1)
    half = training.train(photos, tmp_path / "bf16", tiny_gpu, progress=False)
    full = training.train(photos, tmp_path / "fp32", replace(tiny_gpu, bf16=False), progress=False)
    assert half.step == full.step == 2
    logs = [(tmp_path / d / training.LOSS_LOG).read_text().splitlines()[1:] for d in ("bf16", "fp32")]
    losses = [[float(r.split(",")[1]) for r in rows] for rows in logs]
    assert all(math.isfinite(v) for v in losses[0] + losses[1])
    # Same seed and data: only the precision of the forward pass differs, and it shows in the weights.
    assert any(not torch.equal(half.ema[k], full.ema[k]) for k in half.ema)
    # bf16 keeps 8 bits of mantissa: the first step's loss (same weights, same draws) agrees to ~1 %.
    assert losses[0][0] == pytest.approx(losses[1][0], rel=0.05)
    # A checkpoint of a bf16 run resumes in float32 (precision is not part of a run's identity).
    training.train(photos, tmp_path / "bf16", replace(tiny_gpu, steps=3, bf16=False), resume=True,
                   progress=False)


def _tiny_pack(photos: list[np.ndarray], folder: Path) -> Path:
    from diffc.models import photo_pack

    big = [np.kron(p, np.ones((2, 2, 1), dtype=np.uint8)) for p in photos]  # >= 32 px on each side
    photo_pack.write_pack({f"test/{k}.png": p for k, p in enumerate(big)}, folder)
    return folder


def test_cli_gpu_recipe_on_the_cpu_writes_a_compact_pipeline_that_restores(photos: list[np.ndarray],
                                                                           tmp_path: Path) -> None:
    from diffc.models import compact_weights, load_model, nelbo

    pack = _tiny_pack(photos, tmp_path / "pack")
    out = tmp_path / "run"
    args = ["train", "--recipe", "gpu", "--device", "cpu", "--data", str(pack), "--out", str(out),
            "--size", "16", "--batch", "1", "--steps", "1", "--threads", "1", "--quiet"]
    assert main(args) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["bf16"] and saved["batch"] == 1 and Path(saved["init"]).name == "default"
    compact = out / "pipeline_fp16"
    files = [p for p in compact.rglob("*") if p.is_file()]
    assert files and max(p.stat().st_size for p in files) <= compact_weights.MAX_FILE_BYTES
    compact_weights.restore_float32(compact, tmp_path / "restored")
    assert load_model(tmp_path / "restored").channels == 3
    result = nelbo.evaluate(tmp_path / "restored", size=16, draws=2, progress=False, photos={"a": photos[0]})
    assert result["nelbo_bpd"] > 0
    assert main([*args, "--resume", "--steps", "2"]) == 0  # the run's own compact folder is replaced
    assert main([*args, "--out", str(tmp_path / "other"), "--compact", str(compact)]) == 2  # must be new


@pytest.mark.slow
def test_sigterm_stops_a_run_cleanly_with_checkpoint_pipeline_and_compact_export(photos: list[np.ndarray],
                                                                                 tmp_path: Path) -> None:
    """What the GPU check relies on at its deadline: SIGTERM ends the run at a step boundary and the
    weights reached so far are all written (the process exits 0)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[1]
    pack = _tiny_pack(photos, tmp_path / "pack")
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "kernels"), str(root),
                                                         os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "diffc.cli", "train", "--recipe", "gpu", "--device", "cpu",
                             "--data", str(pack), "--out", str(out), "--size", "16", "--batch", "1",
                             "--steps", "1000000", "--threads", "1", "--quiet"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            log = out / training.LOSS_LOG
            if log.is_file() and len(log.read_text().splitlines()) >= 3:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    steps = len((out / training.LOSS_LOG).read_text().splitlines()) - 1
    assert 2 <= steps < 1000000
    state = training.load_checkpoint(out / training.CHECKPOINT, replace(
        training.RECIPES["gpu"], size=16, batch=1, steps=1000000, device="cpu"))
    assert state.step == steps
    assert (out / training.PIPELINE / "model_index.json").is_file()
    assert (out / "pipeline_fp16" / "unet" / "config.json").is_file()
