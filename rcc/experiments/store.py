"""Where a sweep's results live: ``OUT/jobs/<name>.json`` and ``.failed.json`` beside the job files.

Only the driver writes here: a job's files first, then ``jobs/<name>.json``, each under a temporary
name and then renamed (:func:`atomic_write`), so a job's JSON exists only once everything it names
is complete, and a killed driver leaves no half-written result. A rerun finds a job finished when
its JSON carries the same ``job_id``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from rcc.experiments.jobs import Job, JobOutput

__all__ = ["ResultStore", "atomic_write"]


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` under a temporary name, then rename (readers never see a partial file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk must not leave an empty or partial temporary file
        raise


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
