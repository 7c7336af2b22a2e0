"""Experiments that run as sweeps of jobs: the shared runner and the rate-overhead experiment behind
``rcc overhead`` (:mod:`rcc.experiments.overhead`).

The runner: jobs and one attempt at a job (:mod:`rcc.experiments.jobs`), where results are kept
(:mod:`rcc.experiments.store`), the executors (:mod:`rcc.experiments.executors`: in this process or
on local processes; :mod:`rcc.experiments.ray_executor`: on Ray) and the driver that runs or resumes
a sweep (:mod:`rcc.experiments.runner`).
"""

from rcc.experiments.executors import Executor, InProcess, Processes, Session
from rcc.experiments.jobs import Job, JobOutput, Outcome, WorkerFactory, stable_id
from rcc.experiments.ray_executor import Ray
from rcc.experiments.runner import Report, executor_from, run_jobs
from rcc.experiments.store import ResultStore, atomic_write

__all__ = [
    "Executor",
    "InProcess",
    "Job",
    "JobOutput",
    "Outcome",
    "Processes",
    "Ray",
    "Report",
    "ResultStore",
    "Session",
    "WorkerFactory",
    "atomic_write",
    "executor_from",
    "run_jobs",
    "stable_id",
]
