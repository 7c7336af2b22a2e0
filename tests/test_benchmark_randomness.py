"""Smoke test: the randomness benchmark runs in quick mode and writes its JSON and plot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_randomness_benchmark_writes_json_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "randomness.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "randomness.py"), "--quick",
                    "--json", str(out)], check=True, cwd=ROOT, capture_output=True)
    data = json.loads(out.read_text())
    assert data["meta"]["benchmark"] == "randomness" and data["meta"]["quick"] is True
    impls = {(r["impl"], r["threads"]) for r in data["rows"]}
    assert {("numpy_philox", 1), ("rcc_cpu", 1)} <= impls
    for row in data["rows"]:
        assert row["normals_per_s"] > 0 and row["n"] > 0
    assert data["rows"][0]["ratio_vs_numpy_1thread"] == 1.0
    assert out.with_suffix(".png").stat().st_size > 1000
