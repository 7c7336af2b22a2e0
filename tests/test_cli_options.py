"""Every command-line tool answers bad usage with exit 2 and one line on stderr, never a traceback
(issue 24); a sweep records an unreadable image as a failed job and goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tiny_unet import save_tiny_model, smooth_image

from diffc import cli as diffc_cli
from diffc.imaging.io import write_png
from diffc.models import load_model
from rcc import cli as rcc_cli


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("options")
    model = save_tiny_model(root / "model")
    write_png(root / "a.png", smooth_image(12, 17))
    return root, model


def call(main: object, argv: list[object], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    return code, capsys.readouterr().err


# (tool arguments before the bad option, the bad option and value, words the message must contain)
BAD = [
    ("compress", ["--threads", "100000"], "[1, 256]"),
    ("compress", ["--threads", "0"], "[1, 256]"),
    ("compress", ["--device", "xyz"], "cpu, cuda"),
    ("compress", ["--device", "cuda:x"], "cpu, cuda"),
    ("compress", ["--dtype", "float8"], "float32"),
    ("compress", ["--bpp", "nan"], "finite"),
    ("compress", ["--bpp", "-1"], "> 0"),
    ("compress", ["--bpp", "inf"], "finite"),
    ("compress", ["--psnr", "0"], "> 0"),
    ("compress", ["--stop-t", "-5"], ">= 0"),
    ("compress", ["--stop-t", "1e9"], "noisiest"),
    ("compress", ["--steps", "999"], "[1, 128]"),
    ("compress", ["--chunk-bits", "40"], "[1, 30]"),
    ("compress", ["--headroom-bits", "-1"], "[0, 16]"),
    ("compress", ["--seed", "-1"], "seed"),
    ("compress", ["--seed", str(2**64)], "seed"),
    ("decompress", ["--eta", "2", "--method", "eta"], "<= 1"),
    ("decompress", ["--solver-steps", "100000"], "[1, 10000]"),
    ("decompress", ["--seed", "x"], "seed"),
    ("decompress", ["--threads", "-3"], "threads"),
    ("sweep", ["--stops", "999"], "step counts"),
    ("sweep", ["--stops", "8", "--steps", "4"], "4 steps"),
    ("sweep", ["--baselines", "xyz"], "jpeg-420"),
    ("sweep", ["--methods", "xyz"], "mmse"),
    ("sweep", ["--workers", "100000"], "workers"),
    ("sweep", ["--retries", "-1"], "retries"),
    ("sweep", ["--solver-steps", "0"], "solver-steps"),
    ("demo", ["--size", "0"], "size"),
    ("demo", ["--images", "-1"], "images"),
    ("demo", ["--stops", "999"], "step counts"),
    ("demo", ["--stops", "32"], "16 steps"),
    ("demo", ["--threads", "100000"], "threads"),
    ("train", ["--lr", "nan"], "lr"),
    ("train", ["--checkpoint-minutes", "-1"], "checkpoint-minutes"),
    ("train", ["--threads", "100000"], "threads"),
    ("train", ["--seed", "-1"], "seed"),
    ("train", ["--device", "tpu"], "device"),
    ("compress", ["--guidance", "nan"], "finite"),
    ("compress", ["--class-label", "-1"], "[0, "),
    ("compress", ["--prompt", "a red barn"], "takes no prompt"),
    ("refine compress", ["--bpp", "nan"], "finite"),
    ("refine compress", ["--seed", "-1"], "[0, "),
    ("refine decompress", ["--solver-steps", "100000"], "[1, 10000]"),
    ("refine decompress", ["--scale", "inf"], "finite"),
    ("refine decompress", ["--scale", "0"], "> 0"),
    ("refine decompress", ["--seed", "-1"], "[0, "),
    ("refine decompress", ["--eta", "2", "--method", "eta"], "<= 1"),
]


def _argv(tool: str, root: Path, model: Path) -> list[object]:
    return {
        "compress": ["compress", root / "a.png", root / "x.dfc", "--model", model, "--quiet"],
        "decompress": ["decompress", root / "a.png", root / "x.png", "--model", model, "--quiet"],
        "sweep": ["sweep", root / "a.png", "--out", root / "sweep", "--model", model, "--quiet"],
        "demo": ["demo", "--model", model, "--out", root / "demo", "--quiet"],
        "train": ["train", "--data", root, "--out", root / "train", "--quiet"],
        "refine compress": ["refine", "compress", root / "a.png", root / "x.rf", "--model", model, "--quiet",
                            "--quality", "30"],
        "refine decompress": ["refine", "decompress", root / "a.png", root / "y.png", "--model", model,
                              "--quiet"],
    }[tool]


@pytest.mark.parametrize(("tool", "bad", "words"), BAD, ids=[f"{t}{' '.join(b)}" for t, b, _ in BAD])
def test_bad_option_values_exit_2_with_one_line(setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
                                                tool: str, bad: list[str], words: str) -> None:
    root, model = setup
    code, err = call(diffc_cli.main, [*_argv(tool, root, model), *bad], capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"diffc {tool}: error:") and words in err, err


def test_cuda_on_a_cpu_only_torch_is_bad_usage(setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    root, model = setup
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for tool in ("compress", "decompress", "sweep"):
        code, err = call(diffc_cli.main, [*_argv(tool, root, model), "--device", "cuda"], capsys)
        assert code == 2 and "no cuda device" in err and len(err.strip().splitlines()) == 1, err


RCC_BAD = [
    (["--kl", "nan"], "KL"), (["--kl", "-1"], "KL"), (["--kl", "1e300"], "KL"),
    (["--samples", "0"], "samples"),
    (["--candidate-budget", "-1"], "candidate-budget"), (["--seed", "-1"], "seed"),
    (["--coders", "xyz"], "pfr,grs"), (["--families", "xyz"], "gaussian"), (["--workers", "0"], "workers"),
    (["--retries", "1000"], "retries"),
]


@pytest.mark.parametrize(("bad", "words"), RCC_BAD, ids=[" ".join(b) for b, _ in RCC_BAD])
def test_rcc_bad_option_values_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    bad: list[str], words: str) -> None:
    code, err = call(rcc_cli.main, ["overhead", "--out", tmp_path, "--quiet", *bad], capsys)
    assert code == 2 and words in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_unknown_options_and_commands_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for main, argv in ((diffc_cli.main, ["compress", "--no-such-option"]), (diffc_cli.main, ["nope"]),
                       (rcc_cli.main, ["overhead", "--nope"]), (rcc_cli.main, ["nope"])):
        code, err = call(main, argv, capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1, err


def test_a_sweep_records_an_unreadable_image_as_failed_and_goes_on(
        setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, model = setup
    (tmp_path / "in").mkdir()
    write_png(tmp_path / "in" / "good.png", smooth_image(10, 12))
    (tmp_path / "in" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "out"
    code = diffc_cli.main(["sweep", str(tmp_path / "in"), "--out", str(out), "--model", str(model), "--quiet",
                           "--stops", "16", "--solver-steps", "2", "--baselines", "jpeg-420",
                           "--methods", "mmse"])
    printed = capsys.readouterr()
    assert code == 1 and "Traceback" not in printed.err
    assert "failed: bad after 1 attempt(s): " in printed.out and "not a readable image" in printed.out
    assert json.loads((out / "jobs" / "good.json").read_text())["image"] == "good"
    assert "not a readable image" in json.loads((out / "jobs" / "bad.failed.json").read_text())["error"]
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["finished"] == 1 and list(summary["failed"]) == ["bad"]
    assert summary["model_fingerprint"] == load_model(model).fingerprint().hex()[:16]


def test_a_grayscale_photo_is_coded_as_rgb_with_a_one_line_note(
        setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, model = setup
    write_png(tmp_path / "gray.png", smooth_image(8, 9, channels=1))
    code, err = call(diffc_cli.main, ["compress", tmp_path / "gray.png", tmp_path / "g.dfc", "--model", model,
                                      "--quiet"], capsys)
    assert code == 0 and (tmp_path / "g.dfc").stat().st_size > 0
    assert err.startswith("diffc compress: warning:") and "grayscale" in err, err
    assert len(err.splitlines()) == 1, err


def test_long_cpu_work_is_announced(recwarn: pytest.WarningsRecorder) -> None:
    from diffc.cli._common import note_expected_time

    candidates = 2 ** 11  # the default channel's 8-bit chunks and 3 bits of headroom
    note_expected_time("cpu", 256 * 256, 16, candidates)  # about 41 s: no note
    note_expected_time("cuda", 1024 * 1024, 16, candidates)  # a GPU: no CPU estimate
    note_expected_time("cpu", 512 * 512, 26)  # decoding: 26 passes, no search, about 40 s
    assert len(recwarn) == 0
    note_expected_time("cpu", 1024 * 1024, 16, candidates)
    note_expected_time("cpu", 1024 * 1024, 26)
    assert [str(w.message).split(": ")[1] for w in recwarn] == [
        "expect roughly 11 min on a CPU (docs/inputs.md); --bpp, --stop-t or a GPU are faster",
        "expect roughly 3 min on a CPU (docs/inputs.md); --bpp, --stop-t or a GPU are faster"]
