"""Sweeps on a local Ray cluster (2 CPUs, started once for this module): ``diffc sweep --ray`` (and
``--workers 2``) with a tiny random UNet and ``rcc overhead --ray`` give what the in-process run
gives (byte-identical .dfc and PNG files, the same metrics and rows), and an actor killed in the
middle of a job or a job that raises leaves the sweep complete but for the raising job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

import runner_faults  # noqa: E402
from tiny_unet import save_tiny_model, smooth_image  # noqa: E402

from diffc.cli import main as diffc_main  # noqa: E402
from diffc.imaging.io import write_png  # noqa: E402
from rcc.cli import main as rcc_main  # noqa: E402
from rcc.experiments import overhead  # noqa: E402

pytestmark = pytest.mark.slow

TIMES = ("encoding_time", "decoding_time")
OVERHEAD = ("overhead", "--kl", "0.5,2", "--families", "gaussian,categorical", "--coders", "pfr,mrc",
            "--samples", "20", "--candidate-budget", "1024", "--quiet")


@pytest.fixture(scope="module")
def cluster() -> object:
    ray.init(num_cpus=2, object_store_memory=100 * 2**20, include_dashboard=False, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(runner_faults)  # Ray's workers do not see the tests folder
    yield ray
    ray.shutdown()
    ray.cloudpickle.unregister_pickle_by_value(runner_faults)


def untimed(value: object) -> object:
    """A job or merged result without what differs from run to run (timings, attempt counts)."""
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k not in TIMES and k != "attempts"}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


def same_outputs(local: Path, remote: Path) -> None:
    """The same files, job results and merged results, timings aside."""
    for name in ("one", "two"):
        assert (remote / "files" / name / f"{name}.dfc").read_bytes() \
            == (local / "files" / name / f"{name}.dfc").read_bytes()
        assert untimed(json.loads((remote / "jobs" / f"{name}.json").read_text())) \
            == untimed(json.loads((local / "jobs" / f"{name}.json").read_text()))
        pngs = sorted(p.name for p in (local / "files" / name).glob("*.png"))
        assert pngs == sorted(p.name for p in (remote / "files" / name).glob("*.png"))
        assert all((remote / "files" / name / p).read_bytes() == (local / "files" / name / p).read_bytes()
                   for p in pngs)
    for method in ("DiffC-F", "DiffC-MMSE", "jpeg-420"):
        assert untimed(json.loads((remote / f"{method}.json").read_text())) \
            == untimed(json.loads((local / f"{method}.json").read_text()))
    assert json.loads((remote / "sweep.json").read_text())["partial"] is False
    assert (remote / "rd.png").exists() and (remote / "grids" / "two.png").exists()


def test_diffc_sweep_on_ray_and_processes_equals_in_process(cluster: object, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    model = save_tiny_model(tmp_path / "model")
    images = tmp_path / "images"
    images.mkdir()
    write_png(images / "one.png", smooth_image(12, 12, seed=1))
    write_png(images / "two.png", smooth_image(10, 14, seed=2))
    argv = ["sweep", str(images), "--model", str(model), "--stops", "8,16", "--methods", "ode,mmse",
            "--baselines", "jpeg-420", "--solver-steps", "2", "--quiet"]
    local = tmp_path / "local"
    assert diffc_main([*argv, "--out", str(local)]) == 0
    for remote, executor in ((tmp_path / "ray", ["--ray"]), (tmp_path / "processes", ["--workers", "2"])):
        assert diffc_main([*argv, "--out", str(remote), *executor]) == 0
        same_outputs(local, remote)
    capsys.readouterr()


def test_rcc_overhead_on_ray_equals_in_process_and_survives_faults(
        cluster: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    local, remote, faulty = tmp_path / "local", tmp_path / "ray", tmp_path / "faulty"
    assert rcc_main([*OVERHEAD, "--out", str(local)]) == 0
    assert rcc_main([*OVERHEAD, "--out", str(remote), "--ray"]) == 0
    rows = json.loads((local / "rate_overhead.json").read_text())["rows"]
    assert json.loads((remote / "rate_overhead.json").read_text())["rows"] == rows

    killed, raising = "categorical-kl0.5-mrc", "gaussian-kl2-pfr"
    runner_faults.inject(monkeypatch, die_in=killed, marker=str(tmp_path / "exited"), raise_in=raising)
    capsys.readouterr()
    assert rcc_main([*OVERHEAD, "--out", str(faulty), "--ray"]) == 1
    assert "7 of 8 jobs" in capsys.readouterr().out and (tmp_path / "exited").exists()
    names = sorted(p.name for p in (remote / "jobs").iterdir())
    assert sorted(p.name for p in (faulty / "jobs").iterdir()) \
        == sorted(n if n != f"{raising}.json" else f"{raising}.failed.json" for n in names)
    assert json.loads((faulty / "jobs" / f"{killed}.json").read_text())["attempts"] == 2
    failure = json.loads((faulty / "jobs" / f"{raising}.failed.json").read_text())
    assert failure["attempts"] == 2 and "test fault" in failure["error"]
    written = json.loads((faulty / "rate_overhead.json").read_text())
    assert written["meta"]["partial"] is True and written["meta"]["failed"][raising]["attempts"] == 2
    order = [j.name for j in overhead.jobs((0.5, 2.0), families=("gaussian", "categorical"),
                                           coders=("pfr", "mrc"), max_samples=20, candidate_budget=1024)]
    assert written["rows"] == [r for r, name in zip(rows, order, strict=True) if name != raising]
