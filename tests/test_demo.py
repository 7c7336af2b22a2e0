"""``diffc demo`` at toy size with the tiny model: the refined codecs beside their plain versions and
DiffC in the table, the CompressAI JSON, the RD plot and the image grids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_unet import save_tiny_model

from diffc.cli import main
from diffc.tools.demo import REFINE_DECODERS, REFINED_BASELINES
from diffc.tools.sweep import SweepConfig


def test_demo_shows_refined_codecs_beside_plain_ones_and_diffc(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    code = main(["demo", "--model", str(save_tiny_model(tmp_path / "m")), "--out", str(out), "--size", "32",
                 "--images", "1", "--stops", "8", "--solver-steps", "2", "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0
    refined = [f"{b}+refine-{m}" for b in REFINED_BASELINES for m in REFINE_DECODERS]
    assert refined == ["jpeg-420+refine-sde", "webp+refine-sde"]
    table = printed.splitlines()
    for method in ("DiffC-F", "DiffC-A", "jpeg-420", "webp", *refined):
        assert any(line.split()[:2] == [method, "8"] for line in table), method
    assert "avif+refine" not in printed  # only the demo's two codecs are refined
    for b, m in zip(REFINED_BASELINES, refined, strict=True):
        plain = json.loads((out / f"{b}.json").read_text())["results"]
        mine = json.loads((out / f"{m}.json").read_text())["results"]
        # the same classical file plus 16 bytes of side information (the demo's seed 2024 is a
        # two-byte varint), over a 32x32 crop
        assert mine["bpp"][0] == pytest.approx(plain["bpp"][0] + 8 * 16 / (32 * 32))
        assert mine["psnr-rgb"][0] is not None
    assert not list(out.glob("avif+refine*.json"))
    # The grid and the plot are drawn from the job's rows: every refined row points at its saved PNG.
    job = json.loads(next((out / "jobs").glob("*.json")).read_text())
    rows = job.get("result", job)["methods"]
    for m in refined:
        assert len(rows[m]) == 1 and (out / rows[m][0]["png"]).stat().st_size > 0
    assert (out / "rd.png").stat().st_size > 0 and len(list((out / "grids").glob("*.png"))) == 1


def test_refine_baselines_must_name_a_codec() -> None:
    with pytest.raises(ValueError, match="refine_baselines"):
        SweepConfig(refine=("sde",), refine_baselines=())
