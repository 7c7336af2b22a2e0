"""benchmarks/refine.py at toy size with the tiny model: the JSON's promised columns and the plot."""

from __future__ import annotations

import json
from pathlib import Path

from test_benchmarks import load_benchmark
from tiny_unet import save_tiny_model


def test_refine_benchmark_writes_ratios_for_every_refined_codec(tmp_path: Path) -> None:
    out = tmp_path / "refine.json"
    load_benchmark("refine").main(["--quick", "--json", str(out), "--size", "32",
                                   "--model", str(save_tiny_model(tmp_path / "m"))])
    data = json.loads(out.read_text())
    assert data["meta"]["quick"] is True and out.with_suffix(".png").stat().st_size > 1000
    rows = [r for r in data["rows"] if r.get("protocol") != "summary"]
    methods = {r["method"] for r in rows}
    assert {"DiffC-F", "DiffC-A", "jpeg-420", "jpeg-420+refine-sde", "jpeg-420+refine-sde+proj"} <= methods
    for r in rows:
        if "+refine" in r["method"]:
            assert r["bpp"] > r["plain_bpp"] and r["lpips_ratio"] > 0 and r["start_t"] >= 0
