"""Compress, then refine: each classical codec refined by the model, against its plain self and DiffC.

Each held-out photo (a centre crop, :func:`diffc.imaging.io.centre_crop`) is one sweep job
(:func:`diffc.tools.sweep.image_job` with ``refine``): DiffC encodes it once; at each stop point the
prefix is decoded with DiffC-F and DiffC-A, every available classical codec codes the crop at the
quality whose bpp is nearest the prefix's, and that very file is wrapped as a refine file
(:mod:`diffc.refine`, 15 bytes of side information) and decoded with the ancestral (``sde``) and
ODE (``ode``) samplers from the matched start. For the JPEG codecs the same files are also refined
with the consistency projection (``+proj``), and every file is refined by the ancestral sampler from
the start scales of :data:`SCALES` (``@0.5``, ``@3``: the codec's error variance taken half, or
three times, as large; the decode-time trade-off between fidelity and regeneration). A row per
image, stop and method: bpp (every byte of
the file), PSNR, MS-SSIM, LPIPS, the decode time, and for refined methods the ratios to the plain
codec (``dpsnr``: PSNR gain in dB; ``lpips_ratio``: refined LPIPS over plain LPIPS) and the decode
time over the plain decode's. Summary rows average each method per stop. Baseline = the plain
codecs and DiffC measured in the same run. Set-level realism metrics (FID/KID on patches) are not
included here: they belong to the realism module, which has not landed on main.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import machine_meta, write_json  # noqa: E402

REFINE = ("sde", "ode")
JPEG = ("jpeg-420", "jpeg-444")
SCALES = (0.5, 3.0)
"""Start scales measured beside the default 1 (ancestral sampler): the decode-time trade-off."""


def _variants(jpeg: bool) -> dict[str, dict]:
    """Decode settings measured on the same files beyond the sweep's: the JPEG projection, and the
    start scale."""
    out = {f"+refine-{m}+proj": {"method": m, "project": True} for m in REFINE if jpeg}
    return out | {f"+refine-sde@{s:g}": {"method": "sde", "scale": s} for s in SCALES}


def _more(refiner: object, image: np.ndarray, result: dict, seed: int, solver_steps: int) -> dict:
    """Every plain codec's files of ``result`` refined with the :func:`_variants` settings (the same
    files: the quality match is deterministic, and each file's quality is checked against the job's)."""
    from diffc.imaging.baselines import available_codecs, match_bpp
    from diffc.imaging.metrics import result_metrics

    extra: dict[str, list[dict]] = {}
    for b in (b for b in available_codecs() if b in result):
        for row in result[b]:
            res = match_bpp(available_codecs()[b], image, row["target_bpp"])
            assert res.quality == row["quality"], "the classical file differs from the job's"
            data = refiner.wrap(image, b, res.data, seed=seed)
            for suffix, options in _variants(b in JPEG).items():
                started = time.perf_counter()
                out = refiner.decompress(data, solver_steps=solver_steps, **options)
                extra.setdefault(b + suffix, []).append(
                    {"stop": row["stop"], "bpp": out.bpp, "t": out.t, **result_metrics(image, out.image),
                     "decoding_time": time.perf_counter() - started})
    return extra


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a / b


def _mean(values: list[float | None]) -> float | None:
    """Mean of the values present (LPIPS and MS-SSIM are None for crops too small to have them)."""
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _rows(name: str, methods: dict[str, list[dict]]) -> list[dict]:
    """Flat rows with the refined methods' ratios to their plain codec."""
    rows = []
    for method, entries in methods.items():
        plain = method.split("+")[0] if "+refine" in method else None
        for i, e in enumerate(entries):
            row = {"image": name, "method": method, "stop": e["stop"], "bpp": e["bpp"],
                   "psnr": e["psnr-rgb"], "ms_ssim": e["ms-ssim-rgb"], "lpips": e["lpips"],
                   "decode_s": e["decoding_time"], "start_t": e.get("t")}
            if plain is not None:
                base = methods[plain][i]
                row |= {"plain_bpp": base["bpp"], "dpsnr": e["psnr-rgb"] - base["psnr-rgb"],
                        "lpips_ratio": _ratio(e["lpips"], base["lpips"]),
                        "decode_over_plain": _ratio(e["decoding_time"], base["decoding_time"])}
            rows.append(row)
    return rows


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def _summaries(rows: list[dict]) -> list[dict]:
    out = []
    keys = ("bpp", "psnr", "ms_ssim", "lpips", "decode_s", "dpsnr", "lpips_ratio", "decode_over_plain")
    for method in dict.fromkeys(r["method"] for r in rows):
        for stop in sorted({r["stop"] for r in rows}):
            mine = [r for r in rows if r["method"] == method and r["stop"] == stop]
            row = {"protocol": "summary", "method": method, "stop": stop, "images": len(mine)}
            row |= {k: _mean([r[k] for r in mine]) for k in keys if k in mine[0]}
            out.append(row)
    return out


def _plot(summaries: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 5))
    methods = list(dict.fromkeys(r["method"] for r in summaries))
    plains = [m for m in methods if "+" not in m and not m.startswith("DiffC")]
    stops = sorted({r["stop"] for r in summaries})
    middle = stops[len(stops) // 2]
    for i, plain in enumerate(plains):
        names = {0.0: plain, 1.0: f"{plain}+refine-sde"} | {s: f"{plain}+refine-sde@{s:g}" for s in SCALES}
        at = {r["method"]: r for r in summaries if r["stop"] == middle}
        found = [(s, at[names[s]]) for s in sorted(names) if names[s] in at]
        lpips = [np.nan if r["lpips"] is None else r["lpips"] for _, r in found]
        axes[2].plot([r["psnr"] for _, r in found], lpips, "-o", color=f"C{i}", label=plain, markersize=4)
        for (s, r), y in zip(found, lpips, strict=True):
            axes[2].annotate("plain" if s == 0 else f"{s:g}", (r["psnr"], y), fontsize=6)
    axes[2].set(xlabel="PSNR (dB)", ylabel="LPIPS", title=f"start scale at stop {middle} (0 = plain)")
    axes[2].legend(fontsize=6)
    for method in (m for m in methods if "@" not in m):
        mine = [r for r in summaries if r["method"] == method]
        base = method.split("+")[0]
        if method.startswith("DiffC"):
            style, color = ("-o" if method == "DiffC-F" else "--o"), "k"
        else:
            color = f"C{plains.index(base)}"
            style = {0: ":s", 1: "-o"}[int("+refine" in method)] if "+proj" not in method else "-.^"
            if method.endswith("refine-ode"):
                style = "--o"
        for ax, key in zip(axes[:2], ("psnr", "lpips"), strict=True):
            values = [np.nan if r[key] is None else r[key] for r in mine]
            ax.plot([r["bpp"] for r in mine], values, style, color=color, label=method, markersize=4)
    axes[0].set(xlabel="bpp (every byte)", ylabel="PSNR (dB)", title="distortion")
    axes[1].set(xlabel="bpp (every byte)", ylabel="LPIPS (lower is better)", title="perceptual distance")
    axes[1].legend(fontsize=6, ncol=2)
    fig.suptitle("plain codecs (dotted), refined by the default model (solid: sde, dashed: ode, dash-dot: "
                 "JPEG projection), DiffC (black); means over the held-out crops", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI and smoke runs")
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped one)")
    parser.add_argument("--images", type=int, default=None, help="held-out photos (default 6, quick 1)")
    parser.add_argument("--size", type=int, default=None, help="crop size in pixels (default 64, quick 32)")
    args = parser.parse_args(argv)

    from diffc.codec import DiffCCodec
    from diffc.imaging.io import centre_crop
    from diffc.models import default_model_dir, load_model, set_torch_threads
    from diffc.models.data import held_out_photos
    from diffc.refine.codec import RefineCodec
    from diffc.tools.sweep import SweepConfig, image_job

    size, n_images, stops, solver_steps = (32, 1, (8,), 3) if args.quick else (64, 6, (4, 8, 16), 10)
    n_images, size = args.images or n_images, args.size or size
    seed = 2024
    set_torch_threads(1)
    model = load_model(args.model or default_model_dir())
    codec = DiffCCodec(model, progress=False)
    refiner = RefineCodec(model, progress=False)
    config = SweepConfig(stops=stops, methods=("ode", "sde"), seed=seed, solver_steps=solver_steps,
                         refine=REFINE)
    rows = []
    for name, photo in list(held_out_photos().items())[:n_images]:
        crop = centre_crop(photo, size)
        started = time.perf_counter()
        methods = image_job(codec, config, (name, crop)).result["methods"]
        methods |= _more(refiner, crop, methods, seed, solver_steps)
        mine = _rows(name, methods)
        rows += mine
        print(f"{name} ({time.perf_counter() - started:.0f} s): " + ", ".join(
            f"{r['method']} k{r['stop']} {r['dpsnr']:+.2f} dB x{_fmt(r['lpips_ratio'])} LPIPS"
            for r in mine if r["method"].endswith("refine-sde")))
    summaries = _summaries(rows)
    for r in summaries:
        ratio = f", {r['dpsnr']:+.2f} dB, LPIPS x{_fmt(r['lpips_ratio'])} vs plain" if "dpsnr" in r else ""
        print(f"{r['method']:>26} stop {r['stop']:2d}: {r['bpp']:.3f} bpp, {r['psnr']:.2f} dB, LPIPS "
              f"{_fmt(r['lpips'], '.3f')}, decode {r['decode_s']:.2f} s{ratio}")
    meta = machine_meta() | {"quick": args.quick, "size": size, "images": n_images, "stops": list(stops),
                             "solver_steps": solver_steps, "seed": seed,
                             "model": str(args.model or default_model_dir()),
                             "fingerprint": model.fingerprint().hex()[:16], "refine": list(REFINE),
                             "realism": "not measured: diffc.imaging.realism is not on main yet"}
    write_json(args.json, meta, rows + summaries)
    _plot(summaries, args.json.with_suffix(".png"))


if __name__ == "__main__":
    main()
