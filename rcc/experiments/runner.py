"""One small experiment runner: a sweep is a list of jobs, run in-process, on local processes or on Ray.

A :class:`Job` has a ``name`` (its file stem in ``OUT/jobs/``, unique within the sweep), a stable
``id`` derived from everything its result depends on (:func:`stable_id`), and ``args``, what the
worker needs to compute it. A *worker factory* is a picklable callable; each worker calls it once
(this is where a model is loaded: once per process or Ray actor, not once per job) and gets back a
function from ``args`` to a :class:`JobOutput`: the result (JSON) and its files (bytes by path).

What is guaranteed:

- **Loss-free.** Only the driver writes to ``OUT``: a job's files first, then ``jobs/<name>.json``,
  each under a temporary name and then renamed, so a job's JSON exists only once everything it
  names is complete, and a killed driver leaves no half-written result. No shared filesystem is
  needed between the driver and the workers.
- **Resumable.** A rerun skips every job whose ``jobs/<name>.json`` carries the same ``job_id``;
  jobs with other ids (other settings) and failed jobs run again.
- **Faults stay local.** A job whose worker raises or dies (a killed process, a lost Ray node) is
  retried up to ``retries`` times on a fresh attempt (a dead worker is replaced) and then recorded
  as ``jobs/<name>.failed.json`` with its errors and attempt count; the sweep carries on. Each job
  yields exactly one record: a result or a failure.
- **Executor-independent.** Workers compute from ``args`` alone, so a result does not depend on the
  executor; the experiments keep their outputs deterministic (the DiffC files are byte-identical).

Executors: :class:`InProcess` (the default), :class:`Processes` (``--workers N``: spawned processes,
each pinned to ``threads`` numerical threads) and :class:`Ray` (``--ray [ADDRESS]``: ``auto`` joins a
running cluster, ``ray://host:port`` a remote one, no address starts a local one; one actor per CPU
slot, or per GPU with ``num_gpus=1``). Ray is an optional dependency (the ``cluster`` extra) and is
imported only by :class:`Ray`; this module imports neither torch nor ray.

Test-only fault hooks (read by the driver and sent with each job, so they reach every executor's
workers): ``RCC_RUNNER_TEST_EXIT=NAME=MARKER`` makes the first worker that starts job ``NAME``
create the file ``MARKER`` and exit its process at once; ``RCC_RUNNER_TEST_RAISE=NAME`` makes job
``NAME`` raise on every attempt. The in-process executor has no worker process to lose and ignores
the exit hook.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import pickle
import signal
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Protocol

__all__ = ["EXIT_HOOK", "RAISE_HOOK", "Executor", "InProcess", "Job", "JobOutput", "Outcome", "Processes",
           "Ray", "Report", "ResultStore", "atomic_write", "executor_from", "run_jobs", "stable_id"]

EXIT_HOOK = "RCC_RUNNER_TEST_EXIT"
RAISE_HOOK = "RCC_RUNNER_TEST_RAISE"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


@dataclass(frozen=True)
class Job:
    """One unit of a sweep: ``name`` (file stem), stable ``id`` and the worker's ``args``."""

    name: str
    id: str
    args: Any = None


@dataclass
class JobOutput:
    """What a worker returns: the result (JSON-serializable) and its files, by path relative to OUT."""

    result: dict
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """One attempt at a job: its output, or the error (an exception, or the worker's death)."""

    job: Job
    output: JobOutput | None = None
    error: str | None = None


WorkerFactory = Callable[[], Callable[[Any], JobOutput]]


def stable_id(*parts: object) -> str:
    """A 16-hex-digit id of JSON-serializable ``parts`` (sorted keys, so dict order does not matter)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` under a temporary name, then rename (readers never see a partial file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class ResultStore:
    """``OUT/jobs/<name>.json`` (finished) and ``OUT/jobs/<name>.failed.json`` (failed), plus job files."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.jobs = self.out / "jobs"

    def finished(self, job: Job) -> dict | None:
        try:
            result = json.loads((self.jobs / f"{job.name}.json").read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return result if result.get("job_id") == job.id else None

    def save(self, job: Job, output: JobOutput, attempts: int) -> dict:
        for rel, data in output.files.items():
            target = (self.out / rel).resolve()
            if not target.is_relative_to(self.out.resolve()):
                raise ValueError(f"job {job.name} names a file outside the output folder: {rel}")
            atomic_write(target, data)
        result = output.result | {"job_id": job.id, "attempts": attempts}
        atomic_write(self.jobs / f"{job.name}.json", json.dumps(result, indent=1).encode())
        (self.jobs / f"{job.name}.failed.json").unlink(missing_ok=True)
        return result

    def save_failure(self, job: Job, errors: list[str]) -> dict:
        record = {"job_id": job.id, "name": job.name, "attempts": len(errors), "error": errors[-1],
                  "errors": errors}
        atomic_write(self.jobs / f"{job.name}.failed.json", json.dumps(record, indent=1).encode())
        return record


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


# -- the worker side ----------------------------------------------------------------------------


def _hooks() -> dict[str, str]:
    return {k: os.environ[k] for k in (EXIT_HOOK, RAISE_HOOK) if os.environ.get(k)}


def _first_claim(marker: str) -> bool:
    """Create ``marker`` atomically; False when it already exists (claimed by an earlier attempt)."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def _attempt(fn: Callable[[Any], JobOutput], job: Job, hooks: Mapping[str, str],
             may_exit: bool = True) -> Outcome:
    """Run one job in this worker; an exception becomes an error outcome with its traceback."""
    exit_name, _, marker = hooks.get(EXIT_HOOK, "").partition("=")
    if may_exit and exit_name == job.name and _first_claim(marker):
        os._exit(70)  # the test-only hook: die once in the middle of this job; the retry runs it
    try:
        if hooks.get(RAISE_HOOK) == job.name:
            raise RuntimeError(f"test fault ({RAISE_HOOK}) in job {job.name}")
        return Outcome(job, output=fn(job.args))
    except Exception as err:  # noqa: BLE001 - any failure of one job is recorded, not fatal to the sweep
        return Outcome(job, error=f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=-3)}")


def _pin_threads(threads: int | None) -> None:
    if threads is not None:
        os.environ.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))


# -- executors ----------------------------------------------------------------------------------


class Executor(Protocol):
    """``start(factory, jobs)`` gives a session for ``jobs`` jobs (it starts no more workers than
    that): ``submit(job, hooks)``, then ``next()``, the next finished attempt."""

    def start(self, factory: WorkerFactory, jobs: int) -> AbstractContextManager[Session]: ...


class Session(Protocol):
    def submit(self, job: Job, hooks: Mapping[str, str]) -> None: ...

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

    def submit(self, job: Job, hooks: Mapping[str, str]) -> None:
        self.queue.append((job, hooks))

    def next(self) -> Outcome:
        job, hooks = self.queue.popleft()
        return _attempt(self.fn, job, hooks, may_exit=False)


def _process_main(conn: Connection, factory: bytes, threads: int | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the driver stops us
    _pin_threads(threads)  # before the factory's imports start thread pools
    fn = pickle.loads(factory)()
    conn.send(None)  # ready
    while (message := conn.recv()) is not None:
        conn.send(_attempt(fn, *message))


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
            try:
                conn.send(None)
            except OSError:
                pass
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()

    def _spawn(self) -> None:
        parent, child = self.context.Pipe()
        proc = self.context.Process(target=_process_main, args=(child, self.factory, self.threads),
                                    daemon=True)
        proc.start()
        child.close()
        self.conns[proc] = parent
        self.busy[proc] = None  # starting: ready once it sends None

    def submit(self, job: Job, hooks: Mapping[str, str]) -> None:
        self.queue.append((job, dict(hooks)))
        self._dispatch()

    def _dispatch(self) -> None:
        while self.idle and self.queue:
            proc = self.idle.pop()
            message = self.queue.popleft()
            self.conns[proc].send(message)
            self.busy[proc] = message[0]

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


@dataclass
class Ray:
    """Ray actors, one per CPU slot (``num_cpus``) or per GPU (``gpus=True``: ``num_gpus=1`` each).

    ``address``: None starts a local cluster (or uses the one this process already joined),
    ``"auto"`` joins a running one, ``"ray://host:port"`` connects a client. ``workers``: how many
    actors (default: what the cluster's resources hold). Each actor builds its worker once."""

    address: str | None = None
    workers: int | None = None
    gpus: bool = False
    num_cpus: float = 1
    name = "ray"

    def start(self, factory: WorkerFactory, jobs: int) -> AbstractContextManager[Session]:
        return _RaySession(self, factory, jobs)


class _Actor:
    def __init__(self, factory: bytes, threads: int | None) -> None:
        _pin_threads(threads)  # before unpickling the factory imports numerical libraries
        self.fn = pickle.loads(factory)()

    def run(self, job: Job, hooks: Mapping[str, str]) -> Outcome:
        return _attempt(self.fn, job, hooks)


class _RaySession:
    def __init__(self, spec: Ray, factory: WorkerFactory, jobs: int) -> None:
        import ray

        self.ray, self.spec, self.factory, self.jobs = ray, spec, factory, jobs
        self.started = False
        self.queue: deque = deque()
        self.idle: list = []
        self.running: dict = {}  # object ref -> (actor, job)

    def __enter__(self) -> _RaySession:
        ray = self.ray
        if not ray.is_initialized():
            ray.init(address=self.spec.address, include_dashboard=False, logging_level="WARNING",
                     log_to_driver=False)
            self.started = True
        resources = ray.cluster_resources()
        kind = "GPU" if self.spec.gpus else "CPU"
        slots = int(resources.get(kind, 0) // (1 if self.spec.gpus else self.spec.num_cpus))
        if slots < 1:
            raise RuntimeError(f"the Ray cluster has no {kind} to run workers on ({resources})")
        self.factory_ref = ray.put(ray.cloudpickle.dumps(self.factory))
        self.remote = ray.remote(_Actor).options(num_cpus=self.spec.num_cpus,
                                                 num_gpus=1 if self.spec.gpus else 0, max_restarts=0)
        self.idle = [self._actor() for _ in range(min(self.spec.workers or slots, slots, self.jobs))]
        return self

    def _actor(self) -> Any:
        threads = None if self.spec.gpus else max(1, int(self.spec.num_cpus))
        return self.remote.remote(self.factory_ref, threads)

    def __exit__(self, *exc: object) -> None:
        for actor in [*self.idle, *(a for a, _ in self.running.values())]:
            self.ray.kill(actor)
        if self.started:
            self.ray.shutdown()

    def submit(self, job: Job, hooks: Mapping[str, str]) -> None:
        self.queue.append((job, dict(hooks)))
        self._dispatch()

    def _dispatch(self) -> None:
        while self.idle and self.queue:
            actor = self.idle.pop()
            job, hooks = self.queue.popleft()
            self.running[actor.run.remote(job, hooks)] = (actor, job)

    def next(self) -> Outcome:
        (ref,), _ = self.ray.wait(list(self.running), num_returns=1)
        actor, job = self.running.pop(ref)
        try:
            outcome = self.ray.get(ref)
        except self.ray.exceptions.RayError as err:  # the actor died or its node was lost
            self.ray.kill(actor)
            actor = self._actor()
            outcome = Outcome(job, error=f"{type(err).__name__}: {str(err).splitlines()[0]}")
        self.idle.append(actor)
        self._dispatch()
        return outcome


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
    (Ctrl-C) stops the workers and returns what is finished, marked ``interrupted``."""
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


def _execute(pending: Iterable[Job], factory: WorkerFactory, executor: Executor, retries: int,
             store: ResultStore) -> Iterator[tuple[Job, dict, bool]]:
    pending = list(pending)
    if not pending:
        return
    hooks = _hooks()
    errors: dict[str, list[str]] = {j.name: [] for j in pending}
    with executor.start(factory, len(pending)) as session:
        for job in pending:
            session.submit(job, hooks)
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
                session.submit(job, hooks)
            else:
                outstanding -= 1
                yield job, store.save_failure(job, errors[job.name]), False
