"""Rate, distortion and realism of DiffC's decoders beside the classical codecs, on the held-out photos.

The held-out photos (:func:`diffc.models.data.held_out_photos`) are tiled at the model's working size
(``--tile``, 64 px for the shipped model: 475 tiles, the same 64x64 grid the realism protocol uses),
and every tile is one job of a sweep (:func:`diffc.tools.sweep.sweep`): one progressive DiffC file,
decoded at each stop with DiffC-MMSE, DiffC-F, DDIM at each ``eta`` and DiffC-A, and JPEG 4:2:0,
WebP, AVIF (and JPEG XL where installed) at the quality nearest each prefix's real bpp. Per method
and stop: mean bpp, PSNR, MS-SSIM, LPIPS and the set-level FD-AlexNet and KID-AlexNet with their
standard errors over the pooled tiles (docs/metrics.md). Baseline: the classical codecs in the same
run. The sweep folder (``--out``) makes a long run resumable: rerunning skips finished tiles.

Overhead: the seconds spent in realism (features of the saved PNGs, FD and KID, timed around the
sweep's merge step) over the sweep's wall time, reported as ``realism_over_sweep`` (the performance
goal is at most 0.10). On a resumed run the sweep's time covers only the tiles coded in this run.

``--quick``: the first ``--tiles`` tiles (default 64, the realism minimum), two stops, four decoder
steps, one eta. Full run: ``python benchmarks/diffc_rdp.py --json benchmarks/reference/diffc_rdp.json
--out results/rdp`` (475 tiles, four stops, ten decoder steps, eta 0.25, 0.5 and 0.75).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import machine_meta, write_json  # noqa: E402

REPORTED = ("bpp", "psnr-rgb", "ms-ssim-rgb", "lpips", "fd-alexnet", "fd-alexnet-stderr", "kid-alexnet",
            "kid-alexnet-stderr", "patches", "images")


def tiles(photos: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
    """Every non-overlapping size x size tile of every photo (top-left aligned), named photo_rRcC."""
    out = {}
    for name, photo in photos.items():
        for r in range(photo.shape[0] // size):
            for c in range(photo.shape[1] // size):
                tile = photo[r * size:(r + 1) * size, c * size:(c + 1) * size]
                out[f"{name.replace('/', '_')}_r{r}c{c}"] = tile
    return out


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
    args = parser.parse_args(argv)

    from diffc.imaging.plots import rd_plot
    from diffc.models import default_model_dir
    from diffc.models.data import held_out_photos
    from diffc.tools import sweep as sweep_module
    from diffc.tools.sweep import CodecSpec, SweepConfig, sweep
    from rcc.experiments import executor_from

    quick, full = ((8, 16), 4, (0.5,)), ((4, 8, 12, 16), 10, (0.25, 0.5, 0.75))
    stops, solver_steps, etas = quick if args.quick else full
    images = tiles(held_out_photos(), args.tile)
    n_tiles = args.tiles if args.tiles is not None else (64 if args.quick else len(images))
    # Every k-th tile, so that a reduced run still spans all photos.
    names = list(images)[:: max(1, len(images) // n_tiles)][:n_tiles]
    images = {name: images[name] for name in names}
    out = args.out or args.json.with_name(args.json.stem + "_sweep")
    model = args.model or default_model_dir()
    config = SweepConfig(stops=stops, methods=("mmse", "ode", "sde"), seed=2024, solver_steps=solver_steps,
                         etas=etas)

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
    overhead = {"protocol": "overhead", "sweep_wall_s": wall, "realism_s": realism_s[0],
                "realism_over_sweep": realism_s[0] / max(wall - realism_s[0], 1e-9)}
    meta = machine_meta() | {"benchmark": "diffc_rdp", "quick": args.quick, "tile": args.tile,
                             "tiles": len(images), "stops": list(stops), "solver_steps": solver_steps,
                             "etas": list(etas), "model": str(model), "sweep": str(out),
                             "complete": report.complete,
                             "tiles_coded_this_run": len(report.results) - report.skipped}
    write_json(args.json, meta, rows + [overhead])
    rd_plot(list(merged.values()), args.json.with_suffix(".png"),
            metrics=("psnr-rgb", "lpips", "kid-alexnet", "fd-alexnet"),
            title=f"{len(images)} tiles of {args.tile} px; realism over "
                  f"{max((r.get('patches') or 0 for r in rows), default=0)} 64x64 patches per set")
    print(json.dumps(overhead))


if __name__ == "__main__":
    main()
