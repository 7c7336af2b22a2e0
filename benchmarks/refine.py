"""Compress, then refine: each classical codec refined by the model, against its plain self and DiffC.

The held-out photos are cut into 64x64 tiles (:func:`benchmarks.diffc_rdp.tiles`, the grid of the
realism protocol), ``--tiles`` of them spread over all photos, and each tile is one sweep job
(:func:`diffc.tools.sweep.image_job` with ``refine``): DiffC encodes it once; at each stop point the
prefix is decoded with DiffC-F and DiffC-A, every available classical codec codes the tile at the
quality whose bpp is nearest the prefix's, and that very file is wrapped as a refine file
(:mod:`diffc.refine`, side information included) and decoded with the ancestral (``sde``) and ODE
(``ode``) samplers from the matched start. For the JPEG codecs the same files are also refined by
the ancestral sampler with the consistency projection (``+proj``), and with ``--scales`` every
file is refined from those start scales (``@0.5``: the codec's error variance taken half as large;
the decode-time trade-off between fidelity and regeneration).

A row per tile, stop and method: bpp (every byte of the file), PSNR, MS-SSIM, LPIPS, the decode
time, and for refined methods the differences to the plain codec's file (``dpsnr`` in dB,
``lpips_ratio`` refined over plain, ``decode_over_plain``). A summary row per method and stop: the
means over the tiles; for refined methods the ratios of the means over the same tiles (a mean of
per-tile ratios would be ruled by the tiles whose plain LPIPS is near zero) and ``lpips_lower``, the
share of tiles whose LPIPS the refinement lowered; and the set-level realism of the pooled tiles
(FD-AlexNet, KID-AlexNet, their standard errors and the patch count: :mod:`diffc.imaging.realism`,
computed by :func:`diffc.tools.sweep.merge` from the saved PNGs; KID needs at least 64 patches, so
the full run uses at least 64 tiles), with ``dkid``/``dfd``: refined minus plain, their standard
error taken as if the two estimates were independent (they share the reference patches, so it
overstates the error). Baseline: the plain codecs and DiffC in the same run, at the same stops (the
refine file is 16 bytes larger than its plain file, +0.031 bpp at 64x64).

The sweep folder (``--out``, default beside the JSON) holds every decoded PNG, one CompressAI JSON
per method, ``rd.png`` and the image grids, and makes a long run resumable: a rerun skips the tiles
already done. Full run (64 tiles, stop 6, 8 sampler steps): ``python benchmarks/refine.py --json
benchmarks/reference/refine.json --workers 2``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import machine_meta, write_json  # noqa: E402
from benchmarks.diffc_rdp import tiles  # noqa: E402
from diffc.codec import DEFAULT_SOLVER  # noqa: E402
from diffc.diffusion.samplers import SOLVERS  # noqa: E402

REFINE = ("sde", "ode")
JPEG = ("jpeg-420", "jpeg-444")
PROJECTED = ("sde",)
"""Refine decoders also measured with the JPEG consistency projection."""
REALISM = ("fd-alexnet", "fd-alexnet-stderr", "kid-alexnet", "kid-alexnet-stderr", "patches")
FORMAT = 2


def _variants(codec: str, scales: tuple[float, ...]) -> dict[str, dict]:
    """Decode settings measured on the sweep's own files beyond the sweep's decoders: the JPEG
    projection, and the start scales."""
    out = {f"+refine-{m}+proj": {"method": m, "project": True} for m in PROJECTED if codec in JPEG}
    return out | {f"+refine-sde@{s:g}": {"method": "sde", "scale": s} for s in scales}


def tile_job(codec: object, config: object, scales: tuple[float, ...],
             args: tuple[str, np.ndarray]) -> object:
    """The sweep's job for one tile, plus every plain file refined with the :func:`_variants`
    settings (the same files: the quality match is deterministic, and each file's quality is
    checked against the job's); every decode is saved as a PNG for the realism metrics."""
    from diffc.imaging.baselines import available_codecs, match_bpp
    from diffc.imaging.io import encode_png
    from diffc.imaging.metrics import result_metrics
    from diffc.refine.codec import RefineCodec
    from diffc.tools.sweep import image_job

    name, image = args
    output = image_job(codec, config, args)
    methods = output.result["methods"]
    refiner = RefineCodec(codec.model, progress=False)
    for b in (b for b in available_codecs() if b in methods):
        for row in list(methods[b]):
            res = match_bpp(available_codecs()[b], image, row["target_bpp"])
            if res.quality != row["quality"]:
                raise RuntimeError(f"{name}: the {b} file differs from the sweep job's")
            data = refiner.wrap(image, b, res.data, seed=config.seed)
            for suffix, options in _variants(b, scales).items():
                started = time.perf_counter()
                out = refiner.decompress(data, solver_steps=config.solver_steps, solver=config.solver,
                                         **options)
                seconds = time.perf_counter() - started
                png = f"files/{name}/{b}{suffix}_k{row['stop']:03d}.png"
                output.files[png] = encode_png(out.image)
                methods.setdefault(b + suffix, []).append(
                    {"stop": row["stop"], "target_bpp": row["target_bpp"], "bpp": out.bpp, "t": out.t,
                     "quality": res.quality, **result_metrics(image, out.image), "decoding_time": seconds,
                     "png": png})
    return output


def _worker(model: str, config: object, scales: tuple[float, ...]) -> object:
    """Worker factory (picklable, for ``--workers``): load the model once, then run tile jobs."""
    from diffc.tools.sweep import CodecSpec

    return functools.partial(tile_job, CodecSpec(model=model).build(), config, scales)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a / b


def _mean(values: list[float | None]) -> float | None:
    """Mean of the values present (LPIPS and MS-SSIM are None for tiles too small to have them)."""
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _plain(method: str) -> str | None:
    """The plain codec a refined method refines (None for plain codecs and DiffC)."""
    return method.split("+")[0] if "+refine" in method else None


def _rows(name: str, methods: dict[str, list[dict]]) -> list[dict]:
    """Flat rows with the refined methods' differences to their plain codec's file."""
    rows = []
    for method, entries in methods.items():
        plain = _plain(method)
        for e in entries:
            row = {"image": name, "method": method, "stop": e["stop"], "bpp": e["bpp"],
                   "psnr": e["psnr-rgb"], "ms_ssim": e["ms-ssim-rgb"], "lpips": e["lpips"],
                   "decode_s": e["decoding_time"], "start_t": e.get("t")}
            if plain is not None:
                base = next(b for b in methods[plain] if b["stop"] == e["stop"])
                row |= {"plain_bpp": base["bpp"], "dpsnr": e["psnr-rgb"] - base["psnr-rgb"],
                        "lpips_ratio": _ratio(e["lpips"], base["lpips"]),
                        "decode_over_plain": _ratio(e["decoding_time"], base["decoding_time"])}
            rows.append(row)
    return rows


def _difference(a: dict, b: dict, key: str) -> tuple[float | None, float | None]:
    """a - b of a realism value and its standard error (as if independent)."""
    if a.get(key) is None or b.get(key) is None:
        return None, None
    return a[key] - b[key], float(np.hypot(a[f"{key}-stderr"], b[f"{key}-stderr"]))


def _against_plain(mine: list[dict], plain: dict[str, dict]) -> dict:
    """A refined method's tiles against its plain codec's same tiles (``plain`` by image): the
    ratios of the means, and the share of tiles whose LPIPS the refinement lowered."""
    decode = sum(m["decode_s"] for m in mine) / sum(plain[m["image"]]["decode_s"] for m in mine)
    paired = np.array([(m["lpips"], plain[m["image"]]["lpips"]) for m in mine if m["lpips"] is not None])
    if not len(paired):
        return {"lpips_ratio": None, "lpips_lower": None, "decode_over_plain": decode}
    refined, base = paired.T
    return {"lpips_ratio": float(refined.sum() / base.sum()), "lpips_lower": float(np.mean(refined < base)),
            "decode_over_plain": decode}


def _summaries(rows: list[dict], merged: dict[str, dict]) -> list[dict]:
    """Per method and stop: the means over the tiles, the set's realism (from the merged sweep) and,
    for refined methods, the ratios and realism differences to the plain codec."""
    keys = ("bpp", "psnr", "ms_ssim", "lpips", "decode_s", "dpsnr")
    by_tile = {(r["method"], r["stop"], r["image"]): r for r in rows}
    out = []
    for method in dict.fromkeys(r["method"] for r in rows):
        r = merged[method]["results"]
        for i, stop in enumerate(r["stop"]):
            mine = [row for row in rows if row["method"] == method and row["stop"] == stop]
            row = {"protocol": "summary", "method": method, "stop": stop, "images": len(mine)}
            row |= {k: _mean([m[k] for m in mine]) for k in keys if k in mine[0]}
            if (plain := _plain(method)) is not None:
                row |= _against_plain(mine, {m["image"]: by_tile[plain, stop, m["image"]] for m in mine})
            row |= {k: r[k][i] for k in REALISM}
            out.append(row)
    at = {(s["method"], s["stop"]): s for s in out}
    for s in out:
        plain = _plain(s["method"])
        if plain is not None:
            for key, short in (("kid-alexnet", "dkid"), ("fd-alexnet", "dfd")):
                s[short], s[f"{short}_stderr"] = _difference(s, at[plain, s["stop"]], key)
    return out


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def _plot(summaries: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (("psnr", "PSNR (dB)"), ("lpips", "LPIPS (lower is better)"),
              ("kid-alexnet", "KID-AlexNet (lower is better)"),
              ("fd-alexnet", "FD-AlexNet (lower is better)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 5))
    methods = list(dict.fromkeys(r["method"] for r in summaries))
    plains = [m for m in methods if _plain(m) is None and not m.startswith("DiffC")]
    for method in methods:
        mine = [r for r in summaries if r["method"] == method]
        if method.startswith("DiffC"):
            style, color = ("-o" if method == "DiffC-F" else "--o"), "k"
        else:
            color = f"C{plains.index(_plain(method) or method)}"
            style = ":s" if _plain(method) is None else "-.^" if "+proj" in method else \
                "--o" if "refine-ode" in method else "-o"
        for ax, (key, label) in zip(axes, panels, strict=True):
            values, errors = (np.array([np.nan if r.get(k) is None else r[k] for r in mine], dtype=float)
                              for k in (key, f"{key}-stderr"))
            ax.errorbar([r["bpp"] for r in mine], values, yerr=errors if key in REALISM else None, fmt=style,
                        color=color, label=method, markersize=4, capsize=2)
            ax.set(xlabel="bpp (every byte)", ylabel=label)
    axes[1].legend(fontsize=6, ncol=2)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI and smoke runs")
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--out", type=Path, default=None, help="sweep folder (default: beside the JSON)")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped one)")
    parser.add_argument("--tiles", type=int, default=None,
                        help="tiles spread over the held-out photos (default 64, realism's minimum; quick 2)")
    parser.add_argument("--tile", type=int, default=64, help="tile side in pixels (default 64)")
    parser.add_argument("--stops", type=str, default=None, help="DiffC stop points (default 6; quick 8)")
    parser.add_argument("--solver-steps", type=int, default=None, help="sampler steps (default 8, quick 3)")
    parser.add_argument("--solver", choices=SOLVERS, default=DEFAULT_SOLVER,
                        help=f"the ODE solver (default {DEFAULT_SOLVER}; the reference ran ddim)")
    parser.add_argument("--workers", type=int, default=None, help="local worker processes (default: none)")
    parser.add_argument("--scales", type=str, default="",
                        help="start scales refined beside 1, e.g. 0.5,3 (default: none)")
    args = parser.parse_args(argv)

    from diffc.codec import DiffCCodec
    from diffc.models import default_model_dir, load_model, set_torch_threads
    from diffc.models.data import held_out_photos
    from diffc.tools.sweep import SweepConfig, job_id, merge
    from rcc.experiments import Job, executor_from, run_jobs

    stops, solver_steps, n_tiles = ((8,), 3, 2) if args.quick else ((6,), 8, 64)
    stops = tuple(int(s) for s in args.stops.split(",")) if args.stops else stops
    solver_steps = args.solver_steps or solver_steps
    n_tiles = args.tiles or n_tiles
    scales = tuple(float(s) for s in args.scales.split(",") if s)
    seed = 2024
    set_torch_threads(1)
    model_dir = args.model or default_model_dir()
    codec = DiffCCodec(load_model(model_dir), progress=False)
    config = SweepConfig(stops=stops, methods=("ode", "sde"), seed=seed, solver_steps=solver_steps,
                         solver=args.solver, refine=REFINE)
    images = tiles(held_out_photos(), args.tile)
    names = list(images)[:: max(1, len(images) // n_tiles)][:n_tiles]  # a reduced run spans all photos
    variants = hashlib.sha256(json.dumps([FORMAT, PROJECTED, scales]).encode()).hexdigest()[:8]
    jobs = [Job(n, job_id(codec, images[n], config) + variants, (n, images[n])) for n in names]
    out = args.out or args.json.with_name(args.json.stem + "_sweep")
    started = time.perf_counter()
    report = run_jobs(jobs, functools.partial(_worker, str(model_dir), config, scales), out,
                      executor=executor_from(args.workers), progress=True, desc="refine")
    sweep_s = time.perf_counter() - started
    results = [report.results[n] for n in names if n in report.results]
    merged = merge(results, out, len(names))
    rows = [row for r in results for row in _rows(r["image"], r["methods"])]
    summaries = _summaries(rows, merged)
    for r in summaries:
        vs = f", {r['dpsnr']:+.2f} dB, LPIPS x{_fmt(r['lpips_ratio'])} (lower on " \
             f"{_fmt(r['lpips_lower'], '.0%')}), KID {_fmt(r['dkid'], '+.3f')}" if "dpsnr" in r else ""
        print(f"{r['method']:>24} stop {r['stop']:2d}: {r['bpp']:.3f} bpp, {r['psnr']:.2f} dB, LPIPS "
              f"{_fmt(r['lpips'], '.3f')}, KID {_fmt(r['kid-alexnet'], '.3f')}+-"
              f"{_fmt(r['kid-alexnet-stderr'], '.3f')}, decode {r['decode_s']:.2f} s{vs}")
    patches = max((r["patches"] for r in summaries), default=0)
    meta = machine_meta() | {"quick": args.quick, "tile": args.tile, "tiles": len(results),
                             "tiles_asked": len(names), "complete": report.complete, "stops": list(stops),
                             "solver_steps": solver_steps, "solver": config.solver, "seed": seed,
                             "scales": list(scales),
                             "model": str(model_dir), "fingerprint": codec.model.fingerprint().hex()[:16],
                             "refine": list(REFINE), "projected": list(PROJECTED), "patches": patches,
                             "sweep": str(out), "wall_s": sweep_s,
                             "tiles_coded_this_run": len(report.results) - report.skipped}
    write_json(args.json, meta, rows + summaries)
    _plot(summaries, args.json.with_suffix(".png"),
          f"plain codecs (dotted), refined by the default model (solid: sde, dashed: ode, dash-dot: JPEG "
          f"projection), DiffC (black); means over {len(results)} tiles of {args.tile} px, realism over "
          f"{patches} pooled 64x64 patches (error bars: standard errors)")


if __name__ == "__main__":
    main()
