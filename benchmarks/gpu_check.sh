#!/usr/bin/env bash
# The GPU check (issue 25): every GPU measurement of the project in one run that stops by itself.
#
#   benchmarks/gpu_check.sh OUTDIR            on a machine with a CUDA GPU (at most GPU_CHECK_BUDGET_S,
#                                             default 540 s = 9 minutes, in all)
#   DRY_RUN=1 benchmarks/gpu_check.sh OUTDIR  rehearsal on a CPU: Numba's CUDA simulator, tiny sizes
#
# Parts, in order, each `python -m benchmarks.gpu.NAME` under its own timeout, writing
# OUTDIR/PART_gpu.json even when it fails or is killed (see benchmarks/gpu/_part.py): tests (pytest -m
# gpu), identity (CPU and GPU bits), search (throughput), diffc (photos on the GPU), channel (large
# chunks), training (a probe of the GPU training recipe; given 300 s or more, as in its own run
# GPU_CHECK_PARTS=training:500, the whole recipe, its weights back in OUTDIR/training_pipeline/).
# OUTDIR/check_gpu.json sums them up and OUTDIR/gpu_check.log holds the output: eight files at most,
# what the GPU machine sends back.
#
# Wheels the GPU machine lacks (`make gpu-wheels` puts them in .whl/) are installed with --no-deps into
# a target folder, each only if its distribution is not there already: the machine's own torch, numba,
# numba-cuda and cupy stay. PYTHON picks the interpreter (default python3); GPU_CHECK_PARTS runs some
# parts only, in its order, each NAME or NAME:SECONDS (e.g. "identity diffc:200", to rerun two).
set -uo pipefail

if [ $# -ne 1 ]; then
    echo "usage: [DRY_RUN=1] $0 OUTDIR" >&2
    exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mkdir -p "$1" && cd "$1" && pwd) || { echo "$0: cannot create $1" >&2; exit 2; }
PYTHON=${PYTHON:-python3}
BUDGET=${GPU_CHECK_BUDGET_S:-540}
SITE=${GPU_CHECK_SITE:-/tmp/rcc-gpu-site}
DRY=${DRY_RUN:-}
START=$(date +%s)
LOG="$OUT/gpu_check.log"
: >"$LOG"
cd "$ROOT" || exit 2

# Part name, module, seconds it is allotted (unused seconds pass on to the parts after it).
declare -A MODULE=([tests]=tests [identity]=identity [search]=search [diffc]=diffc_photos
                   [channel]=channel_presets [training]=training)
# The training probe last, with the seconds its start-up and 60 steps need (benchmarks/gpu/training.py).
declare -A ALLOT=([tests]=60 [identity]=60 [search]=90 [diffc]=130 [channel]=90 [training]=100)
PARTS=${GPU_CHECK_PARTS:-tests identity search diffc channel training}
MIN_LIMIT=15  # a part is not started with less (unless its own allotment is less)
RESERVE=8  # seconds kept for the summary

log() { echo "[gpu_check $(($(date +%s) - START))s] $*" | tee -a "$LOG"; }

if [ -n "$DRY" ]; then
    export NUMBA_ENABLE_CUDASIM=1
    DRY_FLAG=--dry-run
else
    unset NUMBA_ENABLE_CUDASIM
    DRY_FLAG=
    # numba-cuda finds NVVM and libdevice through CUDA_HOME where no pip wheel of them is installed.
    if [ -z "${CUDA_HOME:-}" ] && [ -d /usr/local/cuda/nvvm ]; then
        export CUDA_HOME=/usr/local/cuda
    fi
fi
export PYTHONUNBUFFERED=1
export PYTHONPATH="$ROOT/kernels:$ROOT${PYTHONPATH:+:$PYTHONPATH}"

# Missing wheels only: a distribution the machine has keeps its own version.
INSTALLED_WHEELS=""
if [ -z "$DRY" ] && compgen -G "$ROOT/.whl/*.whl" >/dev/null; then
    missing=()
    for wheel in "$ROOT"/.whl/*.whl; do
        dist=$(basename "$wheel" | cut -d- -f1)
        if ! "$PYTHON" -c 'import importlib.metadata as m, sys; m.version(sys.argv[1])' "$dist" 2>/dev/null; then
            missing+=("$wheel")
        fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${#missing[@]} wheel(s) into $SITE: $(for w in "${missing[@]}"; do basename "$w"; done | tr '\n' ' ')"
        if "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
                --target "$SITE" "${missing[@]}" >>"$LOG" 2>&1; then
            export PYTHONPATH="$PYTHONPATH:$SITE"
            INSTALLED_WHEELS=$(for w in "${missing[@]}"; do basename "$w"; done | tr '\n' ' ')
        else
            log "wheel installation failed (see above); the parts run without them"
        fi
    fi
fi

# Every module the parts import, imported once: a missing one is a line here and in check_gpu.json.
MISSING_MODULES=$(timeout 120 "$PYTHON" -m benchmarks.gpu.wheels 2>>"$LOG") ||
    log "the import probe itself failed (exit $?, see the log)"
while IFS=$'\t' read -r module error; do
    [ -n "$error" ] && log "missing module $module: $error"
done <<<"$MISSING_MODULES"

# A part that died without a final record gets one: "timeout" when its timeout killed it.
finalize() {
    "$PYTHON" - "$OUT/$1_gpu.json" "$1" "$2" <<'EOF'
import json, sys
from pathlib import Path

path, name, rc = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
record = json.loads(path.read_text()) if path.exists() else {"part": name, "rows": []}
if record.get("status") in (None, "running"):
    record["status"] = "timeout" if rc in (124, 137) else "failed"
    record.setdefault("error", f"the part exited with status {rc} before writing its result")
record["exit_status"] = rc
path.write_text(json.dumps(record, indent=2) + "\n")
EOF
}

STATUS=0
carry=0
for spec in $PARTS; do
    if [[ ! "$spec" =~ ^[a-z]+(:[0-9]+)?$ ]] || [ -z "${MODULE[${spec%%:*}]:-}" ]; then
        echo "$0: unknown part $spec in GPU_CHECK_PARTS (parts: ${!MODULE[*]}, each NAME or NAME:SECONDS)" >&2
        exit 2
    fi
done
for spec in $PARTS; do
    name=${spec%%:*}
    module=${MODULE[$name]}
    allot=${ALLOT[$name]}
    [ "$spec" = "$name" ] || allot=${spec#*:}
    left=$((BUDGET - ($(date +%s) - START) - RESERVE))
    limit=$((allot + carry < left ? allot + carry : left))
    if [ "$limit" -lt $((allot < MIN_LIMIT ? allot : MIN_LIMIT)) ]; then
        log "$name: skipped, the global budget is spent"
        finalize "$name" 124
        STATUS=1
        continue
    fi
    log "$name: up to ${limit}s"
    began=$(date +%s)
    timeout --kill-after=10 "$limit" "$PYTHON" -m "benchmarks.gpu.$module" --out "$OUT" \
        --budget-s $((limit > 10 ? limit - 5 : limit)) $DRY_FLAG >>"$LOG" 2>&1
    rc=$?
    finalize "$name" "$rc" || STATUS=1
    [ "$rc" -eq 0 ] || STATUS=1
    carry=$((limit - ($(date +%s) - began)))
    log "$name: exit $rc after $(($(date +%s) - began))s"
done

"$PYTHON" - "$OUT" "$BUDGET" "$(($(date +%s) - START))" "$INSTALLED_WHEELS" "$DRY" "$MISSING_MODULES" >>"$LOG" 2>&1 <<'EOF' || STATUS=1
import json, os, shutil, subprocess, sys
from pathlib import Path

out, budget, wall, wheels, dry = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
missing = dict(line.split("\t", 1) for line in sys.argv[6].splitlines() if "\t" in line)
parts = {}
for path in sorted(out.glob("*_gpu.json")):
    if path.name == "check_gpu.json":
        continue
    record = json.loads(path.read_text())
    parts[record.get("part", path.stem)] = {
        key: record.get(key) for key in ("status", "wall_s", "exit_status", "reason", "error")
        if record.get(key) is not None}
smi = shutil.which("nvidia-smi")
gpu = (subprocess.run([smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                      capture_output=True, text=True, check=False).stdout.strip() if smi else None)
summary = {"dry_run": bool(dry), "budget_s": budget, "wall_s": wall, "nvidia_smi": gpu,
           "wheels_installed": wheels.split(), "modules_missing": missing, "parts": parts,
           "all_ok": all(p.get("status") in ("ok", "skipped") for p in parts.values())}
tmp = out / "check_gpu.json.tmp"
tmp.write_text(json.dumps(summary, indent=2) + "\n")
os.replace(tmp, out / "check_gpu.json")
print(json.dumps(summary["parts"], indent=1))
EOF
rm -f "$OUT"/*.json.tmp
log "done in $(($(date +%s) - START))s, status $STATUS; results in $OUT"
exit "$STATUS"
