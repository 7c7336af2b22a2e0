"""The image codec's step spacing: the learned model's ideal rate under each spacing variance.

:func:`diffc.diffusion.spacing.image_schedule` spaces DiffC's steps at equal cost under a 1/f^2
Gaussian model of per-value ``variance``. For each variance this measures, on the tiled held-out
photos, the ideal rate of the codec's :data:`~diffc.diffusion.spacing.DEFAULT_STEPS` steps with a
trained model (:func:`diffc.models.nelbo.codec_rate_draws`: the exact ``L_T`` plus one draw of each
step's KL, no header or channel overhead), cumulated stop by stop against the log-SNR each stop
reaches. Stops of two schedules fall at different SNRs, so schedules are compared at common
log-SNRs by interpolating each one's cumulative rate between its stops (the rate an encoder mixing
two neighbouring stops would pay) and, at the last stop, which every variance puts at the same
:data:`~diffc.diffusion.spacing.LAST_LOG_SNR`, by the paired per-crop difference. The baseline, in
the same run, is the photographs' own variance in [-1, 1] (0.25); ratios are against it.

Run ``python benchmarks/image_schedule.py --json image_schedule.json`` (the shipped model, every
4th 64 px crop); ``--quick`` uses a few 16 px crops and two variances.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_meta, write_json  # noqa: E402

BASELINE_VARIANCE = 0.25
"""The photographs' per-value variance in [-1, 1]: the spacing before it was calibrated."""
LOG_SNR_GRID = (-1.0, 0.0, 1.0, 2.0, 3.0, 4.0)


def measure(model_dir: Path, size: int, every: int, variances: list[float], seed: int, batch: int,
            progress: bool) -> list[dict]:
    """One row per variance: its times, cumulative ideal rate (bpd) per stop, the rate at
    :data:`LOG_SNR_GRID` and, paired with the baseline variance, the last stop's difference."""
    import torch
    from tqdm.auto import tqdm

    from diffc.diffusion.schedules import DiscreteVP
    from diffc.models.data import held_out_photos
    from diffc.models.nelbo import LOG2, DiffusionModel, codec_rate_draws, tile
    from diffc.models.training import codec_times

    model = DiffusionModel(model_dir)
    vp = DiscreteVP(tuple(float(a) for a in model.alphas_cumprod))
    crops = [c for image in held_out_photos().values() for c in tile(image, size)][::every]
    x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).double() * (2 / 255) - 1
    rows, totals = [], {}
    for variance in tqdm(variances, disable=not progress, desc="variances"):
        times = codec_times(model.alphas_cumprod, size, variance=variance)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            terms = torch.cat([codec_rate_draws(model, x[s:s + batch], times, gen)
                               for s in range(0, len(crops), batch)], dim=1) / (LOG2 * 3 * size * size)
        cumulative = terms.mean(1).cumsum(0).tolist()
        log_snr = [vp.log_snr(t) for t in times]
        totals[variance] = terms.sum(0).numpy()
        rows.append({"variance": variance, "times": times, "log_snr": log_snr, "cumulative_bpd": cumulative,
                     "rate_bpd": cumulative[-1], "first_step_bpd": float(terms[1].mean()),
                     "rate_at_log_snr": [float(v) for v in np.interp(LOG_SNR_GRID, log_snr, cumulative)]})
    base = next(r for r in rows if r["variance"] == BASELINE_VARIANCE)
    for r in rows:
        d = totals[r["variance"]] - totals[BASELINE_VARIANCE]
        r["minus_baseline_bpd"] = float(d.mean())
        r["minus_baseline_stderr"] = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else None
        r["ratio_at_log_snr"] = [a / b for a, b in
                                 zip(r["rate_at_log_snr"], base["rate_at_log_snr"], strict=True)]
        r["crops"] = len(crops)
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        # The first stop (t = T - 1) sits near log-SNR -20: start the curves at the second.
        ax.plot(r["log_snr"][1:], r["cumulative_bpd"][1:], marker="o", ms=3,
                label=f"variance {r['variance']:g}: {r['rate_bpd']:.3f} bpd at the last stop")
    ax.set_xlabel("log-SNR reached (one marker per stop)")
    ax.set_ylabel("ideal rate to get there, bits per dimension")
    ax.set_title("DiffC's 16 steps spaced by each variance", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a few 16 px crops, two variances, for smoke runs")
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--model", type=Path, default=None,
                        help="pipeline folder (default: the shipped model)")
    parser.add_argument("--variances", default="0.25,1,2,4,8,16,32", help="comma-separated spacing variances")
    parser.add_argument("--every", type=int, default=4, help="use every n-th held-out crop (default 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import torch

    from diffc.diffusion.spacing import SPACING_VARIANCE
    from diffc.models import default_model_dir

    torch.set_num_threads(args.threads)
    if args.quick:
        size, every, variances = 16, 97, [BASELINE_VARIANCE, SPACING_VARIANCE]
    else:
        size, every = 64, args.every
        asked = (float(v) for v in args.variances.split(","))
        variances = sorted({BASELINE_VARIANCE, SPACING_VARIANCE, *asked})
    model = args.model or default_model_dir()
    rows = measure(model, size, every, variances, args.seed, 64, progress=not args.quick)
    for r in rows:
        mark = " (default)" if r["variance"] == SPACING_VARIANCE else ""
        print(f"variance {r['variance']:6g}{mark}: last stop {r['rate_bpd']:.4f} bpd "
              f"({r['minus_baseline_bpd']:+.4f} paired), first step {r['first_step_bpd']:.4f}; "
              f"ratio at log-SNR {LOG_SNR_GRID}: " + " ".join(f"{q:.2f}" for q in r["ratio_at_log_snr"]))
    write_json(args.json, {**machine_meta(), "quick": args.quick, "model": str(model), "crop": size,
                           "every": every, "crops": rows[0]["crops"], "seed": args.seed,
                           "baseline_variance": BASELINE_VARIANCE, "default_variance": SPACING_VARIANCE,
                           "log_snr_grid": list(LOG_SNR_GRID)}, rows)
    plot(rows, args.json.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
