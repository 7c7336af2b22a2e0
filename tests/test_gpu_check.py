"""The GPU check rehearsed on this CPU: ``DRY_RUN=1 benchmarks/gpu_check.sh`` runs every part end to
end in Numba's CUDA simulator at tiny sizes and writes a valid record per part.

No figure is looked at (the simulator's timings mean nothing); what is checked is the contract the
real run on a GPU machine relies on: one JSON file per part with its status and keys, the summary,
the identity checks passing, eight files at most (what the GPU machine sends back), and a record
for a part that is killed by its timeout.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"
PARTS = {"tests", "identity", "search", "diffc", "channel", "training"}
RETURNED_FILES = 8


def _run(out: Path, budget_s: int, timeout: int, parts: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DRY_RUN": "1", "PYTHON": sys.executable, "GPU_CHECK_BUDGET_S": str(budget_s)}
    if parts is not None:
        env["GPU_CHECK_PARTS"] = parts
    return subprocess.run(["bash", str(SCRIPT), str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("gpu_check")
    return _run(out, 540, 900), out


def _record(out: Path, part: str) -> dict:
    return json.loads((out / f"{part}_gpu.json").read_text())


@pytest.mark.slow
def test_dry_run_writes_every_record(dry_run: tuple[subprocess.CompletedProcess, Path]) -> None:
    done, out = dry_run
    assert done.returncode == 0, done.stdout + done.stderr
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted([*(f"{p}_gpu.json" for p in PARTS), "check_gpu.json", "gpu_check.log"])
    assert len(files) <= RETURNED_FILES
    summary = json.loads((out / "check_gpu.json").read_text())
    assert summary["dry_run"] is True and summary["all_ok"] is True and set(summary["parts"]) == PARTS
    # The import probe: this environment has every module the parts import but cupy (a CUDA build).
    absent = {m for m in ("cupy",) if importlib.util.find_spec(m) is None}
    assert set(summary["modules_missing"]) == absent
    log = (out / "gpu_check.log").read_text()
    assert all(f"missing module {m}: ModuleNotFoundError" in log for m in absent)
    for part in PARTS:
        record = _record(out, part)
        assert {"part", "status", "meta", "rows", "wall_s", "exit_status"} <= record.keys()
        assert record["part"] == part and record["dry_run"] is True and record["meta"]["simulator"] is True
        assert record["status"] in ("ok", "skipped"), record.get("error")


@pytest.mark.slow
def test_dry_run_records_hold_the_measurements(dry_run: tuple[subprocess.CompletedProcess, Path]) -> None:
    _, out = dry_run
    tests = _record(out, "tests")
    assert tests["config"]["files"] and tests["counts"]["skipped"] == len(tests["rows"]) > 0  # no GPU here

    search = _record(out, "search")
    sizes = {(r["dims"], r["chunk_bits"]) for r in search["rows"]}
    assert len(sizes) == len(search["config"]["dims"]) * len(search["config"]["chunk_bits"])
    assert {r["impl"] for r in search["rows"]} == {"gpu", "cupy_float64", "cupy_float32", "cpu"}
    for r in search["rows"]:
        assert r["cand_dims_per_s"] > 0 and 1 <= r["chunks_timed"] <= r["chunks_in_step"]
    assert all({"gpu_over_cupy_float64", "gpu_over_cupy_float32", "gpu_over_cpu"} <= r.keys()
               for r in search["ratios"])

    identity = _record(out, "identity")
    checks = [r["check"] for r in identity["rows"]]
    assert checks.count("candidates") == 1 and checks.count("search") == 6 and checks.count("diffc_file") == 1
    assert identity["all_identical"] is True  # the simulator runs the kernels' own code
    assert all(r["identical"] for r in identity["rows"])

    diffc = _record(out, "diffc")
    photos = [r for r in diffc["rows"] if r["model"] == "default" and "encode_s" in r]
    assert [(r["height"], r["width"]) for r in photos] == [tuple(s) for s in diffc["config"]["sizes"]]
    latent = [r for r in diffc["rows"] if r["model"] == "tiny-dit"]
    assert len(latent) == 1 and latent[0]["family"] == "dit" and latent[0]["repeat_identical"] is True
    assert latent[0]["coded_shape"] == [4, 4, 4] and latent[0]["steps"] == diffc["config"]["latent"]["steps"]
    for r in [*photos, *latent]:
        parts = ("model_s", "search_s", "channel_other_s", "other_s")
        assert r["encode_search_s"] > 0 and r["decode_model_s"] > 0 and r["bytes"] > 0
        assert sum(r[f"encode_{p}"] for p in parts) == pytest.approx(r["encode_s"])

    channel = _record(out, "channel")
    summaries = channel["summaries"]
    assert {r["backend"] for r in summaries} == {"cpu", "gpu"}
    assert all(r["real_bits"] > 0 and "ratio_mmse" in r for r in summaries)
    assert channel["best_cpu_preset"] in {r["setting"] for r in summaries}

    training = _record(out, "training")
    assert training["status"] == "skipped" and training["reason"]


def test_a_killed_part_still_leaves_its_record(tmp_path: Path) -> None:
    """A part killed by its timeout (2 s: not even the imports finish) is recorded as a timeout,
    and the parts after it still run."""
    done = _run(tmp_path, 540, 300, parts="identity:2 training")
    assert done.returncode == 1, done.stdout + done.stderr
    summary = json.loads((tmp_path / "check_gpu.json").read_text())
    assert set(summary["parts"]) == {"identity", "training"} and summary["all_ok"] is False
    killed = _record(tmp_path, "identity")
    assert killed["status"] == "timeout" and killed["exit_status"] == 124
    assert _record(tmp_path, "training")["status"] == "skipped"


def test_no_part_starts_once_the_budget_is_spent(tmp_path: Path) -> None:
    done = _run(tmp_path, 20, 120)
    assert done.returncode == 1
    summary = json.loads((tmp_path / "check_gpu.json").read_text())
    assert set(summary["parts"]) == PARTS and summary["all_ok"] is False
    assert all(_record(tmp_path, p)["status"] == "timeout" for p in PARTS)


def test_an_unknown_part_is_bad_usage(tmp_path: Path) -> None:
    for parts in ("training nonsense", "training:x"):
        done = _run(tmp_path, 540, 60, parts=parts)
        assert done.returncode == 2 and "unknown part" in done.stderr
        assert not (tmp_path / "training_gpu.json").exists()  # refused before any part ran
