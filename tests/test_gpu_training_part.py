"""The GPU check's training part rehearsed on the CPU: ``DIFFC_TRAIN_ARGS`` moves the gpu recipe to
the CPU at a tiny size, and the part runs it as on the GPU machine. Given a full run's budget it
brings the compact EMA pipeline back into its output folder (files within the transfer's limit,
restorable to the shipped format); given less it runs a probe and brings no weights back. The pack
is written in parts, as it travels (benchmarks/gpu/travel.py), and one missing is named."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.gpu import training as part
from diffc.models import compact_weights, load_model, photo_pack

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(3)
    photos = {f"test/{k}.png": (255 * rng.random((40, 48, 3))).astype(np.uint8) for k in range(3)}
    folder = tmp_path_factory.mktemp("pack") / "pack"
    # A part per photo: random pixels do not compress, so no two fit in one part of this size.
    photo_pack.write_pack(photos, folder, part_bytes=40 * 48 * 3 + 500)
    assert len(list(folder.glob("part-*"))) == 3
    return folder


def _run_part(out: Path, budget_s: float, pack: Path, steps: int) -> dict:
    env = {**os.environ, "DIFFC_TRAIN_DATA": str(pack),
           "DIFFC_TRAIN_ARGS": f"--device cpu --size 16 --batch 1 --steps {steps} --threads 1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "kernels"), str(ROOT),
                                          os.environ.get("PYTHONPATH", "")])}
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu.training", "--out", str(out),
                           "--budget-s", str(budget_s)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    record = json.loads((out / "training_gpu.json").read_text())
    assert done.returncode == 0, (done.stdout + done.stderr, record.get("output_tail"), record.get("error"))
    return record


@pytest.mark.slow
def test_a_full_run_brings_the_compact_weights_back(pack: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    record = _run_part(out, part.FULL_RUN_S + 100, pack, steps=2)
    assert record["status"] == "ok" and record["mode"] == "full" and record["rc"] == 0
    assert record["steps"] == 2 and not record["stopped_by_deadline"]
    returned = [out / f for f in record["weights_returned"]]
    assert returned
    assert all(p.is_file() and p.stat().st_size <= compact_weights.MAX_FILE_BYTES for p in returned)
    # What comes back from the GPU machine: the part's record and the pipeline folder, nothing else.
    assert {p.relative_to(out).parts[0] for p in out.rglob("*") if p.is_file()} == {"training_gpu.json",
                                                                                    part.WEIGHTS}
    compact_weights.restore_float32(out / part.WEIGHTS, tmp_path / "shipped")
    assert load_model(tmp_path / "shipped").channels == 3


@pytest.mark.slow
def test_a_probe_measures_steps_and_brings_no_weights_back(pack: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    steps = part.WARM_STEPS + 4
    record = _run_part(out, part.FULL_RUN_S - 100, pack, steps=steps)
    assert record["status"] == "ok" and record["mode"] == "probe" and record["steps"] == steps
    assert record["s_per_step"] > 0 and record["recipe_wall_s_at_measured_rate"] > 0
    assert record["weights_returned"] == [] and [p.name for p in out.iterdir()] == ["training_gpu.json"]


def test_a_pack_missing_a_part_is_skipped_by_name(pack: Path, tmp_path: Path) -> None:
    partial = tmp_path / "pack"
    shutil.copytree(pack, partial)
    shutil.rmtree(partial / "part-2")
    record = _run_part(tmp_path / "out", part.FULL_RUN_S + 100, partial, steps=2)
    assert record["status"] == "skipped" and "lacks part-2:" in record["reason"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["training_gpu.json"]


def test_a_probe_with_too_little_time_for_its_start_up_is_skipped(pack: Path, tmp_path: Path) -> None:
    record = _run_part(tmp_path / "out", part.PROBE_MIN_S - 20, pack, steps=2)
    assert record["status"] == "skipped" and "under the probe's" in record["reason"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["training_gpu.json"]


def test_the_loss_summary_leaves_out_the_warm_up_steps(tmp_path: Path) -> None:
    rows = ["step,loss,lr,wall_s"]
    rows += [f"{s},{1.0 / s:.6f},0.001,{(5.0 if s <= part.WARM_STEPS else 0.0) + 0.5 * s:.1f}"
             for s in range(1, 31)]
    (tmp_path / "loss.csv").write_text("\n".join(rows) + "\n")
    summary = part.loss_summary(tmp_path / "loss.csv")
    assert summary["steps"] == 30 and summary["train_wall_s"] == pytest.approx(15.0)
    assert summary["s_per_step"] == pytest.approx(0.5)
    assert part.loss_summary(tmp_path / "missing.csv") == {"steps": 0}
