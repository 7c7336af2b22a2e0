"""Fault injection for the runner's tests: an executor whose workers die in, or raise on, chosen jobs.

:class:`Faulty` wraps any executor. Each job reaches the workers with its name, and the worker
factory is wrapped so that the first worker to start job ``die_in`` claims ``marker`` (a file
created atomically) and exits its process at once, in the middle of the job (the retry, finding the
marker, runs it), and job ``raise_in`` raises on every attempt. Only executors whose workers are
processes or actors can lose one: never give ``die_in`` to the in-process executor. The workers of
:class:`Sleepers` stay in their jobs until stopped from outside.

Spawned processes import this module by name (they inherit the test run's ``sys.path``); Ray
workers do not see the tests folder, so the Ray tests register it to be pickled by value.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from rcc.experiments import Executor, Job, JobOutput, Outcome, Session, WorkerFactory


class FaultyWorkers:
    """A worker factory around ``factory`` whose workers take ``(job name, args)``."""

    def __init__(self, factory: WorkerFactory, die_in: str | None, marker: str | None,
                 raise_in: str | None) -> None:
        self.factory, self.die_in, self.marker, self.raise_in = factory, die_in, marker, raise_in

    def __call__(self) -> Callable[[tuple[str, Any]], JobOutput]:
        fn = self.factory()

        def run(named: tuple[str, Any]) -> JobOutput:
            name, args = named
            if name == self.die_in and first_claim(self.marker):
                os._exit(70)
            if name == self.raise_in:
                raise RuntimeError(f"test fault in job {name}")
            return fn(args)

        return run


def first_claim(marker: str) -> bool:
    """Create ``marker`` atomically; False when it already exists (claimed by an earlier attempt)."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


@dataclass
class Faulty:
    """``inner`` with the faults of :class:`FaultyWorkers` (``marker``: a path that does not exist yet)."""

    inner: Executor
    die_in: str | None = None
    marker: str | None = None
    raise_in: str | None = None

    @property
    def name(self) -> str:
        return self.inner.name

    def start(self, factory: WorkerFactory, jobs: int) -> AbstractContextManager[Session]:
        workers = FaultyWorkers(factory, self.die_in, self.marker, self.raise_in)
        return _NamedJobs(self.inner.start(workers, jobs))


class _NamedJobs:
    """A session that sends each job's name with its args and hands back the original jobs."""

    def __init__(self, inner: AbstractContextManager[Session]) -> None:
        self.inner, self.jobs = inner, {}

    def __enter__(self) -> _NamedJobs:
        self.session = self.inner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.__exit__(*exc)

    def submit(self, job: Job) -> None:
        self.jobs[job.name] = job
        self.session.submit(Job(job.name, job.id, (job.name, job.args)))

    def next(self) -> Outcome:
        outcome = self.session.next()
        return Outcome(self.jobs[outcome.job.name], outcome.output, outcome.error)


def inject(monkeypatch: Any, **faults: str) -> None:
    """Make the executor that the CLIs build (:func:`rcc.experiments.executor_from`) a :class:`Faulty` one."""
    import rcc.experiments

    real = rcc.experiments.executor_from
    monkeypatch.setattr(rcc.experiments, "executor_from", lambda *a, **k: Faulty(real(*a, **k), **faults))


@dataclass
class Sleepers:
    """A worker factory whose workers finish a job named ``quick`` at once and, on any other job, write
    their process id to ``folder/<job name>.pid`` and sleep: a run to stop from outside."""

    folder: str

    def __call__(self) -> Callable[[str], JobOutput]:
        def run(name: str) -> JobOutput:
            if name != "quick":
                path = os.path.join(self.folder, f"{name}.pid")
                with open(path + ".tmp", "w") as f:  # renamed once written: a reader never sees it empty
                    f.write(str(os.getpid()))
                os.replace(path + ".tmp", path)
                time.sleep(600)
            return JobOutput({"job": name})

        return run
