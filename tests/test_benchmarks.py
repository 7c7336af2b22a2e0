"""Smoke tests: benchmarks run in quick mode and write their JSON (with the promised columns) and plot.

Benchmarks are not tests: nothing here looks at a timing. What is checked is the contract every
benchmark keeps (``--quick``, ``--json PATH``, ``{"meta", "rows"}``, a PNG beside the JSON) and that
the measured quantities are sane.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_benchmark(name: str, tmp_path: Path) -> dict:
    out = tmp_path / f"{name}.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), "--quick",
                    "--json", str(out)], check=True, cwd=ROOT, capture_output=True, timeout=600)
    data = json.loads(out.read_text())
    assert data["meta"]["quick"] is True and data["rows"]
    assert out.with_suffix(".png").stat().st_size > 1000
    return data


def test_randomness(tmp_path: Path) -> None:
    data = run_benchmark("randomness", tmp_path)
    impls = {(r["impl"], r["threads"]) for r in data["rows"]}
    assert {("numpy_philox", 1), ("rcc_cpu", 1)} <= impls
    assert all(r["normals_per_s"] > 0 and r["n"] > 0 for r in data["rows"])
    assert data["rows"][0]["ratio_vs_numpy_1thread"] == 1.0


@pytest.mark.slow
def test_gaussian_channel(tmp_path: Path) -> None:
    data = run_benchmark("gaussian_channel", tmp_path)
    throughput = [r for r in data["rows"] if r["kind"] == "throughput"]
    rate = [r for r in data["rows"] if r["kind"] == "rate"]
    assert {r["impl"] for r in throughput} >= {"numpy", "cpu"}
    assert all(r["cand_dims_per_s"] > 0 for r in throughput)
    for r in rate:
        assert {"kl_bits", "mean_bits", "overhead", "ks_projection", "candidates"} <= r.keys()
        assert r["candidates"] == 2 ** (r["chunk_bits"] + r["headroom_bits"])
        assert r["mean_bits"] > 0 and 0 <= r["ks_projection"] <= 1
    # More headroom never makes the projection much further from the target (PFR, 4-bit chunks).
    pfr4 = sorted((r for r in rate if r["rule"] == "pfr" and r["chunk_bits"] == 4),
                  key=lambda r: r["headroom_bits"])
    assert pfr4[-1]["ks_projection"] < pfr4[0]["ks_projection"]
