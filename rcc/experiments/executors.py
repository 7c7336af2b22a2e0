"""Executors: where a sweep's jobs run, in this process or on local processes.

An executor's ``start(factory, jobs)`` opens a session; the driver submits jobs and takes finished
attempts (:class:`rcc.experiments.jobs.Outcome`) in the order they finish. :class:`InProcess` (the
default) runs them one after another with one worker built here; :class:`Processes` (``--workers
N``) on spawned processes, each pinned to ``threads`` numerical threads, each building its worker
once. A process that dies (killed, out of memory) loses only its current job, which comes back as
an error outcome, and is replaced. The Ray executor is :mod:`rcc.experiments.ray_executor`.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol

from rcc.experiments.jobs import Job, JobOutput, Outcome, WorkerFactory, attempt, pin_threads

__all__ = ["Executor", "InProcess", "Processes", "Session"]


class Executor(Protocol):
    """``start(factory, jobs)`` gives a session for ``jobs`` jobs (it starts no more workers than
    that): ``submit(job)``, then ``next()``, the next finished attempt."""

    def start(self, factory: WorkerFactory, jobs: int) -> AbstractContextManager[Session]: ...


class Session(Protocol):
    def submit(self, job: Job) -> None: ...

    def next(self) -> Outcome: ...


class InProcess:
    """Jobs run one after another in this process, with one worker built here."""

    name = "in-process"

    def start(self, factory: WorkerFactory, jobs: int) -> AbstractContextManager[Session]:
        return _InProcessSession(factory())


class _InProcessSession:
    def __init__(self, fn: Callable[[Any], JobOutput]) -> None:
        self.fn, self.queue = fn, deque()

    def __enter__(self) -> _InProcessSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.queue.clear()

    def submit(self, job: Job) -> None:
        self.queue.append(job)

    def next(self) -> Outcome:
        return attempt(self.fn, self.queue.popleft())


def _process_main(conn: Connection, factory: bytes, threads: int | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the driver stops us
    pin_threads(threads)  # before the factory's imports start thread pools
    fn = pickle.loads(factory)()
    conn.send(None)  # ready
    while (job := conn.recv()) is not None:
        conn.send(attempt(fn, job))


@dataclass
class Processes:
    """``workers`` spawned processes (each builds its worker once), ``threads`` numerical threads each
    (default: the CPUs shared out). A process that dies loses only its current job; it is replaced."""

    workers: int
    threads: int | None = None
    name = "processes"

    def start(self, factory: WorkerFactory, jobs: int) -> AbstractContextManager[Session]:
        if self.workers < 1:
            raise ValueError(f"workers must be positive, got {self.workers}")
        threads = self.threads or max(1, (os.cpu_count() or 1) // self.workers)
        return _ProcessSession(pickle.dumps(factory), min(self.workers, jobs), threads)


class _ProcessSession:
    def __init__(self, factory: bytes, workers: int, threads: int) -> None:
        self.factory, self.workers, self.threads = factory, workers, threads
        self.context = multiprocessing.get_context("spawn")  # no inherited torch/numba thread state
        self.queue: deque = deque()
        self.idle: list = []
        self.busy: dict = {}  # process -> (connection, job)
        self.conns: dict = {}

    def __enter__(self) -> _ProcessSession:
        for _ in range(self.workers):
            self._spawn()
        return self

    def __exit__(self, *exc: object) -> None:
        for proc, conn in self.conns.items():
            if proc in self.busy:  # mid-job or still starting (an interrupt): nobody takes its result
                proc.kill()
            else:
                try:
                    conn.send(None)
                except OSError:
                    pass
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()

    def _spawn(self) -> None:
        parent, child = self.context.Pipe()
        proc = self.context.Process(target=_process_main, args=(child, self.factory, self.threads),
                                    daemon=True)
        proc.start()
        child.close()
        self.conns[proc] = parent
        self.busy[proc] = None  # starting: ready once it sends None

    def submit(self, job: Job) -> None:
        self.queue.append(job)
        self._dispatch()

    def _dispatch(self) -> None:
        while self.idle and self.queue:
            proc = self.idle.pop()
            job = self.queue.popleft()
            self.conns[proc].send(job)
            self.busy[proc] = job

    def next(self) -> Outcome:
        while True:
            by_handle = {**{c: p for p, c in self.conns.items() if p in self.busy},
                         **{p.sentinel: p for p in self.busy}}
            for handle in wait(list(by_handle)):
                proc = by_handle[handle]
                outcome = self._collect(proc, handle is self.conns.get(proc))
                if outcome is not None:
                    self._dispatch()
                    return outcome
            self._dispatch()

    def _collect(self, proc: Any, readable: bool) -> Outcome | None:
        job = self.busy.get(proc)
        if readable:
            try:
                message = self.conns[proc].recv()
            except (EOFError, OSError):
                message = None
            else:
                del self.busy[proc]
                self.idle.append(proc)
                return message  # None: the process just became ready
        if proc.is_alive() or proc not in self.busy:
            return None
        # The process died (its sentinel fired): replace it; its job, if any, is lost.
        del self.busy[proc]
        self.conns.pop(proc).close()
        proc.join()
        self._spawn()
        if job is None:
            raise RuntimeError(f"a worker process exited with code {proc.exitcode} while starting")
        return Outcome(job, error=f"worker process exited with code {proc.exitcode}")
