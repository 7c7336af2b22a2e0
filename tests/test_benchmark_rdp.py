"""Smoke test: benchmarks/diffc_rdp.py in quick mode on a tiny model writes its JSON and plot."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny_unet import save_tiny_model

from diffc.models import load_model

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
    assert data["meta"]["fingerprint"] == load_model(model).fingerprint().hex()[:16]
    methods = {r["method"] for r in rows}
    assert {"DiffC-MMSE", "DiffC-F", "DiffC-A", "DiffC-eta0.5", "jpeg-420"} <= methods
    assert all(r["stop"] in (8, 16) and r["images"] == 3 and r["patches"] == 0 for r in rows)  # 16 px tiles
    assert overhead[0]["sweep_wall_s"] > overhead[0]["realism_s"] > 0
    assert out.with_suffix(".png").stat().st_size > 1000
    assert (tmp_path / "diffc_rdp_sweep" / "traversal.json").is_file()


@pytest.mark.slow
def test_diffc_rdp_sized_run_options(tmp_path: Path) -> None:
    """--stops, --methods, --solver-steps and --etas size the run and land in its meta."""
    model = save_tiny_model(tmp_path / "model")
    out = tmp_path / "rdp.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "diffc_rdp.py"), "--json", str(out),
                    "--model", str(model), "--tile", "16", "--tiles", "2", "--stops", "4",
                    "--methods", "mmse,ode", "--solver-steps", "2", "--etas", ""],
                   check=True, cwd=ROOT, capture_output=True, timeout=900)
    data = json.loads(out.read_text())
    meta = data["meta"]
    sized = (meta["stops"], meta["methods"], meta["solver_steps"], meta["etas"])
    assert sized == ([4], ["mmse", "ode"], 2, [])
    methods = {r["method"] for r in data["rows"] if r.get("protocol") != "overhead"}
    assert {"DiffC-MMSE", "DiffC-F"} <= methods and not methods & {"DiffC-A", "DiffC-eta0.5"}
    overhead = next(r for r in data["rows"] if r.get("protocol") == "overhead")
    assert overhead["tiles_coded_this_run"] == 2 and overhead["realism_over_sweep"] > 0


def test_tile_order_spreads_every_prefix() -> None:
    """Every tile once, from its own photo; the first 8 span all photos, one photo's first 8 its rows."""
    spec = importlib.util.spec_from_file_location("benchmark_diffc_rdp", ROOT / "benchmarks" / "diffc_rdp.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sizes = [(512, 512), (300, 451), (400, 600), (427, 640), (500, 741), (600, 512), (427, 640), (427, 640)]
    photos = {f"set/p{i}": np.full((*hw, 3), i, np.uint8) for i, hw in enumerate(sizes)}
    order = module.tiles(photos, 64)
    assert len(order) == sum((h // 64) * (w // 64) for h, w in sizes) == 475
    names = list(order)
    assert {n.split("_r")[0] for n in names[:8]} == {f"set_p{i}" for i in range(8)}
    assert all(order[n][0, 0, 0] == int(n.split("_r")[0][5:]) for n in names)  # tile from its own photo
    rows_of_p0 = [n for n in names if n.startswith("set_p0_")][:8]
    assert len({n.split("_r")[1].split("c")[0] for n in rows_of_p0}) >= 4  # early tiles spread over the photo
