"""Smoke test: the DiffC Gaussian benchmark runs in quick mode and writes its JSON and plot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIELDS = {"stop_t", "sigma", "ideal_bits", "theory_bits", "real_bits", "mse_a", "mse_a_theory", "mse_f",
          "mse_f_theory", "mse_mmse", "mse_mmse_theory", "rd_bound_mse", "encode_s", "decode_s"}


def test_diffc_gaussian_benchmark_writes_json_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "diffc_gaussian.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "diffc_gaussian.py"), "--quick", "--json",
                    str(out)], check=True, cwd=ROOT, capture_output=True)
    data = json.loads(out.read_text())
    assert data["meta"]["benchmark"] == "diffc_gaussian" and data["meta"]["quick"] is True
    assert data["meta"]["dims"] >= 1024 and len(data["rows"]) >= 8
    rows = data["rows"]
    for row in rows:
        assert FIELDS <= row.keys()
        # a real file costs at least its ideal rate; no decoder beats the R(D) bound at its rate
        assert row["real_bits"] > row["ideal_bits"] > 0
        assert row["rd_bound_mse"] < min(row["mse_mmse"], row["mse_f"], row["mse_a"])
    assert [r["real_bits"] for r in rows] == sorted(r["real_bits"] for r in rows)
    assert rows[-1]["mse_a"] < rows[0]["mse_a"]
    assert out.with_suffix(".png").stat().st_size > 1000
