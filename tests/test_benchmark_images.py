"""Smoke test: benchmarks/diffc_images.py in quick mode on a tiny model writes its JSON and plot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_unet import save_tiny_model

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_diffc_images_benchmark(tmp_path: Path) -> None:
    model = save_tiny_model(tmp_path / "model")
    out = tmp_path / "diffc_images.json"
    script = ROOT / "benchmarks" / "diffc_images.py"
    subprocess.run([sys.executable, str(script), "--quick", "--json", str(out), "--model", str(model),
                    "--channels", "default,exact"], check=True, cwd=ROOT, capture_output=True, timeout=900)
    data = json.loads(out.read_text())
    rows = [r for r in data["rows"] if r.get("protocol") != "summary"]
    summaries = [r for r in data["rows"] if r.get("protocol") == "summary"]
    assert data["meta"]["quick"] is True and len(rows) == 8  # 2 channels x 2 images x 2 stops
    assert [(r["channel"], r["stop"]) for r in summaries] == [("default", 8), ("default", 16), ("exact", 8),
                                                              ("exact", 16)]
    for r in summaries[2:]:  # the exact preset on its own ideal curve: its bpp over its ideal bpp
        assert r["bpp_at_equal_psnr"] == pytest.approx(r["bpp_over_ideal"], rel=1e-9)
    assert out.with_suffix(".png").stat().st_size > 1000
    for row in rows:
        assert row["bpp"] >= row["ideal_bpp"] > 0 and row["bpp_over_ideal"] == row["bpp"] / row["ideal_bpp"]
        for method in ("ode", "sde", "mmse"):
            assert {f"{method}_psnr-rgb", f"{method}_ms-ssim-rgb", f"{method}_lpips"} <= row.keys()
        assert row["encode_model_s"] > 0 and row["encode_search_s"] > 0 and row["decode_search_s"] == 0
        assert row["jpeg-420_bpp"] > 0 and "webp_psnr-rgb" in row
