"""What a sweep is made of: jobs with stable ids, the worker's output, and one attempt at a job.

A :class:`Job` has a ``name`` (its file stem in ``OUT/jobs/``, unique within the sweep), a stable
``id`` derived from everything its result depends on (:func:`stable_id`), and ``args``, what the
worker needs to compute it. A *worker factory* is a picklable callable; each worker calls it once
(this is where a model is loaded: once per process or Ray actor, not once per job) and gets back a
function from ``args`` to a :class:`JobOutput`: the result (JSON) and its files (bytes by path).
Workers compute from ``args`` alone, so a result does not depend on the executor that ran it.
"""

from __future__ import annotations

import hashlib
import json
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["THREAD_VARIABLES", "Job", "JobOutput", "Outcome", "WorkerFactory", "attempt", "pin_threads",
           "stable_id"]

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


def attempt(fn: Callable[[Any], JobOutput], job: Job) -> Outcome:
    """Run one job in this worker; an exception becomes an error outcome with its traceback."""
    try:
        return Outcome(job, output=fn(job.args))
    except Exception as err:  # noqa: BLE001 - any failure of one job is recorded, not fatal to the sweep
        return Outcome(job, error=f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=-3)}")


def pin_threads(threads: int | None) -> None:
    """Pin this worker's numerical libraries to ``threads`` threads (before they are imported)."""
    if threads is not None:
        os.environ.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
