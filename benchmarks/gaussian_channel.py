"""High-dimensional Gaussian channel simulation: throughput, and the rate/bias/compute trade-off.

``kind: "throughput"``: candidate-dimensions per second of the candidate search. Baseline measured
in the same run: ``numpy`` generates the candidate matrix with numpy's ``Generator(Philox)`` and
multiplies it by the mean difference (one BLAS thread). Ours: the fused Numba kernel at 1 and 2
threads (``cpu``), and the CUDA kernel when a real GPU is present (``gpu``).

``kind: "rate"``: one chunk at its KL budget (``kl_bits = chunk_bits``, equal variances, the DiffC
case), searched over ``N = 2^(chunk_bits + headroom_bits)`` candidates by PFR or ORC, repeated over
independent seeds; each row names its :class:`rcc.gaussian.ChannelSpec`. ``mean_bits`` are real bits
per chunk: all trials' indices written with the channel's truncated Zipf code for that chunk into
one range-coded stream, bytes counted. ``ks_projection`` is the KS
statistic (and ``ks_pvalue`` its p-value) of the decoded samples projected onto the mean difference
and standardised, which is N(0, 1) under the target; truncation shows up there first.
``shortfall_bits`` is KL minus the mean realized log-ratio (0 for an exact sampler).
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # the numpy baseline runs at one thread
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numba  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, machine_meta, parse_args, write_json  # noqa: E402

import rcc_kernels  # noqa: E402
from rcc.bounds import LN2  # noqa: E402
from rcc.gaussian import ChannelSpec  # noqa: E402
from rcc.gaussian.message import index_code  # noqa: E402
from rcc_kernels.search import RULES, SearchProblem, regenerate, search, search_cpu  # noqa: E402

RATE_DIMS = 8
INDEX_CODE = "zipf_truncated"


def _problem(delta: np.ndarray, n_chunks: int, n: int, rule: str, seed: int) -> SearchProblem:
    d = delta.size
    return SearchProblem(
        lin=np.tile(delta, n_chunks),
        quad=None,
        offsets=np.arange(n_chunks + 1, dtype=np.int64) * d,
        cand_keys=rcc_kernels.stream_keys(seed, (1,), range(n_chunks)),
        arr_keys=rcc_kernels.stream_keys(seed, (2,), range(n_chunks)),
        n_candidates=n,
        rule=RULES[rule],
    )


def throughput_rows(quick: bool) -> list[dict]:
    dims, n = (1024, 1 << 13) if quick else (4096, 1 << 15)
    delta = np.random.default_rng(0).normal(size=dims) * 0.05
    rows = []
    gen = np.random.Generator(np.random.Philox(0))
    block = 1024

    def numpy_search() -> None:
        best = -np.inf
        for _ in range(0, n, block):
            best = max(best, float((gen.standard_normal((block, dims)) @ delta).max()))

    t = best_time(numpy_search, 2)
    rows.append({"kind": "throughput", "impl": "numpy", "threads": 1, "dims": dims,
                 "candidates": n, "cand_dims_per_s": n * dims / t})
    p = _problem(delta, 1, n, "pfr", 0)
    before = numba.get_num_threads()
    for threads in range(1, min(2, numba.config.NUMBA_NUM_THREADS) + 1):
        numba.set_num_threads(threads)
        t = best_time(lambda p=p: search_cpu(p), 2)
        rows.append({"kind": "throughput", "impl": "cpu", "threads": threads, "dims": dims,
                     "candidates": n, "cand_dims_per_s": n * dims / t})
    numba.set_num_threads(before)
    from rcc_kernels import gpu

    if gpu.available() and not gpu.simulator():
        big = _problem(delta, 64, n, "pfr", 0)
        t = best_time(lambda: search(big, "gpu"), 3)
        rows.append({"kind": "throughput", "impl": "gpu", "threads": None, "dims": dims,
                     "candidates": 64 * n, "cand_dims_per_s": 64 * n * dims / t})
    base = rows[0]["cand_dims_per_s"]
    for r in rows:
        r["ratio_vs_numpy"] = r["cand_dims_per_s"] / base
    return rows


def rate_row(spec: ChannelSpec, trials: int, dims: int) -> dict:
    # One chunk at its budget: |delta|^2 / 2 nats = chunk_bits bits, spread evenly over dims.
    chunk_bits = spec.chunk_bits
    delta = np.full(dims, math.sqrt(2 * chunk_bits * LN2 / dims))
    n = 1 << (chunk_bits + spec.headroom_bits)
    p = _problem(delta, trials, n, spec.rule, seed=1000 * chunk_bits + spec.headroom_bits)
    result = search_cpu(p)
    unit = delta / np.linalg.norm(delta)
    proj = np.array([(regenerate(p.cand_keys[c], int(k), dims) - delta) @ unit
                     for c, k in enumerate(result.index)])
    ks = stats.kstest(proj, "norm")
    code = index_code(spec, chunk_bits, float(chunk_bits))
    real_bits = 8 * len(code.encode(result.index.tolist())) / trials
    log_ratio_bits = (result.log_weight - 0.5 * delta @ delta) / LN2
    return {"kind": "rate", **asdict(spec), "kl_bits": float(chunk_bits), "candidates": n,
            "n_samples": trials, "mean_bits": real_bits, "overhead": real_bits / chunk_bits - 1,
            "ks_projection": float(ks.statistic), "ks_pvalue": float(ks.pvalue),
            "shortfall_bits": float(chunk_bits - log_ratio_bits.mean())}


def rate_rows(quick: bool) -> list[dict]:
    grid_cb, grid_hb = ([4, 8], [0, 1, 2, 4]) if quick else ([4, 8, 12, 16], [0, 1, 2, 4, 8])
    rows = []
    for cb in grid_cb:
        for hb in grid_hb:
            cost = (1 << (cb + hb)) * RATE_DIMS
            trials = 64 if quick else int(np.clip(2e9 / cost, 100, 1000))
            for rule in ("pfr", "orc"):
                row = rate_row(ChannelSpec(rule, INDEX_CODE, cb, hb), trials, dims=RATE_DIMS)
                print(f"rate {rule} chunk={cb:2d} headroom={hb}: {row['mean_bits']:.2f} bits "
                      f"(overhead {row['overhead']:+.2f}), KS={row['ks_projection']:.3f} "
                      f"p={row['ks_pvalue']:.2g}, shortfall {row['shortfall_bits']:+.2f} bits")
                rows.append(row)
    return rows


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    rate = [r for r in rows if r["kind"] == "rate" and r["rule"] == "pfr"]
    for cb in sorted({r["chunk_bits"] for r in rate}):
        sel = sorted((r for r in rate if r["chunk_bits"] == cb), key=lambda r: r["headroom_bits"])
        hb = [r["headroom_bits"] for r in sel]
        axes[0].plot(hb, [r["overhead"] for r in sel], "o-", label=f"{cb}-bit chunks")
        axes[1].plot(hb, [r["ks_projection"] for r in sel], "o-", label=f"{cb}-bit chunks")
    axes[0].set(xlabel="headroom bits", ylabel="real bits / KL - 1", title="Rate overhead (PFR)")
    axes[1].set(xlabel="headroom bits", ylabel="KS statistic of projection",
                title="Bias: distance from the target", yscale="log")
    for ax in axes[:2]:
        ax.legend()
        ax.grid(alpha=0.3)
    tp = [r for r in rows if r["kind"] == "throughput"]
    axes[2].bar([f"{r['impl']}\n{r['threads'] or ''}" for r in tp],
                [r["cand_dims_per_s"] for r in tp])
    axes[2].set(ylabel="candidate-dims / s", title="Search throughput", yscale="log")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(__doc__.splitlines()[0], argv)
    rows = throughput_rows(args.quick)
    for r in rows:
        print(f"throughput {r['impl']:>5} threads={r['threads']}: {r['cand_dims_per_s']:.3g} "
              f"cand-dims/s ({r['ratio_vs_numpy']:.2f}x numpy)")
    rows += rate_rows(args.quick)
    meta = machine_meta() | {"benchmark": "gaussian_channel", "quick": args.quick,
                             "rate_dims": RATE_DIMS, "index_code": INDEX_CODE}
    write_json(args.json, meta, rows)
    _plot(rows, args.json.with_suffix(".png"))
    return rows


if __name__ == "__main__":
    main()
