"""How hard the training photos are at each octave, beside the held-out photos DiffC is judged on.

For every octave of :func:`diffc.models.data.training_pyramid` (octave 0: each photo shrunk to a
448 px short side; octave k: 2**k times that linear size, where the original allows) the 64 px crops
that tile its photos are sampled uniformly (seeded) and coded with lossless WebP (Pillow, method 6,
one file per crop, headers included: :func:`diffc.models.nelbo.codec_bits`, the rate the NELBO is
compared with). The baseline, measured in the same run, is the same figure on the tiled held-out
photos; each octave is reported as its ratio to it, with the standard error of the mean over crops.
Bits per dimension fall as a photo is shown nearer its native resolution (smoother, fewer edges
per pixel) and rise as it is shrunk, so the octaves a model trains on decide which of these rates
it learns to predict.

Run ``python benchmarks/data_scales.py --data DIR --json data_scales.json`` on a folder written by
``diffc data --out DIR``. Without one (``make bench`` passes none) it writes a JSON that says it was
skipped, since the photos are downloaded, never shipped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_meta, write_json  # noqa: E402

CROP = 64


def crop_rates(images: list[np.ndarray], crops: int, rng: np.random.Generator) -> dict:
    """WebP-lossless bits per dimension of up to ``crops`` tiles drawn without replacement."""
    from diffc.models.nelbo import codec_bits, tile

    tiles = [t for image in images for t in tile(image, CROP)]
    pick = rng.choice(len(tiles), size=min(crops, len(tiles)), replace=False)
    bpd = codec_bits([tiles[i] for i in pick], "webp") / (3 * CROP * CROP)
    return {"tiles": len(tiles), "sampled": len(pick), "webp_bpd": float(bpd.mean()),
            "stderr": float(bpd.std(ddof=1) / np.sqrt(len(pick)))}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    held = next(r for r in rows if r["set"] == "held-out")
    octs = [r for r in rows if r["set"] == "training"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.errorbar([r["octave"] for r in octs], [r["webp_bpd"] for r in octs],
                yerr=[2 * r["stderr"] for r in octs], marker="o", capsize=3, label="training crops")
    ax.axhspan(held["webp_bpd"] - 2 * held["stderr"], held["webp_bpd"] + 2 * held["stderr"], alpha=0.3,
               color="C1", label="held-out crops (±2 s.e.)")
    ax.set_xlabel("octave (short side 448·2^k px)")
    ax.set_ylabel("lossless WebP, bits per dimension")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    from diffc.models.data import held_out_photos, training_pyramid

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few crops, for smoke runs")
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--data", type=Path, default=None, help="folder written by `diffc data`")
    parser.add_argument("--octaves", default="-2,-1,0,1,2", help="comma-separated octaves")
    parser.add_argument("--crops", type=int, default=None,
                        help="64 px crops coded per set (default 300, quick 20; WebP method 6 is slow)")
    args = parser.parse_args(argv)
    octaves = sorted({int(v) for v in args.octaves.split(",")})
    crops = args.crops or (20 if args.quick else 300)
    if args.data is None or not (args.data / "manifest.json").is_file():
        print(f"skipped: no `diffc data` folder given (--data {args.data})")
        write_json(args.json, {**machine_meta(), "quick": args.quick, "skipped": "no diffc data folder"}, [])
        return 0
    rng = np.random.default_rng(0)
    held = crop_rates(list(held_out_photos().values()), crops, rng)
    rows = [{"set": "held-out", "octave": None, "photos": 8, **held, "ratio": 1.0}]
    for k, level in training_pyramid(args.data, octaves, min_side=CROP).items():
        mpx = sum(a.shape[0] * a.shape[1] for a in level.values()) / 1e6
        row = {"set": "training", "octave": k, "photos": len(level), "mpx": round(mpx, 2)}
        if level:
            row.update(crop_rates(list(level.values()), crops, rng))
            row["ratio"] = row["webp_bpd"] / held["webp_bpd"]
        rows.append(row)
    for r in rows:
        name = "held-out" if r["octave"] is None else f"octave {r['octave']:+d}"
        rate = f"{r['webp_bpd']:.3f} ± {r['stderr']:.3f} bpd ({r['ratio']:.2f}x)" if "webp_bpd" in r else "-"
        print(f"{name:>10}: {r['photos']:4d} photos, {r.get('mpx', float('nan')):6.1f} Mpx, {rate}")
    write_json(args.json, {**machine_meta(), "quick": args.quick, "crop": CROP, "crops_per_set": crops,
                           "data": str(args.data)}, rows)
    plot(rows, args.json.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
