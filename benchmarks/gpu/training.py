"""Part 6 of the GPU check: the default model's GPU training recipe, where ``diffc train`` has one.

The hook runs ``python -m diffc.cli train --recipe gpu --device cuda`` only when ``diffc train
--help`` offers a ``--recipe`` option with a ``gpu`` choice (the default-model issue adds it), on
the photos of ``diffc data`` in ``$DIFFC_TRAIN_DATA`` (default ``data/photos``), within the part's
budget; the record holds the command, its exit status, the end of its output and the end of the
run's ``loss.csv``. Otherwise it records why nothing was trained. The dry run only looks for the
option.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.gpu._part import Part, Skip, run_part

ROOT = Path(__file__).resolve().parents[2]
RECIPE = "gpu"
OUTPUT_TAIL = 4000


def recipe_available() -> bool:
    """True when ``diffc train`` offers ``--recipe`` with a ``gpu`` choice."""
    done = subprocess.run([sys.executable, "-m", "diffc.cli", "train", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`diffc train --help` failed: {done.stderr.strip()[-500:]}")
    match = re.search(r"--recipe\s+\{([^}]*)\}", done.stdout)
    return match is not None and RECIPE in match.group(1).split(",")


def body(part: Part) -> dict:
    if not recipe_available():
        raise Skip(f"not available: `diffc train` has no --recipe {RECIPE} option yet")
    data = Path(os.environ.get("DIFFC_TRAIN_DATA", ROOT / "data" / "photos"))
    if part.dry_run:
        raise Skip(f"dry run: the recipe exists; training needs a GPU (data would be read from {data})")
    if not data.is_dir():
        raise Skip(f"no training photos at {data} (run `diffc data` and carry them, or set DIFFC_TRAIN_DATA)")
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "diffc.cli", "train", "--recipe", RECIPE, "--device", "cuda",
                   "--data", str(data), "--out", tmp, "--quiet"]
        try:
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False,
                                  timeout=max(part.remaining() - 10.0, 1.0))
            rc, output = done.returncode, done.stdout + done.stderr
        except subprocess.TimeoutExpired as err:
            rc, output = None, f"{err.stdout or ''}{err.stderr or ''}\ntraining stopped at the part's budget"
        loss = Path(tmp) / "loss.csv"
        loss_tail = loss.read_text().splitlines()[-20:] if loss.exists() else []
    return {"status": "ok" if rc == 0 else "failed", "command": command, "rc": rc,
            "output_tail": output[-OUTPUT_TAIL:], "loss_tail": loss_tail}


if __name__ == "__main__":
    raise SystemExit(run_part("training", __doc__.splitlines()[0], body))
