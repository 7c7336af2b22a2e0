"""Smoke test: benchmarks/channel_grid.py in quick mode writes its rows and plot, with sane values."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rcc.gaussian import PRESETS

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_channel_grid_benchmark(tmp_path: Path) -> None:
    out = tmp_path / "channel_grid.json"
    script = ROOT / "benchmarks" / "channel_grid.py"
    subprocess.run([sys.executable, str(script), "--quick", "--json", str(out)], check=True, cwd=ROOT,
                   capture_output=True, timeout=600)
    data = json.loads(out.read_text())
    assert data["meta"]["quick"] is True and out.with_suffix(".png").stat().st_size > 1000
    grid = [r for r in data["rows"] if r["kind"] == "grid"]
    heavy = [r for r in data["rows"] if r["kind"] == "heavy"]
    assert {r["preset"] for r in grid} == {r["preset"] for r in heavy} == set(PRESETS)
    for r in grid:
        assert r["bits_per_kl_bit"] > 1 and 0 < r["slack"] <= 1.0 + 1e-9 and 0 <= r["ks_pvalue"] <= 1
        assert r["projections"] >= r["calls"] * r["n_chunks"] - r["calls"]  # one per chunk with a mean shift
    for r in heavy:  # a 12-bit coordinate is a chunk of its own: the search hardly grows
        assert r["work_ratio"] < 2
