"""The diffc console script on tiny latent pipelines, in-process: compress, decompress, info and sweep
with ``--model DIR``, padding and crop by the recorded size, prompts and guidance, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_pipelines import build
from tiny_unet import smooth_image

from diffc.cli import main
from diffc.imaging.io import read_image, write_png
from diffc.models import weights_digest as wd


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(wd.CACHE_ENV, str(tmp_path_factory.getbasetemp() / "digest-cache"))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("latent-cli")
    for family in ("sd1", "flux", "dit"):
        build(family, root / family)
    (root / "images").mkdir()
    write_png(root / "images" / "a.png", smooth_image(18, 22, seed=2))  # needs padding to 20 x 24
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("family", ["sd1", "flux"])
def test_round_trip_crops_to_the_recorded_size(root: Path, family: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    model, image, file = root / family, root / "images" / "a.png", root / f"{family}.dfc"
    code, out, err = run(capsys, "compress", image, file, "--model", model, "--steps", 12, "--quiet")
    assert code == 0, err
    assert f"{8 * file.stat().st_size / (18 * 22):.4f} bpp" in out  # bits over the original pixels
    code, _, err = run(capsys, "decompress", file, root / f"{family}.png", "--model", model,
                       "--solver-steps", 2, "--quiet")
    assert code == 0, err
    assert read_image(root / f"{family}.png").shape == (18, 22, 3)
    code, out, _ = run(capsys, "info", file, "--json")
    info = json.loads(out)
    assert code == 0 and info["family"] == family and info["size"] == [18, 22]
    assert info["conditioning"] == "empty-prompt"


def test_the_file_carries_its_prompt_and_guidance(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, image, file = root / "sd1", root / "images" / "a.png", root / "prompted.dfc"
    code, out, err = run(capsys, "compress", image, file, "--model", model, "--steps", 12, "--quiet",
                         "--prompt", "a red barn", "--guidance", 2)
    assert code == 0, err
    assert f"{8 * file.stat().st_size / (18 * 22):.4f} bpp" in out  # the prompt's bytes count
    code, out, _ = run(capsys, "info", file, "--json")
    info = json.loads(out)
    assert (info["conditioning"], info["prompt"], info["guidance"], info["class_label"]) == (
        "prompt", "a red barn", 2.0, None)
    # options byte, guidance (2 varint bytes), the prompt's length and its 6-byte Huffman block
    assert info["ledger"]["total"]["conditioning_bits"] == 8 * (1 + 2 + 1 + 6)
    code, out, _ = run(capsys, "info", file)
    assert "conditioning prompt, digest" in out and "prompt 'a red barn', guidance 2.0" in out
    # decoding needs no option; the same options are accepted, other ones refused naming both
    for flags in ((), ("--prompt", "a red barn", "--guidance", 2)):
        code, _, err = run(capsys, "decompress", file, root / "p.png", "--model", model, "--quiet",
                           "--solver-steps", 2, *flags)
        assert code == 0, err
    for flags, named in ((("--prompt", "a blue barn"), "--prompt 'a blue barn' differs from the file's "
                          "prompt: 'a red barn'"),
                         (("--guidance", 3), "--guidance 3.0 differs from the file's guidance: 2.0"),
                         (("--class-label", 1), "--class-label 1 differs from the file's class-label: none")):
        code, _, err = run(capsys, "decompress", file, root / "x.png", "--model", model, "--quiet", *flags)
        assert code == 2 and named in err and err.count("\n") == 1
    assert not (root / "x.png").exists()


def test_the_file_carries_its_class_label(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, image, file = root / "dit", root / "images" / "a.png", root / "labelled.dfc"
    code, _, err = run(capsys, "compress", image, file, "--model", model, "--steps", 12, "--quiet",
                       "--class-label", 3)
    assert code == 0, err
    code, out, _ = run(capsys, "info", file, "--json")
    info = json.loads(out)
    assert (info["conditioning"], info["class_label"], info["prompt"]) == ("class", 3, None)
    code, _, err = run(capsys, "decompress", file, root / "d.png", "--model", model, "--quiet",
                       "--solver-steps", 2)
    assert code == 0, err
    assert read_image(root / "d.png").shape == (18, 22, 3)


def test_bad_conditioning_options_are_one_line_errors(root: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    image = root / "images" / "a.png"
    code, _, err = run(capsys, "compress", image, root / "y.dfc", "--model", root / "sd1", "--quiet",
                       "--prompt", "x" * 300)
    assert code == 2 and "never truncated" in err.splitlines()[-1]
    code, _, err = run(capsys, "compress", image, root / "y.dfc", "--model", root / "sd1", "--quiet",
                       "--guidance", 3)
    assert code == 2 and "guidance needs a prompt" in err
    code, _, err = run(capsys, "compress", image, root / "y.dfc", "--model", root / "dit", "--quiet",
                       "--prompt", "a red barn")
    assert code == 2 and "give a class label, not a prompt" in err and err.count("\n") == 1
    assert not (root / "y.dfc").exists()


def test_a_files_conditioning_that_does_not_fit_the_model_is_a_runtime_failure(
        root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Options read from a file are not the user's usage: a model they do not fit is the wrong model."""
    image, file = root / "images" / "a.png", root / "barn.dfc"
    code, _, err = run(capsys, "compress", image, file, "--model", root / "sd1", "--steps", 12, "--quiet",
                       "--prompt", "a red barn")
    assert code == 0, err
    code, _, err = run(capsys, "decompress", file, root / "z.png", "--model", root / "dit", "--quiet")
    assert code == 1 and "give a class label, not a prompt" in err and err.count("\n") == 1
    assert not (root / "z.png").exists()


def test_sweep_with_a_latent_model(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = root / "sweep"
    code, _, err = run(capsys, "sweep", root / "images", "--out", out_dir, "--model", root / "flux",
                       "--steps", 12, "--stops", 12, "--methods", "mmse", "--baselines", "jpeg-420",
                       "--quiet")
    assert code == 0, err
    assert list(out_dir.rglob("*.json"))


def test_sweep_carries_the_conditioning(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--prompt and --guidance reach every worker's model (CodecSpec), the CompressAI JSON's
    descriptions and the job id; a sweep without them keeps the job id it always had."""
    import hashlib
    from dataclasses import asdict, astuple

    from diffc.tools.sweep import JOB_FORMAT, CodecSpec, SweepConfig, job_id

    common = ("--steps", 12, "--stops", 12, "--methods", "mmse", "--baselines", "jpeg-420", "--quiet")
    code, _, err = run(capsys, "sweep", root / "images", "--out", root / "swept", "--model", root / "sd1",
                       *common, "--prompt", "a red barn", "--guidance", 2)
    assert code == 0, err
    description = json.loads((root / "swept" / "DiffC-MMSE.json").read_text())["description"]
    assert description.endswith("; conditioned on prompt 'a red barn', guidance 2.0")
    job = json.loads((root / "swept" / "jobs" / "a.json").read_text())
    file = root / "swept" / "files" / "a" / "a.dfc"
    assert job["file_bpp"] == pytest.approx(8 * file.stat().st_size / (18 * 22))
    code, out, _ = run(capsys, "info", file, "--json")
    assert (json.loads(out)["prompt"], json.loads(out)["guidance"]) == ("a red barn", 2.0)

    image, config = read_image(root / "images" / "a.png"), SweepConfig(stops=(12,), methods=("mmse",))
    plain = CodecSpec(model=str(root / "sd1"), steps=12).build()
    prompted = CodecSpec(model=str(root / "sd1"), steps=12, prompt="a red barn", guidance=2.0).build()
    assert prompted.model.conditioning.prompt == "a red barn"
    assert job["job_id"] == job_id(prompted, image, SweepConfig(stops=(12,), methods=("mmse",),
                                                                  baselines=("jpeg-420",)))
    h = hashlib.sha256(f"diffc-sweep-job/{JOB_FORMAT}\x00".encode())  # the rule before the options
    h.update(plain.model.fingerprint())
    h.update(repr((*astuple(plain.channel.spec), plain.steps)).encode())
    settings = {k: v for k, v in asdict(config).items() if k not in ("refine", "etas", "refine_baselines")}
    h.update(json.dumps(settings, sort_keys=True).encode() + repr(image.shape).encode() + image.tobytes())
    assert job_id(plain, image, config) == h.hexdigest()[:16] != job_id(prompted, image, config)


@pytest.mark.parametrize(("family", "options", "message"), [
    ("dit", ("--prompt", "a red barn"), "give a class label, not a prompt"),
    ("sd1", ("--class-label", 3), "give a prompt, not a class label"),
])
def test_sweep_refuses_conditioning_its_model_cannot_take_before_any_job(
        root: Path, family: str, options: tuple[object, ...], message: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = root / f"refused-{family}"
    code, _, err = run(capsys, "sweep", root / "images", "--out", out_dir, "--model", root / family,
                       "--steps", 12, "--stops", 12, "--methods", "mmse", "--baselines", "jpeg-420",
                       "--quiet", *options)
    assert code == 2 and message in err and err.count("\n") == 1
    assert not out_dir.exists()
