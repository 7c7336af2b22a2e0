"""Throughput of the shared randomness: standard normals per second.

Baseline, measured in the same run: numpy's ``Generator(Philox)``, whose ziggurat normal sampler is
numpy's fastest; at two threads, two generators fill the two halves of the buffer from two Python
threads (numpy releases the GIL inside ``standard_normal``). Ours: the Numba CPU generator at one
and two threads, and the CUDA generator when a real GPU is present.

Goal (issue 2): ours at one thread at least as fast as numpy at one thread; near-linear scaling.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, machine_meta, parse_args, write_json  # noqa: E402

import rcc_kernels  # noqa: E402


def _numpy_rate(buf: np.ndarray, threads: int, repeats: int) -> float:
    gens = [np.random.Generator(np.random.Philox(i)) for i in range(threads)]
    parts = np.array_split(buf, threads)

    def run() -> None:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda gp: gp[0].standard_normal(out=gp[1]), zip(gens, parts, strict=True)))

    return buf.size / best_time(run if threads > 1 else lambda: gens[0].standard_normal(out=buf),
                                repeats)


def _ours_rate(rows: int, dim: int, threads: int, repeats: int) -> float:
    key = rcc_kernels.stream_key(0, (1,))
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        return rows * dim / best_time(lambda: rcc_kernels.normal(key, 0, rows, dim), repeats)
    finally:
        numba.set_num_threads(before)


def _gpu_rate(rows: int, dim: int, repeats: int) -> float | None:
    from rcc_kernels import gpu

    if not gpu.available() or gpu.simulator():
        return None
    import cupy

    key = rcc_kernels.stream_key(0, (1,))

    def run() -> None:
        rcc_kernels.normal(key, 0, rows, dim, backend="gpu")
        cupy.cuda.Device().synchronize()

    return rows * dim / best_time(run, repeats)


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['impl']}\n{r['threads']} thr" for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(labels, [r["normals_per_s"] / 1e6 for r in rows],
           color=["tab:gray" if r["impl"].startswith("numpy") else "tab:blue" for r in rows])
    ax.set_ylabel("million standard normals / s")
    ax.set_title("Shared randomness throughput (higher is better)")
    for i, r in enumerate(rows):
        ax.annotate(f"{r['ratio_vs_numpy_1thread']:.2f}x", (i, r["normals_per_s"] / 1e6),
                    ha="center", va="bottom", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(__doc__.splitlines()[0], argv)
    rows_n, dim = (512, 4096) if args.quick else (4096, 4096)
    repeats = 3 if args.quick else 7
    buf = np.empty((rows_n, dim))
    max_threads = min(2, numba.config.NUMBA_NUM_THREADS)
    rows = []
    for threads in range(1, max_threads + 1):
        rows.append({"impl": "numpy_philox", "threads": threads,
                     "normals_per_s": _numpy_rate(buf, threads, repeats)})
        rows.append({"impl": "rcc_cpu", "threads": threads,
                     "normals_per_s": _ours_rate(rows_n, dim, threads, repeats)})
    gpu_rate = _gpu_rate(8 * rows_n, dim, repeats)
    if gpu_rate is not None:
        rows.append({"impl": "rcc_gpu", "threads": None, "normals_per_s": gpu_rate})
    base = rows[0]["normals_per_s"]
    for r in rows:
        r["n"] = rows_n * dim
        r["ratio_vs_numpy_1thread"] = r["normals_per_s"] / base
        print(f"{r['impl']:>13} threads={r['threads']}: {r['normals_per_s']:.3g} normals/s "
              f"({r['ratio_vs_numpy_1thread']:.2f}x numpy at 1 thread)")
    meta = machine_meta() | {"benchmark": "randomness", "quick": args.quick, "dim": dim,
                             "generator": "Philox4x32-10 + AS241 quantile (float64)"}
    write_json(args.json, meta, rows)
    _plot(rows, args.json.with_suffix(".png"))
    return rows


if __name__ == "__main__":
    main()
