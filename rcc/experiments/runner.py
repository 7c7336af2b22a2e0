"""One small experiment runner: a sweep is a list of jobs, run in-process, on local processes or on Ray.

:func:`run_jobs` runs (or resumes) the jobs (:mod:`rcc.experiments.jobs`) on an executor
(:mod:`rcc.experiments.executors`, :mod:`rcc.experiments.ray_executor`) and records each one in a
:class:`rcc.experiments.store.ResultStore` as it finishes. What is guaranteed:

- **Loss-free.** Only the driver writes to ``OUT``, each file under a temporary name and then
  renamed, a job's files before its JSON; no shared filesystem is needed between the driver and
  the workers.
- **Resumable.** A rerun skips every job whose ``jobs/<name>.json`` carries the same ``job_id``;
  jobs with other ids (other settings) and failed jobs run again.
- **Faults stay local.** A job whose worker raises or dies (a killed process, a lost Ray node) is
  retried up to ``retries`` times on a fresh attempt (a dead worker is replaced) and then recorded
  as ``jobs/<name>.failed.json`` with its errors and attempt count; the sweep carries on. Each job
  yields exactly one record: a result or a failure.
- **Executor-independent.** Workers compute from ``args`` alone, so a result does not depend on the
  executor; the experiments keep their outputs deterministic (the DiffC files are byte-identical).

This module imports neither torch nor ray.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rcc.experiments.executors import Executor, InProcess, Processes
from rcc.experiments.jobs import Job, WorkerFactory
from rcc.experiments.ray_executor import Ray
from rcc.experiments.store import ResultStore

__all__ = ["Report", "executor_from", "run_jobs"]


@dataclass
class Report:
    """The state of a sweep after a run: results and failures by job name, in job order;
    ``skipped``: jobs finished by earlier runs; ``interrupted``: the run was stopped (Ctrl-C)."""

    jobs: list[Job]
    results: dict[str, dict]
    failed: dict[str, dict]
    skipped: int
    interrupted: bool = False

    @property
    def complete(self) -> bool:
        return len(self.results) == len(self.jobs)

    @property
    def missing(self) -> list[str]:
        return [j.name for j in self.jobs if j.name not in self.results and j.name not in self.failed]

    def summary(self) -> dict:
        """``sweep.json``: what is in the merged outputs and what is not."""
        return {"jobs": len(self.jobs), "finished": len(self.results), "partial": not self.complete,
                "failed": {name: {"error": r["error"], "attempts": r["attempts"]}
                           for name, r in self.failed.items()},
                "missing": self.missing, "interrupted": self.interrupted}


def executor_from(workers: int | None = None, ray: str | bool | None = None, gpus: bool = False) -> Executor:
    """The executor of the ``--workers N`` / ``--ray [ADDRESS]`` options (``ray=True``: no address)."""
    if ray is not None and ray is not False:
        return Ray(address=None if ray is True else ray, workers=workers, gpus=gpus)
    if workers is not None and workers > 1:
        return Processes(workers)
    return InProcess()


# -- the driver ---------------------------------------------------------------------------------


def _bar(total: int, desc: str, enabled: bool) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm comes with the diffc extra; rcc runs without it
        enabled = False
    if not enabled:
        return _NoBar()
    return tqdm(total=total, desc=desc, unit="job")


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def run_jobs(jobs: Sequence[Job], factory: WorkerFactory, out: Path, *, executor: Executor | None = None,
             retries: int = 1, progress: bool = True, desc: str = "sweep",
             on_result: Callable[[Job, dict], None] | None = None) -> Report:
    """Run (or resume) ``jobs`` on ``executor``; every result and failure is written to ``out`` as it
    arrives. Returns the :class:`Report` (results of this run and of earlier ones); an interrupt
    (Ctrl-C, or SIGTERM from ``kill`` or a job scheduler) stops the workers and returns what is
    finished, marked ``interrupted``."""
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise ValueError("job names must be unique within a sweep")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    store = ResultStore(out)
    results: dict[str, dict] = {}
    pending = []
    for job in jobs:
        if (done := store.finished(job)) is not None:
            results[job.name] = done
        else:
            pending.append(job)
    failed: dict[str, dict] = {}
    bar = _bar(len(jobs), desc, progress)
    bar.update(len(results))
    interrupted = False
    try:
        with _terminate_as_interrupt():
            for job, record, ok in _execute(pending, factory, executor or InProcess(), retries, store):
                (results if ok else failed)[job.name] = record
                bar.update()
                if ok and on_result is not None:
                    on_result(job, record)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    order = {n: i for i, n in enumerate(names)}
    return Report(list(jobs), dict(sorted(results.items(), key=lambda kv: order[kv[0]])),
                  dict(sorted(failed.items(), key=lambda kv: order[kv[0]])), len(jobs) - len(pending),
                  interrupted)


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt for the run's duration: its default action would end the
    driver at once, leaving the worker processes to finish their jobs for nobody. Only the main
    thread can hold a signal handler; elsewhere SIGTERM keeps its action."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _execute(pending: Iterable[Job], factory: WorkerFactory, executor: Executor, retries: int,
             store: ResultStore) -> Iterator[tuple[Job, dict, bool]]:
    pending = list(pending)
    if not pending:
        return
    errors: dict[str, list[str]] = {j.name: [] for j in pending}
    with executor.start(factory, len(pending)) as session:
        for job in pending:
            session.submit(job)
        outstanding = len(pending)
        while outstanding:
            outcome = session.next()
            job = outcome.job
            if outcome.output is not None:
                outstanding -= 1
                yield job, store.save(job, outcome.output, len(errors[job.name]) + 1), True
                continue
            errors[job.name].append(outcome.error or "unknown error")
            if len(errors[job.name]) <= retries:
                session.submit(job)
            else:
                outstanding -= 1
                yield job, store.save_failure(job, errors[job.name]), False
