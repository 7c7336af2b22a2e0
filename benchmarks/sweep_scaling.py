"""Wall time of one rcc rate-overhead grid in-process, on 2 local processes and on a local 2-CPU Ray cluster.

The same jobs (:func:`rcc.experiments.overhead.jobs`) run three times in one run, each into a fresh
output folder. Per executor: ``wall_s``, the whole sweep as a user waits for it (workers started,
the grid run, results written; for Ray with the cluster already up); ``fixed_s``, the same executor
on a trivial 2-job sweep (what starting its workers costs: spawning, imports, JIT compilation), and
for Ray ``ray_init_s``, starting the local cluster. ``speedup`` is the in-process wall time over the
executor's; ``speedup_with_cluster_start`` adds ``ray_init_s`` to Ray's; ``speedup_after_startup``
takes ``fixed_s`` out. ``rows_identical``: the rows
equal the in-process rows. The in-process run follows its own trivial sweep, so its JIT compilation
is in its ``fixed_s``, not in its ``wall_s``. ``--quick``: a 4-KL grid of 1,000 samples a row; the
full run is the rate-overhead benchmark's own grid. In-process runs Numba's parallel kernels on
every core, while each worker gets ``cpu_count // workers`` threads, so with as many workers as
cores only the serial parts gain. The load average is recorded: on a shared machine the other
processes take CPUs from the workers.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_meta, parse_args, write_json  # noqa: E402

from rcc.experiments import Executor, InProcess, Job, Processes, Ray, overhead  # noqa: E402

WORKERS = 2
QUICK = {"kl_grid": (0.5, 2.0, 4.0, 8.0), "max_samples": 1000, "candidate_budget": 2**22}
FULL = {"kl_grid": overhead.FULL_GRID, "max_samples": 1000, "candidate_budget": 2**26}
TRIVIAL = {"kl_grid": (0.5,), "families": ("gaussian",), "coders": ("pfr", "mrc"), "max_samples": 20,
           "candidate_budget": 1024}


def timed(jobs: list[Job], executor: Executor, out: Path) -> tuple[float, list[dict]]:
    """Seconds to run ``jobs`` on ``executor`` into the fresh folder ``out``, and the rows."""
    started = time.perf_counter()
    report = overhead.run(jobs, out, executor=executor, progress=False)
    seconds = time.perf_counter() - started
    if not report.complete:
        raise RuntimeError(f"{len(report.failed)} job(s) failed: {report.failed}")
    return seconds, list(report.results.values())


def measure(name: str, executor: Executor, jobs: list[Job], tmp: Path) -> dict:
    fixed, _ = timed(overhead.jobs(**TRIVIAL), executor, tmp / f"{name}-trivial")
    wall, rows = timed(jobs, executor, tmp / name)
    print(f"{name:>10}: {wall:7.2f} s for {len(jobs)} jobs (start-up {fixed:.2f} s)")
    return {"executor": name, "workers": getattr(executor, "workers", None) or 1, "jobs": len(jobs),
            "wall_s": wall, "fixed_s": fixed, "result_rows": rows}


def main(argv: list[str] | None = None) -> list[dict]:
    import ray

    args = parse_args(__doc__.splitlines()[0], argv)
    grid = QUICK if args.quick else FULL
    jobs = overhead.jobs(**grid)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        rows = [measure("in-process", InProcess(), jobs, tmp),
                measure("processes", Processes(WORKERS), jobs, tmp)]
        started = time.perf_counter()
        ray.init(num_cpus=WORKERS, object_store_memory=100 * 2**20, include_dashboard=False,
                 log_to_driver=False)
        ray_init = time.perf_counter() - started
        try:
            rows.append(measure("ray", Ray(workers=WORKERS), jobs, tmp) | {"ray_init_s": ray_init})
        finally:
            ray.shutdown()
    base = rows[0]
    for row in rows:
        startup = row["fixed_s"] if row is not base else 0.0  # in-process: compiled by its trivial sweep
        row |= {"speedup": base["wall_s"] / row["wall_s"],
                "speedup_with_cluster_start": base["wall_s"] / (row["wall_s"] + row.get("ray_init_s", 0.0)),
                "speedup_after_startup": base["wall_s"] / max(row["wall_s"] - startup, 1e-9),
                "rows_identical": row["result_rows"] == base["result_rows"]}
    for row in rows:
        del row["result_rows"]
        print(f"{row['executor']:>10}: speedup {row['speedup']:.2f}x ({row['speedup_after_startup']:.2f}x "
              f"after start-up), rows identical: {row['rows_identical']}")
    print(f"Ray start-up: {ray_init:.2f} s to start the cluster, {rows[2]['fixed_s']:.2f} s for a "
          f"trivial sweep")
    meta = machine_meta() | {
        "benchmark": "sweep_scaling", "quick": args.quick,
        "grid": {k: list(v) if isinstance(v, tuple) else v for k, v in grid.items()},
        "ray": ray.__version__, "workers": WORKERS, "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "notes": "wall_s: the whole sweep; fixed_s: the same executor on a trivial 2-job sweep (worker "
                 "start-up); ray_init_s: starting the local cluster. Never asserted: benchmarks measure.",
    }
    write_json(args.json, meta, rows)
    plot(rows, args.json.with_suffix(".png"))
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.4))
    names = [f"{r['executor']} ({r['workers']})" for r in rows]
    init = [r.get("ray_init_s", 0.0) for r in rows]
    ax.barh(names, init, color="C3", label="cluster start (ray.init)")
    ax.barh(names, [r["fixed_s"] if i else 0.0 for i, r in enumerate(rows)], left=init, color="C1",
            label="worker start-up (trivial sweep)")
    ax.barh(names, [r["wall_s"] - (r["fixed_s"] if i else 0.0) for i, r in enumerate(rows)],
            left=[a + (r["fixed_s"] if i else 0.0) for i, (a, r) in enumerate(zip(init, rows, strict=True))],
            color="C0", label="the grid's jobs")
    for i, r in enumerate(rows):
        ax.text(init[i] + r["wall_s"], i, f" {r['wall_s']:.1f} s, {r['speedup']:.2f}x", va="center",
                fontsize=8)
    ax.set(xlabel="seconds", title=f"rcc overhead grid, {rows[0]['jobs']} jobs")
    ax.set_xlim(0, 1.35 * max(a + r["wall_s"] for a, r in zip(init, rows, strict=True)))
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
