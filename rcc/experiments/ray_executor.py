"""The Ray executor: a sweep's jobs on Ray actors, on this machine or on a cluster.

One actor per CPU slot (``num_cpus``), or per GPU with ``gpus=True``; each builds its worker once.
An actor that dies, or whose node is lost, loses only its current job, which comes back as an error
outcome; the actor is replaced. Ray is an optional dependency (the ``cluster`` extra), imported
only when a session starts.
"""

from __future__ import annotations

import pickle
from collections import deque
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from rcc.experiments.executors import Session
from rcc.experiments.jobs import Job, Outcome, WorkerFactory, attempt, pin_threads

__all__ = ["Ray"]


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
        pin_threads(threads)  # before unpickling the factory imports numerical libraries
        self.fn = pickle.loads(factory)()

    def run(self, job: Job) -> Outcome:
        return attempt(self.fn, job)


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

    def submit(self, job: Job) -> None:
        self.queue.append(job)
        self._dispatch()

    def _dispatch(self) -> None:
        while self.idle and self.queue:
            actor = self.idle.pop()
            job = self.queue.popleft()
            self.running[actor.run.remote(job)] = (actor, job)

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
