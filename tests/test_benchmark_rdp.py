"""Smoke test: benchmarks/diffc_rdp.py in quick mode on a tiny model writes its JSON and plot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_unet import save_tiny_model

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_diffc_rdp_benchmark(tmp_path: Path) -> None:
    model = save_tiny_model(tmp_path / "model")
    out = tmp_path / "diffc_rdp.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "diffc_rdp.py"), "--quick", "--json", str(out),
                    "--model", str(model), "--tile", "16", "--tiles", "3"],
                   check=True, cwd=ROOT, capture_output=True, timeout=900)
    data = json.loads(out.read_text())
    rows = [r for r in data["rows"] if r.get("protocol") != "overhead"]
    overhead = [r for r in data["rows"] if r.get("protocol") == "overhead"]
    assert data["meta"]["quick"] is True and data["meta"]["tiles"] == 3 and data["meta"]["complete"]
    methods = {r["method"] for r in rows}
    assert {"DiffC-MMSE", "DiffC-F", "DiffC-A", "DiffC-eta0.5", "jpeg-420"} <= methods
    assert all(r["stop"] in (8, 16) and r["images"] == 3 and r["patches"] == 0 for r in rows)  # 16 px tiles
    assert overhead[0]["sweep_wall_s"] > overhead[0]["realism_s"] > 0
    assert out.with_suffix(".png").stat().st_size > 1000
    assert (tmp_path / "diffc_rdp_sweep" / "traversal.json").is_file()
