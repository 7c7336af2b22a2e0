"""Part 1 of the GPU check: the real-GPU tests (``pytest -m gpu`` with ``RCC_REAL_GPU=1``).

Runs the test files that carry the ``gpu`` marker (collecting only them keeps the run short and
independent of packages the other files import), with pytest's JUnit XML report, and records the
counts and every test's outcome. In a dry run ``RCC_REAL_GPU`` is left unset, so the suite's
conftest skips the same tests: the rehearsal checks the plumbing, not the GPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from benchmarks.gpu._part import Part, Skip, run_part

ROOT = Path(__file__).resolve().parents[2]
OUTPUT_TAIL = 4000


def gpu_test_files(tests: Path = ROOT / "tests") -> list[Path]:
    """The test modules that use the ``gpu`` marker."""
    return sorted(p for p in tests.glob("test_*.py") if "mark.gpu" in p.read_text())


def junit_cases(xml_path: Path) -> list[dict]:
    """Every test case of a JUnit XML report: its id, outcome, seconds and failure message."""
    cases = []
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        outcome, message = "passed", None
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome, message = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag], \
                    (node.get("message") or "")[:500]
                break
        cases.append({"test": f"{case.get('classname')}::{case.get('name')}", "outcome": outcome,
                      "seconds": float(case.get("time") or 0.0), "message": message})
    return cases


def body(part: Part) -> dict:
    files = gpu_test_files()
    if not files:
        raise Skip("no test file uses the gpu marker")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if part.dry_run:
        env.pop("RCC_REAL_GPU", None)
    else:
        env["RCC_REAL_GPU"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        xml_path = Path(tmp) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider",
                   f"--junitxml={xml_path}", *map(str, files)]
        try:
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=max(part.remaining() - 5.0, 1.0))
            rc, output = done.returncode, done.stdout + done.stderr
        except subprocess.TimeoutExpired as err:
            rc, output = None, f"{err.stdout or ''}{err.stderr or ''}\npytest stopped at the part's budget"
        cases = junit_cases(xml_path) if xml_path.exists() else []
    for case in cases:
        part.add(case)
    counts = {o: sum(c["outcome"] == o for c in cases) for o in ("passed", "failed", "error", "skipped")}
    if rc not in (0, 5) and not counts["failed"] and not counts["error"]:
        counts["error"] += 1  # pytest failed before or outside the tests (collection, a crash)
    broken = rc not in (0, 5) or counts["failed"] or counts["error"]
    config = {"files": [str(f.relative_to(ROOT)) for f in files], "real_gpu_env": not part.dry_run}
    return {"status": "failed" if broken else "ok", "config": config,
            "pytest_rc": rc, "counts": counts, "output_tail": output[-OUTPUT_TAIL:],
            "all_passed": rc == 0 and counts["passed"] > 0 and not counts["failed"] and not counts["error"]}


if __name__ == "__main__":
    raise SystemExit(run_part("tests", __doc__.splitlines()[0], body))
