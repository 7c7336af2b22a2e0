"""Part 6 of the GPU check: the default model's GPU training recipe (``diffc train --recipe gpu``).

The part runs ``python -m diffc.cli train --recipe gpu --device cuda`` on the photo pack in
``$DIFFC_TRAIN_DATA`` (default ``data/gpu-pack``, built by ``make gpu-data``: the training photos at
training scale, losslessly, :mod:`diffc.models.photo_pack`), with ``$DIFFC_TRAIN_ARGS`` appended
(e.g. ``--steps 4000``). How much it runs follows from its budget:

- at least :data:`FULL_RUN_S` (its own invocation, ``GPU_CHECK_PARTS=training:500``, README "Running
  the GPU check"): the whole recipe, sized to finish within 8 minutes on an H200 (model card, "GPU
  recipe"); its EMA pipeline comes back in ``OUT/training_pipeline/`` (binary16, files of at most
  16 MiB: ``model_index.json``, the scheduler's and the UNet's configs, ``diffc_config.json`` and
  the weights, five files; with the record, the summary and the log eight, the most the GPU machine
  returns);
- less (the 9-minute check): a probe of :data:`PROBE_STEPS` steps of the same recipe that measures
  seconds per step on the GPU, and from it the recipe's wall time; no weights come back (the other
  parts' records already fill the eight files). Under :data:`PROBE_MIN_S` the part skips: start-up
  alone (imports, CUDA, decoding the pack, the warm start) takes about a minute.

The whole recipe's trainer gets SIGTERM :data:`GRACE_S` seconds before the part's deadline, on
which it stops at the next step, writes its checkpoint and pipeline and exports the compact folder,
so a slower GPU than the sizing assumed still brings back the weights it reached. The probe's gets
it :data:`PROBE_GRACE_S` before: nothing it exports comes back, and its loss log is written a line a
step. The record holds the
command, its exit status, whether the deadline stopped it, the steps and seconds from the run's
``loss.csv``, the measured seconds per step against the model card's estimate, and the end of the
output and of the loss log. The dry run only looks for the option.
"""

from __future__ import annotations

import csv
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.gpu._part import Part, Skip, run_part

ROOT = Path(__file__).resolve().parents[2]
RECIPE = "gpu"
DATA = ROOT / "data" / "gpu-pack"
WEIGHTS = "training_pipeline"
FULL_RUN_S = 300.0
"""A part with at least this budget runs the whole recipe and brings its weights back."""
PROBE_STEPS = 60
WARM_STEPS = 10
"""Steps left out of the seconds-per-step figure (cuDNN's autotuning, the first allocations)."""
GRACE_S = 30.0
"""Seconds between the SIGTERM and the deadline: checkpoint, float32 pipeline and compact export."""
PROBE_GRACE_S = 10.0
PROBE_MIN_S = 80.0
"""Least budget a probe is started with: about a minute of start-up, then its steps."""
OUTPUT_TAIL = 4000


def recipe_available() -> bool:
    """True when ``diffc train --help`` offers ``--recipe`` with a ``gpu`` choice."""
    import re

    done = subprocess.run([sys.executable, "-m", "diffc.cli", "train", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`diffc train --help` failed: {done.stderr.strip()[-500:]}")
    match = re.search(r"--recipe\s+\{([^}]*)\}", done.stdout)
    return match is not None and RECIPE in match.group(1).split(",")


def run_until(command: list[str], stop_at: float, log: Path, grace: float) -> tuple[int | None, bool]:
    """Run ``command`` (output to ``log``); at ``time.monotonic() == stop_at`` send SIGTERM and give it
    ``grace`` seconds to finish, then kill it. Returns its exit status (None when killed) and whether
    the deadline stopped it."""
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            return proc.wait(timeout=max(stop_at - time.monotonic(), 1.0)), False
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=grace), True
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None, True


def loss_summary(loss_csv: Path) -> dict:
    """Steps, training seconds and the median seconds per step after the first :data:`WARM_STEPS`."""
    if not loss_csv.is_file():
        return {"steps": 0}
    with open(loss_csv, newline="") as fh:
        rows = [(int(r["step"]), float(r["wall_s"]), float(r["loss"])) for r in csv.DictReader(fh)]
    if not rows:
        return {"steps": 0}
    walls = [w for _, w, _ in rows[WARM_STEPS:]]
    # wall_s is written with 0.1 s resolution: the spread over many steps, not one step's difference.
    per_step = (walls[-1] - walls[0]) / (len(walls) - 1) if len(walls) > 1 else None
    return {"steps": rows[-1][0], "train_wall_s": rows[-1][1], "s_per_step": per_step,
            "loss_last_100_mean": statistics.fmean(loss for _, _, loss in rows[-100:])}


def body(part: Part) -> dict:
    if not recipe_available():
        raise Skip(f"not available: `diffc train` has no --recipe {RECIPE} option")
    data = Path(os.environ.get("DIFFC_TRAIN_DATA", DATA))
    if part.dry_run:
        raise Skip(f"dry run: the recipe exists; training needs a GPU (data would be read from {data})")
    if not data.is_dir():
        raise Skip(f"no training photos at {data} (run `make gpu-data` and carry its parts as "
                   "`python -m benchmarks.gpu.travel` prints, or set DIFFC_TRAIN_DATA)")
    from diffc.models.photo_pack import is_pack, missing_parts
    from diffc.models.training import RECIPES

    if is_pack(data) and (missing := missing_parts(data)):
        raise Skip(f"the pack at {data} lacks {', '.join(missing)}: each part travels in its own call to "
                   "the same warm machine (python -m benchmarks.gpu.travel)")

    full = part.remaining() >= FULL_RUN_S
    if not full and part.remaining() < PROBE_MIN_S:
        raise Skip(f"{part.remaining():.0f} s left, under the probe's {PROBE_MIN_S:.0f} s (start-up takes "
                   "about a minute): run the training part on its own (make gpu-train)")
    grace = GRACE_S if full else PROBE_GRACE_S
    weights = part.out / WEIGHTS
    shutil.rmtree(weights, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        command = [sys.executable, "-m", "diffc.cli", "train", "--recipe", RECIPE, "--device", "cuda",
                   "--data", str(data), "--out", str(run), "--quiet",
                   "--compact", str(weights if full else Path(tmp) / "compact")]
        if not full:
            command += ["--steps", str(PROBE_STEPS)]
        command += shlex.split(os.environ.get("DIFFC_TRAIN_ARGS", ""))
        started = time.monotonic()
        rc, stopped = run_until(command, part.deadline - grace - 5.0, Path(tmp) / "output.log", grace)
        wall = time.monotonic() - started
        output = (Path(tmp) / "output.log").read_text(errors="replace")
        summary = loss_summary(run / "loss.csv")
        loss_tail = (run / "loss.csv").read_text().splitlines()[-20:] if (run / "loss.csv").exists() else []
    shutil.rmtree(weights.with_name(weights.name + ".partial"), ignore_errors=True)  # an export cut short
    returned = sorted(str(p.relative_to(part.out)) for p in weights.rglob("*") if p.is_file()) if full else []
    recipe = RECIPES[RECIPE]
    per_step = summary.get("s_per_step")
    if rc == 0 and summary["steps"] > 0:
        status = "ok"
    else:  # a deadline that came before the first step is the part's timeout, not a failed run
        status = "timeout" if stopped and summary["steps"] == 0 else "failed"
    return {
        "status": status,
        "mode": "full" if full else "probe", "command": command, "rc": rc, "stopped_by_deadline": stopped,
        "wall_s_run": wall, **summary,
        # Start-up (imports, CUDA, data, warm start) and the final checkpoint and exports.
        "outside_steps_s": wall - summary.get("train_wall_s", 0.0),
        "recipe": {"steps": recipe.steps, "batch": recipe.batch, "size": recipe.size, "bf16": recipe.bf16},
        "recipe_wall_s_at_measured_rate": (wall - summary.get("train_wall_s", 0.0) + recipe.steps * per_step
                                           if per_step else None),
        "weights_returned": returned,
        "output_tail": output[-OUTPUT_TAIL:], "loss_tail": loss_tail,
    }


if __name__ == "__main__":
    raise SystemExit(run_part("training", __doc__.splitlines()[0], body))
