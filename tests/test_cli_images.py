"""The diffc console script on images, in-process: round trips, the sweep, exit codes and messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_images import zero_width_png
from tiny_unet import save_tiny_model, smooth_image

from diffc.cli import main
from diffc.container import read_container, truncate
from diffc.imaging.io import read_image, write_png
from rcc.gaussian import PRESETS, ChannelSpec, preset


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    model = save_tiny_model(root / "model")
    write_png(root / "a.png", smooth_image(12, 17))
    return root, model


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_compress_decompress_round_trip(setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    root, model = setup
    code, out, _ = run(capsys, "compress", root / "a.png", root / "a.dfc", "--model", model, "--quiet",
                       "--seed", 4)
    assert code == 0 and "bpp" in out
    assert f"{8 * (root / 'a.dfc').stat().st_size / (12 * 17):.4f} bpp" in out
    for method in ("ode", "sde", "mmse"):
        code, out, _ = run(capsys, "decompress", root / "a.dfc", root / f"{method}.png", "--model", model,
                           "--method", method, "--solver-steps", 3, "--quiet")
        assert code == 0 and read_image(root / f"{method}.png").shape == (12, 17, 3)
    (root / "prefix.dfc").write_bytes(truncate((root / "a.dfc").read_bytes(), 3))
    code, out, _ = run(capsys, "decompress", root / "prefix.dfc", root / "p.png", "--model", model,
                       "--method", "mmse", "--quiet")
    assert code == 0 and "prefix" in out


def test_eta_decoder_and_rate_options(setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    root, model = setup
    code, _, _ = run(capsys, "compress", root / "a.png", root / "b.dfc", "--model", model, "--quiet",
                     "--stop-t", 200, "--coder", "orc", "--chunk-bits", 6, "--headroom-bits", 4)
    assert code == 0
    code, _, _ = run(capsys, "decompress", root / "b.dfc", root / "b.png", "--model", model, "--quiet",
                     "--method", "eta", "--eta", 0.5, "--solver-steps", 2)
    assert code == 0


def test_channel_presets_reach_the_file(setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """--preset picks the channel's settings, --chunk-bits overrides one of them; the header says so."""
    root, model = setup
    for argv, expected in (((), PRESETS["default"]), (("--preset", "exact"), PRESETS["exact"]),
                           (("--preset", "fast"), ChannelSpec(chunk_bits=7, headroom_bits=2)),
                           (("--preset", "exact", "--chunk-bits", 5), preset("exact", chunk_bits=5))):
        code, _, _ = run(capsys, "compress", root / "a.png", root / "c.dfc", "--model", model, "--quiet",
                         "--stop-t", 600, *argv)
        header = read_container((root / "c.dfc").read_bytes()).header
        assert code == 0 and header.channel == expected
    with pytest.raises(SystemExit) as exc:
        main(["compress", str(root / "a.png"), str(root / "c.dfc"), "--preset", "turbo"])
    assert exc.value.code == 2 and "invalid choice: 'turbo'" in capsys.readouterr().err


def test_usage_errors_exit_2(setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    root, model = setup
    with pytest.raises(SystemExit) as exc:
        main(["compress", str(root / "missing.png"), str(root / "x.dfc"), "--model", str(model)])
    assert exc.value.code == 2 and "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["compress", str(root / "a.png"), str(root / "x.dfc"), "--model", str(root / "nomodel")])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["compress", str(root / "a.png"), str(root / "x.dfc"), "--bpp", "1", "--psnr", "20"])
    assert exc.value.code == 2
    code, _, err = run(capsys, "decompress", root / "a.png", root / "x.png", "--model", model, "--eta", 0.3)
    assert code == 2 and "--eta" in err
    with pytest.raises(SystemExit) as exc:
        main(["compress", str(root / "a.png"), str(root / "x.dfc"), "--model", str(model),
              "--chunk-bits", "40"])
    assert exc.value.code == 2 and "--chunk-bits" in capsys.readouterr().err


def test_runtime_failures_exit_1_with_one_line(tmp_path: Path, setup: tuple[Path, Path],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    root, model = setup
    run(capsys, "compress", root / "a.png", tmp_path / "a.dfc", "--model", model, "--quiet")
    data = (tmp_path / "a.dfc").read_bytes()
    Image.fromarray(np.dstack([smooth_image(6, 6), np.full((6, 6), 3, np.uint8)])).save(tmp_path / "rgba.png")
    (tmp_path / "junk.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "empty.png").write_bytes(zero_width_png())
    (tmp_path / "cut.dfc").write_bytes(data[: len(data) // 2])
    other = save_tiny_model(tmp_path / "other", seed=5)
    (tmp_path / "folder_model").mkdir()
    cases = [
        (("compress", tmp_path / "rgba.png", tmp_path / "x.dfc", "--model", model), "alpha"),
        (("compress", tmp_path / "junk.png", tmp_path / "x.dfc", "--model", model), "not a readable image"),
        (("compress", tmp_path / "empty.png", tmp_path / "x.dfc", "--model", model), "empty"),
        (("compress", root / "a.png", tmp_path / "x.dfc", "--model", tmp_path / "folder_model"), "neither"),
        (("decompress", tmp_path / "cut.dfc", tmp_path / "x.png", "--model", model), "truncated"),
        (("decompress", tmp_path / "a.dfc", tmp_path / "x.png", "--model", other), "wrong model"),
        (("decompress", root / "a.png", tmp_path / "x.png", "--model", model), "DiffC"),
    ]
    for argv, message in cases:
        code, _, err = run(capsys, *argv, "--quiet")
        assert code == 1, argv
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_sweep_writes_compressai_json_plots_and_resumes(tmp_path: Path, setup: tuple[Path, Path],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    root, model = setup
    images = tmp_path / "images"
    images.mkdir()
    write_png(images / "one.png", smooth_image(12, 12, seed=1))
    write_png(images / "two.png", smooth_image(10, 14, seed=2))
    out = tmp_path / "out"
    argv = ("sweep", images, "--model", model, "--out", out, "--stops", "8,16", "--methods", "ode,mmse",
            "--baselines", "jpeg-420,webp", "--solver-steps", 2, "--quiet")
    code, table, _ = run(capsys, *argv)
    assert code == 0 and "DiffC-F" in table and "webp" in table
    for name in ("DiffC-F", "DiffC-MMSE", "jpeg-420", "webp"):
        result = json.loads((out / f"{name}.json").read_text())
        assert result["name"] == name and result["description"]
        r = result["results"]
        assert set(r) >= {"bpp", "psnr-rgb", "ms-ssim-rgb", "lpips", "encoding_time", "decoding_time"}
        assert len(r["bpp"]) == 2 and r["images"] == [2, 2]
        assert r["patches"] == [0, 0] and r["kid-alexnet"] == [None, None]  # 12 px images: no 64 px patch
    f = json.loads((out / "DiffC-F.json").read_text())["results"]
    assert f["bpp"][0] < f["bpp"][1]
    jobs = {p.name: p.stat().st_mtime_ns for p in (out / "jobs").iterdir()}
    assert set(jobs) == {"one.json", "two.json"}
    job = json.loads((out / "jobs" / "one.json").read_text())
    dfc = (out / "files" / "one" / "one.dfc").read_bytes()
    assert job["methods"]["DiffC-F"][1]["bpp"] == 8 * len(dfc) / 144  # the whole file at the last stop
    for name in ("rd.png", "grids/one.png", "grids/two.png"):
        assert Image.open(out / name).size[0] > 100
    code, _, _ = run(capsys, *argv)  # the same sweep again: finished jobs are skipped
    assert code == 0 and jobs == {p.name: p.stat().st_mtime_ns for p in (out / "jobs").iterdir()}


def test_sweep_etas_write_the_traversal(tmp_path: Path, setup: tuple[Path, Path],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    root, model = setup
    out = tmp_path / "out"
    argv = ("sweep", root / "a.png", "--model", model, "--out", out, "--stops", "8,16",
            "--methods", "sde,mmse", "--baselines", "jpeg-420", "--solver-steps", 2,
            "--etas", "0.5,0.25", "--quiet")
    code, table, _ = run(capsys, *argv)
    assert code == 0 and "DiffC-eta0.5" in table
    data = json.loads((out / "traversal.json").read_text())
    order = ["DiffC-MMSE", "DiffC-eta0.25", "DiffC-eta0.5", "DiffC-A"]
    assert [d["method"] for d in data["decoders"]] == order
    assert data["stops"] == [8, 16] and len(data["points"]) == 8
    assert all(p["patches"] == 0 and p["kid-alexnet"] is None for p in data["points"])  # a 12x17 image
    assert Image.open(out / "traversal.png").size[0] > 100
    code, _, err = run(capsys, *argv[:-2], "1.5", "--quiet")
    assert code == 2 and "etas must lie in [0, 1]" in err


def test_sweep_refuses_a_prompt_for_a_pixel_model_before_any_job(tmp_path: Path, setup: tuple[Path, Path],
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    root, model = setup
    code, _, err = run(capsys, "sweep", root / "a.png", "--model", model, "--out", tmp_path / "out",
                       "--stops", "16", "--methods", "mmse", "--quiet", "--prompt", "a red barn")
    assert code == 2 and "unconditional pixel-space model" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
