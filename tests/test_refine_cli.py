"""``diffc refine`` in-process: round trip, knobs, exit codes and one-line messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_unet import save_tiny_model, smooth_image

from diffc.cli import main
from diffc.imaging.io import read_image, write_png


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("refine-cli")
    write_png(root / "a.png", smooth_image(16, 24))
    return root, save_tiny_model(root / "model")


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_round_trip_with_every_knob(setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    root, model = setup
    code, out, _ = run(capsys, "refine", "compress", root / "a.png", root / "a.rf", "--codec", "jpeg-444",
                       "--quality", 40, "--model", model, "--quiet")
    assert code == 0 and f"{8 * (root / 'a.rf').stat().st_size / (16 * 24):.4f} bpp" in out
    for extra in (("--method", "sde"), ("--method", "eta", "--eta", 0.5, "--scale", 2.0), ("--project",),
                  ("--method", "mmse")):
        code, _, err = run(capsys, "refine", "decompress", root / "a.rf", root / "r.png", "--model", model,
                           "--solver-steps", 3, "--quiet", *extra)
        assert code == 0, err
        assert read_image(root / "r.png").shape == (16, 24, 3)
    code, _, _ = run(capsys, "refine", "compress", root / "a.png", root / "w.rf", "--codec", "webp",
                     "--bpp", 2, "--model", model, "--quiet")
    assert code == 0


def test_bad_usage_and_corrupt_files(setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    root, model = setup
    code, _, err = run(capsys, "refine", "compress", root / "a.png", root / "b.rf", "--quality", 500,
                       "--model", model)
    assert code == 2 and "--quality" in err
    code, _, err = run(capsys, "refine", "decompress", root / "a.png", root / "b.png", "--eta", 0.5,
                       "--model", model)
    assert code == 2 and "--eta" in err
    run(capsys, "refine", "compress", root / "a.png", root / "c.rf", "--quality", 40, "--model", model,
        "--quiet")
    data = bytearray((root / "c.rf").read_bytes())
    data[5] ^= 0x10
    (root / "bad.rf").write_bytes(bytes(data))
    code, _, err = run(capsys, "refine", "decompress", root / "bad.rf", root / "b.png", "--model", model)
    assert code == 1 and err.count("\n") == 1 and "corrupted refine file" in err and "Traceback" not in err
    assert not (root / "b.png").exists()
    with pytest.raises(SystemExit) as exit_:  # argparse: an option of compress given to decompress
        main(["refine", "decompress", str(root / "c.rf"), str(root / "b.png"), "--codec", "webp"])
    assert exit_.value.code == 2


def test_sweep_lists_refined_codecs_beside_plain_ones(tmp_path: Path, setup: tuple[Path, Path],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import json

    root, model = setup
    out = tmp_path / "out"
    code, table, err = run(capsys, "sweep", root / "a.png", "--model", model, "--out", out, "--stops", "8",
                           "--methods", "mmse", "--baselines", "jpeg-420,webp", "--refine", "sde,mmse",
                           "--solver-steps", 2, "--quiet")
    assert code == 0, err
    for b in ("jpeg-420", "webp"):
        plain = json.loads((out / f"{b}.json").read_text())["results"]
        for m in ("sde", "mmse"):
            refined = json.loads((out / f"{b}+refine-{m}.json").read_text())
            assert "refined" in refined["description"] and f"{b}+refine-{m}" in table
            # the same classical file plus 15 bytes of side information (seed 0)
            assert refined["results"]["bpp"][0] == pytest.approx(plain["bpp"][0] + 8 * 15 / (16 * 24))
            assert refined["results"]["psnr-rgb"][0] is not None
    assert (out / "rd.png").exists() and (out / "grids" / "a.png").exists()
    code, _, err = run(capsys, "sweep", root / "a.png", "--model", model, "--out", out, "--refine", "bogus")
    assert code == 2 and "refine" in err
