"""The experiment runner on the rcc rate-overhead grid: ids, resume, interrupts, local processes and
faults (a worker killed in the middle of a job, a job that raises); ``rcc overhead`` end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runner_faults import Faulty, inject

from rcc.cli import main
from rcc.experiments import InProcess, Job, Processes, executor_from, overhead, run_jobs, stable_id

GRID = {"kl_grid": (0.5, 2.0), "families": ("gaussian",), "coders": ("pfr", "orc"), "max_samples": 20,
        "candidate_budget": 2**10}
ARGV = ("overhead", "--kl", "0.5,2", "--families", "gaussian", "--coders", "pfr,orc", "--samples", "20",
        "--candidate-budget", "1024", "--quiet")


def records(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "jobs").iterdir())


def test_stable_ids_follow_parameters_not_their_order() -> None:
    assert stable_id({"a": 1, "b": 2.5}) == stable_id({"b": 2.5, "a": 1})
    assert stable_id({"a": 1}) != stable_id({"a": 2})
    a, b = overhead.jobs(**GRID), overhead.jobs(**GRID)
    assert [j.id for j in a] == [j.id for j in b] and len({j.id for j in a}) == len(a) == 4
    assert {j.name for j in a} == {"gaussian-kl0.5-pfr", "gaussian-kl0.5-orc", "gaussian-kl2-pfr",
                                   "gaussian-kl2-orc"}
    assert executor_from().name == "in-process" and executor_from(workers=3).workers == 3
    assert executor_from(ray="auto").address == "auto" and executor_from(ray=True).address is None
    with pytest.raises(ValueError, match="unique"):
        run_jobs([Job("x", "1"), Job("x", "2")], overhead.worker, Path("unused"))


def test_rows_match_the_benchmark_and_a_rerun_skips_finished_jobs(tmp_path: Path) -> None:
    jobs = overhead.jobs(**GRID)
    report = overhead.run(jobs, tmp_path, progress=False)
    assert report.complete and report.skipped == 0 and not report.failed
    written = json.loads((tmp_path / "rate_overhead.json").read_text())
    assert written["rows"] == [overhead.overhead_row(j.args) for j in jobs]
    assert written["meta"]["partial"] is False and (tmp_path / "rate_overhead.png").stat().st_size > 0
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "jobs").iterdir()}
    again = overhead.run(jobs, tmp_path, progress=False)
    assert again.skipped == 4 and again.results == report.results
    assert stamps == {p.name: p.stat().st_mtime_ns for p in (tmp_path / "jobs").iterdir()}


def test_an_interrupted_sweep_resumes_with_only_the_missing_jobs(tmp_path: Path) -> None:
    jobs = overhead.jobs(**GRID)

    def interrupt(job: Job, result: dict) -> None:
        raise KeyboardInterrupt

    report = run_jobs(jobs, overhead.worker, tmp_path, progress=False, on_result=interrupt)
    assert report.interrupted and len(report.results) == 1 and len(report.missing) == 3
    ran: list[str] = []
    resumed = run_jobs(jobs, overhead.worker, tmp_path, progress=False,
                       on_result=lambda job, _: ran.append(job.name))
    assert resumed.complete and resumed.skipped == 1 and ran == [j.name for j in jobs[1:]]
    assert records(tmp_path) == sorted(f"{j.name}.json" for j in jobs)


@pytest.mark.slow
def test_processes_survive_a_killed_worker_and_record_a_raising_job(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    reference = tmp_path / "in-process"
    assert main([*ARGV, "--out", str(reference)]) == 0
    killed, raising = "gaussian-kl0.5-orc", "gaussian-kl2-pfr"
    with monkeypatch.context() as faults:
        inject(faults, die_in=killed, marker=str(tmp_path / "exited"), raise_in=raising)
        out = tmp_path / "processes"
        assert main([*ARGV, "--out", str(out), "--workers", "2"]) == 1  # partial: one job failed
    assert (tmp_path / "exited").exists()  # a worker did die in the middle of that job
    assert "failed: gaussian-kl2-pfr after 2 attempt(s): RuntimeError: test fault" in capsys.readouterr().out
    names = [j.name for j in overhead.jobs(**GRID)]
    assert records(out) == sorted([*(f"{n}.json" for n in names if n != raising), f"{raising}.failed.json"])
    jobs = {n: json.loads((out / "jobs" / f"{n}.json").read_text()) for n in names if n != raising}
    assert jobs[killed]["attempts"] == 2 and all(jobs[n]["attempts"] == 1 for n in jobs if n != killed)
    failure = json.loads((out / "jobs" / f"{raising}.failed.json").read_text())
    assert failure["attempts"] == 2 and len(failure["errors"]) == 2 and "test fault" in failure["error"]
    partial = json.loads((out / "rate_overhead.json").read_text())
    assert partial["meta"]["partial"] is True and list(partial["meta"]["failed"]) == [raising]
    full = json.loads((reference / "rate_overhead.json").read_text())["rows"]
    assert partial["rows"] == [r for r, n in zip(full, names, strict=True) if n != raising]

    assert main([*ARGV, "--out", str(out), "--workers", "2"]) == 0  # the same command: the failed job only
    assert "4 of 4 jobs (3 from earlier runs), complete" in capsys.readouterr().out
    assert records(out) == sorted(f"{n}.json" for n in names)
    assert json.loads((out / "rate_overhead.json").read_text())["rows"] == full


def test_in_process_records_a_raising_job_and_processes_check_their_count(tmp_path: Path) -> None:
    jobs = overhead.jobs(**GRID)[:2]
    report = run_jobs(jobs, overhead.worker, tmp_path, executor=Faulty(InProcess(), raise_in=jobs[0].name),
                      progress=False)
    assert list(report.results) == [jobs[1].name] and list(report.failed) == [jobs[0].name]
    failure = report.failed[jobs[0].name]
    assert failure["attempts"] == 2 and "test fault" in failure["error"]
    assert records(tmp_path) == sorted([f"{jobs[0].name}.failed.json", f"{jobs[1].name}.json"])
    with pytest.raises(ValueError, match="workers"):
        run_jobs(jobs, overhead.worker, tmp_path / "p", executor=Processes(0), progress=False)


DRIVER = """
import json, sys
from pathlib import Path
from runner_faults import Sleepers
from rcc.experiments import Job, Processes, run_jobs
out = Path(sys.argv[1])
jobs = [Job(name, name, name) for name in ("quick", "slow-a", "slow-b")]
report = run_jobs(jobs, Sleepers(str(out)), out, executor=Processes(2, threads=1), progress=False)
print(json.dumps({"interrupted": report.interrupted, "finished": list(report.results)}))
"""


@pytest.mark.slow
def test_sigterm_stops_the_worker_processes_and_keeps_what_is_finished(tmp_path: Path) -> None:
    path = os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])
    env = os.environ | {"PYTHONPATH": path}  # the spawned workers import runner_faults by name
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path)], stdout=subprocess.PIPE, env=env,
                              text=True)
    pids = [tmp_path / f"slow-{x}.pid" for x in "ab"]
    deadline = time.monotonic() + 120
    while not all(p.exists() for p in pids):  # both workers are in their sleeping jobs
        assert driver.poll() is None and time.monotonic() < deadline, "the workers never reached their jobs"
        time.sleep(0.1)
    workers = [int(p.read_text()) for p in pids]
    driver.send_signal(signal.SIGTERM)
    out, _ = driver.communicate(timeout=60)
    assert json.loads(out) == {"interrupted": True, "finished": ["quick"]}
    assert records(tmp_path) == ["quick.json"]
    for pid in workers:  # killed and reaped by the driver, not left to sleep out their jobs
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
