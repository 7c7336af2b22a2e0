"""Rate, distortion and realism of DiffC's decoders beside the classical codecs, on the held-out photos.

The held-out photos (:func:`diffc.models.data.held_out_photos`) are tiled at the model's working size
(``--tile``, 64 px for the shipped model: 475 tiles, the same 64x64 grid the realism protocol uses),
and every tile is one job of a sweep (:func:`diffc.tools.sweep.sweep`): one progressive DiffC file,
decoded at each stop with DiffC-MMSE, DiffC-F, DDIM at each ``eta`` and DiffC-A, and JPEG 4:2:0,
WebP, AVIF (and JPEG XL where installed) at the quality nearest each prefix's real bpp. Per method
and stop: mean bpp, PSNR, MS-SSIM, LPIPS and the set-level FD-AlexNet and KID-AlexNet with their
standard errors over the pooled tiles (docs/metrics.md). Baseline: the classical codecs in the same
run. The sweep folder (``--out``) makes a long run resumable: rerunning skips finished tiles.

``--tiles N`` takes the first N tiles of a fixed order that spreads every prefix over all photos
(:func:`tiles`), so a run stopped early is finished by rerunning it with N = the tiles it coded.

Overhead, per tile so that a resumed run still measures it: the seconds spent in realism (features
of the saved PNGs, FD and KID, timed around the sweep's merge step) per merged tile, over the rest of
the sweep's wall time per tile coded in this run, reported as ``realism_over_sweep`` (the performance
goal is at most 0.10; None when the run coded no tile).

``--quick``: the first ``--tiles`` tiles (default 64, the realism minimum), two stops, four decoder
steps, one eta. Full run: ``python benchmarks/diffc_rdp.py --json benchmarks/reference/diffc_rdp.json
--out results/rdp`` (475 tiles, four stops, ten decoder steps, eta 0.25, 0.5 and 0.75); ``--stops``,
``--methods``, ``--solver-steps`` and ``--etas`` size a shorter one (the reference's command is in
its JSON's ``meta.argv``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import machine_meta, write_json  # noqa: E402
from diffc.codec import DEFAULT_SOLVER  # noqa: E402
from diffc.diffusion.samplers import SOLVERS  # noqa: E402
from diffc.tools.sweep import METHOD_NAMES  # noqa: E402

REPORTED = ("bpp", "psnr-rgb", "ms-ssim-rgb", "lpips", "fd-alexnet", "fd-alexnet-stderr", "kid-alexnet",
            "kid-alexnet-stderr", "patches", "images")


def tiles(photos: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
    """Every non-overlapping size x size tile of every photo (top-left aligned), named photo_rRcC, in
    an order whose every prefix spreads over all photos and over each photo's area: round robin over
    the photos, each photo's tiles visited with a stride coprime to their number (near 0.618 of it)."""
    per_photo = []
    for name, photo in photos.items():
        stem = name.replace("/", "_")
        grid = [(f"{stem}_r{r}c{c}", photo[r * size:(r + 1) * size, c * size:(c + 1) * size])
                for r in range(photo.shape[0] // size) for c in range(photo.shape[1] // size)]
        n = len(grid)
        stride = next((s for s in range(int(0.618 * n), n) if math.gcd(s, n) == 1), 1)
        per_photo.append([grid[k * stride % n] for k in range(n)])
    rounds = max((len(t) for t in per_photo), default=0)
    return {name: tile for k in range(rounds) for t in per_photo if k < len(t) for name, tile in [t[k]]}


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(",")) if text else ()


def _names(text: str) -> tuple[str, ...]:
    names = tuple(text.split(","))
    if set(names) - set(METHOD_NAMES):
        raise argparse.ArgumentTypeError(f"decoders must be among {','.join(METHOD_NAMES)}, got {text}")
    return names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few tiles, two stops, for smoke runs")
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--out", type=Path, default=None, help="sweep folder (default: beside the JSON)")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped one)")
    parser.add_argument("--tile", type=int, default=64,
                        help="tile side, the model's working size (default 64)")
    parser.add_argument("--tiles", type=int, default=None,
                        help="use N tiles spread over the photos (default: all; quick 64)")
    parser.add_argument("--workers", type=int, default=None, help="local worker processes")
    parser.add_argument("--stops", type=_ints, default=None,
                        help="comma-separated encoding steps to decode at (default 4,8,12,16; quick 8,16)")
    parser.add_argument("--methods", type=_names, default=None,
                        help=f"comma-separated decoders among {','.join(METHOD_NAMES)} (default: all)")
    parser.add_argument("--solver-steps", type=int, default=None,
                        help="DiffC-F/-A/eta decoder steps (default 10; quick 4)")
    parser.add_argument("--solver", choices=SOLVERS, default=DEFAULT_SOLVER,
                        help=f"DiffC-F's ODE solver (default {DEFAULT_SOLVER}; the reference ran ddim)")
    parser.add_argument("--etas", type=_floats, default=None,
                        help="comma-separated DDIM etas between DiffC-F and DiffC-A "
                             "(default 0.25,0.5,0.75; quick 0.5)")
    args = parser.parse_args(argv)

    from diffc.imaging.plots import rd_plot
    from diffc.models import default_model_dir
    from diffc.models.data import held_out_photos
    from diffc.tools import sweep as sweep_module
    from diffc.tools.sweep import CodecSpec, SweepConfig, sweep
    from rcc.experiments import executor_from

    quick, full = ((8, 16), 4, (0.5,)), ((4, 8, 12, 16), 10, (0.25, 0.5, 0.75))
    stops, solver_steps, etas = quick if args.quick else full
    stops = args.stops or stops
    solver_steps = args.solver_steps or solver_steps
    etas = args.etas if args.etas is not None else etas
    methods = args.methods or ("mmse", "ode", "sde")
    images = tiles(held_out_photos(), args.tile)
    n_tiles = args.tiles if args.tiles is not None else (64 if args.quick else len(images))
    # The first N of the spread order: a reduced run spans all photos, and a run stopped early is
    # finished by rerunning with N = the tiles it coded (the same jobs, all found in the sweep folder).
    images = dict(list(images.items())[:n_tiles])
    out = args.out or args.json.with_name(args.json.stem + "_sweep")
    model = args.model or default_model_dir()
    config = SweepConfig(stops=stops, methods=methods, seed=2024, solver_steps=solver_steps,
                         solver=args.solver, etas=etas)

    realism_s = [0.0]
    timed = sweep_module._realism

    def realism(*a: object, **k: object) -> object:
        started = time.perf_counter()
        try:
            return timed(*a, **k)
        finally:
            realism_s[0] += time.perf_counter() - started

    sweep_module._realism = realism
    started = time.perf_counter()
    try:
        merged, report = sweep(CodecSpec(model=str(model)), images, config, out,
                               executor=executor_from(args.workers), progress=True)
    finally:
        sweep_module._realism = timed
    wall = time.perf_counter() - started
    rows = []
    for name, method in merged.items():
        r = method["results"]
        rows += [{"method": name, "stop": k, **{key: r[key][i] for key in REPORTED if key in r}}
                 for i, k in enumerate(r["stop"])]
    coded = len(report.results) - report.skipped
    # Per tile, so that a resumed run still measures: realism over every merged tile, coding over
    # the tiles coded in this run (None when it coded none).
    realism_per_tile = realism_s[0] / max(len(report.results), 1)
    coding_per_tile = (wall - realism_s[0]) / coded if coded else None
    overhead = {"protocol": "overhead", "sweep_wall_s": wall, "realism_s": realism_s[0],
                "tiles_merged": len(report.results), "tiles_coded_this_run": coded,
                "realism_s_per_tile": realism_per_tile, "coding_s_per_tile": coding_per_tile,
                "realism_over_sweep": None if coding_per_tile is None else realism_per_tile / coding_per_tile}
    meta = machine_meta() | {"benchmark": "diffc_rdp", "argv": list(sys.argv[1:] if argv is None else argv),
                             "quick": args.quick, "tile": args.tile, "tiles": len(images),
                             "stops": list(stops), "solver_steps": solver_steps, "solver": config.solver,
                             "etas": list(etas),
                             "methods": list(methods),
                             "model": str(model),
                             "fingerprint": json.loads((out / "sweep.json").read_text())["model_fingerprint"],
                             "sweep": str(out), "complete": report.complete,
                             "tiles_coded_this_run": coded}
    write_json(args.json, meta, rows + [overhead])
    rd_plot(list(merged.values()), args.json.with_suffix(".png"),
            metrics=("psnr-rgb", "lpips", "kid-alexnet", "fd-alexnet"),
            title=f"{len(images)} tiles of {args.tile} px; realism over "
                  f"{max((r.get('patches') or 0 for r in rows), default=0)} 64x64 patches per set")
    print(json.dumps(overhead))


if __name__ == "__main__":
    main()
