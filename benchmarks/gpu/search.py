"""Part 2 of the GPU check: the fused candidate search's throughput on the GPU against two baselines.

Throughput is in candidate-dimensions per second; the baselines are measured in the same run.

The problem is one DiffC step's search (:mod:`rcc_kernels.search_problem`, PFR, equal variances):
``D`` dimensions at ``KL_PER_DIM`` bits each, cut into chunks of ``chunk_bits`` bits (``chunk_bits /
KL_PER_DIM`` dimensions each), each chunk searched over ``2^(chunk_bits + HEADROOM_BITS)``
candidates, as the default channel preset does. At 786,432 dimensions (a 512x512 RGB photo) and
20-bit chunks the whole step is 6.6e12 candidate-dimensions, so each implementation is timed on
the first ``k`` chunks, ``k`` doubling from one until a call takes ``TARGET_S`` (or all chunks are
in); the row gives ``k`` beside the step's chunk count, and ``full_step_s`` extrapolates the rate
to the whole step. One chunk at 2^11 candidates or more already fills the H200 (a thread per
candidate and chunk), so the rate of ``k`` chunks is that of the step.

Implementations: ``gpu``, the numba-cuda kernel (:func:`rcc_kernels.search.search_gpu`);
``cupy_float64`` and ``cupy_float32``, the baseline a GPU user would write first: CuPy's generator
draws the candidates' normals (in float64, as our kernel computes, and in float32) and one batched
matrix product scores them, keeping the maximum (no arrival times, no frozen mapping of the shared
randomness: it does less than our kernel); ``cpu``, the Numba CPU kernel on every core of the
device machine. Ratios per size: ``gpu_over_cupy_float64``, ``gpu_over_cupy_float32`` and
``gpu_over_cpu``. Under the simulator (dry run) the baseline runs on numpy and the figures mean
nothing.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable

import numba
import numpy as np

import rcc_kernels
from benchmarks.gpu._part import Part, real_gpu, run_part, synced_time
from rcc.bounds import LN2
from rcc.gaussian import PRESETS
from rcc_kernels.search import PFR, SearchProblem, search_cpu, search_gpu

KL_PER_DIM = 0.02
"""Bits per dimension of one step: a 512x512 photo at about 1 bpp sent in 16 steps."""
HEADROOM_BITS = PRESETS["default"].headroom_bits
DIMS = (4096, 786_432)
CHUNK_BITS = (8, 12, 16, 20)
TARGET_S = 0.5
GOAL = 1e11
"""Issue 25's goal for the GPU search, candidate-dimensions per second."""
WARM_UP_CANDIDATES = 256
BASELINE_BYTES = 1 << 30
"""Largest block of candidates the CuPy baseline draws at once."""
DRY = {"dims": (64, 192), "chunk_bits": (2, 4), "kl_per_dim": 0.25, "headroom_bits": 1, "target_s": 0.05}


def problem(chunk_dims: int, n_chunks: int, n_candidates: int, kl_per_dim: float,
            seed: int = 0) -> SearchProblem:
    """``n_chunks`` chunks of ``chunk_dims`` dimensions at ``kl_per_dim`` bits each (module docstring)."""
    scale = math.sqrt(2 * kl_per_dim * LN2)  # |delta|^2 / 2 nats = kl_per_dim bits per dimension
    delta = np.random.default_rng(seed).standard_normal(n_chunks * chunk_dims) * scale
    return SearchProblem(lin=delta, quad=None, offsets=np.arange(n_chunks + 1, dtype=np.int64) * chunk_dims,
                         cand_keys=rcc_kernels.stream_keys(seed, (1,), range(n_chunks)),
                         arr_keys=rcc_kernels.stream_keys(seed, (2,), range(n_chunks)),
                         n_candidates=n_candidates, rule=PFR)


def matmul_baseline(p: SearchProblem, dtype: str) -> Callable[[], None]:
    """Generate-and-matmul on the array module of the GPU (numpy under the simulator)."""
    from rcc_kernels import gpu

    xp = gpu.array_module()
    n_chunks = p.offsets.size - 1
    chunk_dims = int(p.offsets[1])
    lin = xp.asarray(p.lin.reshape(n_chunks, chunk_dims, 1), dtype=dtype)
    block = max(1, min(p.n_candidates, BASELINE_BYTES // (n_chunks * chunk_dims * np.dtype(dtype).itemsize)))
    rng = xp.random.default_rng(0)

    def run() -> None:
        best = None
        for start in range(0, p.n_candidates, block):
            rows = min(block, p.n_candidates - start)
            scores = xp.matmul(rng.standard_normal((n_chunks, rows, chunk_dims), dtype=dtype), lin)
            top = scores.max(axis=1)
            best = top if best is None else xp.maximum(best, top)

    return run


Build = Callable[[int, int], Callable[[], None]]
"""``build(k, n)``: a call that searches the first ``k`` chunks over ``n`` candidates each."""


def measure(impl: str, build: Build, chunk_dims: int, n: int, total: int, target_s: float,
            part: Part) -> dict:
    """Time ``build(k, n)()`` for ``k`` = 1, 2, 4, ... chunks until a call takes ``target_s``, all
    chunks are in, or the next call would pass the part's deadline; the last timing is the row's."""
    build(1, min(n, WARM_UP_CANDIDATES))()  # compile and initialise before anything is timed
    k = 1
    while True:
        seconds = synced_time(build(k, n), repeats=2 if k < total else 1)
        row = {"impl": impl, "chunks_timed": k, "seconds": seconds,
               "cand_dims_per_s": k * chunk_dims * n / seconds}
        if seconds >= target_s or k == total:
            return row
        nxt = min(total, max(2 * k, math.ceil(k * target_s / max(seconds, 1e-9))))
        if 3.0 * seconds * nxt / k > part.remaining() - 10.0:
            return {**row, "stopped_early": "deadline"}
        k = nxt


def builder(backend: str, chunk_dims: int, kl_per_dim: float) -> Build:
    def build(k: int, n: int) -> Callable[[], None]:
        p = problem(chunk_dims, k, n, kl_per_dim)
        if backend == "gpu":
            return lambda: search_gpu(p)
        if backend == "cpu":
            return lambda: search_cpu(p)
        return matmul_baseline(p, backend)
    return build


IMPLS = (("gpu", "gpu"), ("cupy_float64", "float64"), ("cupy_float32", "float32"), ("cpu", "cpu"))


def measure_size(part: Part, cfg: dict, dims: int, bits: int) -> dict:
    """Every implementation at one size (a row each); the GPU's rate over the others'."""
    chunk_dims = min(dims, round(bits / cfg["kl_per_dim"]))
    total, n = dims // chunk_dims, 1 << (bits + cfg["headroom_bits"])
    size = {"dims": dims, "chunk_bits": bits, "chunk_dims": chunk_dims, "chunks_in_step": total,
            "candidates_per_chunk": n, "step_cand_dims": total * chunk_dims * n}
    rates = {}
    for impl, backend in IMPLS:
        if part.remaining() < 15.0:
            part.add({**size, "impl": impl, "skipped": "the part's budget ran out"})
            continue
        started = time.monotonic()
        build = builder(backend, chunk_dims, cfg["kl_per_dim"])
        row = measure(impl, build, chunk_dims, n, total, cfg["target_s"], part)
        row.update(size, full_step_s=size["step_cand_dims"] / row["cand_dims_per_s"],
                   measure_wall_s=time.monotonic() - started)
        rates[impl] = row["cand_dims_per_s"]
        part.add(row)
    gpu_rate = rates.pop("gpu", None)
    if gpu_rate is None:
        return size
    return {**size, "gpu_cand_dims_per_s": gpu_rate, "meets_goal": gpu_rate >= GOAL,
            **{f"gpu_over_{name}": gpu_rate / rate for name, rate in rates.items()}}


def body(part: Part) -> dict:
    cfg = ({**DRY} if part.dry_run else
           {"dims": DIMS, "chunk_bits": CHUNK_BITS, "kl_per_dim": KL_PER_DIM, "headroom_bits": HEADROOM_BITS,
            "target_s": TARGET_S})
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    from rcc_kernels import gpu

    cfg.update(cpu_threads=numba.get_num_threads(), cpu_count=os.cpu_count(), rule="pfr", real_gpu=real_gpu(),
               baseline_module=gpu.array_module().__name__)
    part.record.update(config=cfg, goal_cand_dims_per_s=GOAL, ratios=[])
    for dims in cfg["dims"]:
        for bits in cfg["chunk_bits"]:
            part.record["ratios"].append(measure_size(part, cfg, dims, bits))
            part.save()  # a part killed later keeps the ratios of the sizes done
    return {}


if __name__ == "__main__":
    raise SystemExit(run_part("search", __doc__.splitlines()[0], body))
