"""benchmarks/refine.py at toy size with the tiny model: the JSON's promised columns and the plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_benchmarks import load_benchmark
from tiny_unet import save_tiny_model


def test_refine_benchmark_writes_ratios_and_realism_for_every_refined_codec(tmp_path: Path) -> None:
    out = tmp_path / "refine.json"
    args = ["--quick", "--json", str(out), "--tile", "32", "--scales", "0.5",
            "--model", str(save_tiny_model(tmp_path / "m"))]
    load_benchmark("refine").main(args)
    data = json.loads(out.read_text())
    assert data["meta"]["quick"] is True and out.with_suffix(".png").stat().st_size > 1000
    assert data["meta"]["tiles"] == 2 and data["meta"]["complete"] is True
    rows = [r for r in data["rows"] if r.get("protocol") != "summary"]
    methods = {r["method"] for r in rows}
    assert {"DiffC-F", "DiffC-A", "jpeg-420", "jpeg-420+refine-sde", "jpeg-420+refine-ode",
            "jpeg-420+refine-sde+proj", "jpeg-420+refine-sde@0.5", "webp+refine-sde"} <= methods
    assert "webp+refine-sde+proj" not in methods  # the projection is JPEG's alone
    for r in rows:
        if "+refine" in r["method"]:
            assert r["bpp"] > r["plain_bpp"] and r["lpips_ratio"] > 0 and r["start_t"] >= 0
    summaries = [r for r in data["rows"] if r.get("protocol") == "summary"]
    assert {r["method"] for r in summaries} == methods
    for r in summaries:
        assert r["images"] == 2
        # 32 px tiles hold no 64x64 patch: realism is absent, and says why (the patch count).
        assert r["patches"] == 0 and r["kid-alexnet"] is None and r["fd-alexnet"] is None
        if "+refine" in r["method"]:
            assert r["dkid"] is None and "dfd_stderr" in r
            # The ratio of the means over the same tiles, not a mean of per-tile ratios.
            mine = [t for t in rows if t["method"] == r["method"] and t["stop"] == r["stop"]]
            plain = {(t["image"], t["stop"]): t for t in rows if t["method"] == r["method"].split("+")[0]}
            base = [plain[t["image"], t["stop"]]["lpips"] for t in mine]
            assert r["lpips_ratio"] == pytest.approx(sum(t["lpips"] for t in mine) / sum(base))
            assert r["lpips_lower"] == sum(t["lpips"] < b for t, b in zip(mine, base, strict=True)) / 2
    # Resumed: a second run codes nothing and writes the same rows.
    load_benchmark("refine").main(args)
    again = json.loads(out.read_text())
    assert again["meta"]["tiles_coded_this_run"] == 0
    strip = ("decode_s", "decode_over_plain")
    assert [{k: v for k, v in r.items() if k not in strip} for r in again["rows"]] == \
        [{k: v for k, v in r.items() if k not in strip} for r in data["rows"]]
