"""DiffC on Gaussian data with a power-law spectrum: real files against the closed forms.

X ~ N(0, D^T diag(lambda) D) on an image-shaped array (D: the orthonormal 2-D DCT, lambda a
1/f^2 power law), the exact oracle denoiser with exact reverse conditionals, and the real chunked
Gaussian channel. One progressive file per source image, encoded once; each of the stop points is
decoded from the file's prefix (what a receiver of that many bytes gets), with DiffC-A, DiffC-F
(Heun) and MMSE. Each row averages over the source images and reports, per dimension:
``ideal_bits`` (sum of the steps' KLs), ``theory_bits`` (I(X; Z_t)), ``real_bits`` (bytes of the
prefix, header included), measured and closed-form MSEs, and the Gaussian R(D) bound at
``real_bits``. Times: ``encode_s`` (encoder time through that step), ``decode_s`` (rebuilding Z_t
from the prefix), ``reconstruct_a_s`` / ``reconstruct_f_s`` (the two samplers from Z_t).

Bits are totals per image (not per dimension); MSEs are mean squared errors per dimension.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import machine_meta, parse_args, write_json  # noqa: E402
from diffc import gaussian_theory as theory  # noqa: E402
from diffc import schedules  # noqa: E402
from diffc.container import truncate  # noqa: E402
from diffc.decoders import decode_state, reconstruct  # noqa: E402
from diffc.denoisers import DCT2Basis, GaussianOracle, power_law_spectrum  # noqa: E402
from diffc.encoder import encode  # noqa: E402
from diffc.schedules import ContinuousVP, equal_kl  # noqa: E402
from rcc.gaussian_channel import GaussianChannel  # noqa: E402

LOG_SNR_LAST = 4.0
HEUN_STEPS = 30


def _config(quick: bool) -> dict:
    return {"side": 32 if quick else 64, "n_stops": 8 if quick else 12, "n_images": 2 if quick else 6,
            "exponent": 2.0, "chunk_bits": 8, "headroom_bits": 8, "rule": "pfr", "variance": "exact",
            "log_snr_last": LOG_SNR_LAST, "heun_steps": HEUN_STEPS, "seed": 2024}


def _measure_image(x: np.ndarray, oracle: GaussianOracle, schedule: object, channel: GaussianChannel,
                   seed: int) -> list[dict]:
    enc = encode(x, oracle, schedule, channel, seed=seed, value_range=(-8.0, 8.0), variance="exact")
    rows = []
    for k in range(1, len(schedule) + 1):
        prefix = truncate(enc.data, k)
        started = time.perf_counter()
        state = decode_state(prefix, oracle, schedule)
        decode_s = time.perf_counter() - started
        started = time.perf_counter()
        x_a = reconstruct(state.model, state.z, state.t, method="ancestral", steps=2, seed=seed)
        a_s = time.perf_counter() - started
        started = time.perf_counter()
        x_f = reconstruct(state.model, state.z, state.t, method="heun", steps=HEUN_STEPS)
        f_s = time.perf_counter() - started
        x_m = reconstruct(state.model, state.z, state.t, method="mmse")
        rows.append({
            "ideal_bits": sum(s.kl_bits for s in enc.steps[:k]),
            "real_bits": 8 * len(prefix),
            "mse_a": float(np.mean((x_a - x) ** 2)),
            "mse_f": float(np.mean((x_f - x) ** 2)),
            "mse_mmse": float(np.mean((x_m - x) ** 2)),
            "encode_s": sum(s.seconds for s in enc.steps[:k]),
            "decode_s": decode_s, "reconstruct_a_s": a_s, "reconstruct_f_s": f_s,
        })
    return rows


def run(quick: bool) -> tuple[dict, list[dict]]:
    cfg = _config(quick)
    shape = (cfg["side"], cfg["side"])
    lam = power_law_spectrum(shape, cfg["exponent"])
    vp = ContinuousVP("cosine", -15.0, 15.0)
    oracle = GaussianOracle(vp, lam, basis=DCT2Basis())
    schedule = equal_kl(vp, cfg["n_stops"], lambda v: theory.mutual_information_bits(lam, math.exp(v)),
                        cfg["log_snr_last"])
    channel = GaussianChannel(chunk_bits=cfg["chunk_bits"], headroom_bits=cfg["headroom_bits"],
                              rule=cfg["rule"])
    rng = np.random.default_rng(cfg["seed"])
    sources = [DCT2Basis().inverse(np.sqrt(lam) * rng.standard_normal(shape)) for _ in range(cfg["n_images"])]
    per_image = [_measure_image(x, oracle, schedule, channel, seed=cfg["seed"] + i)
                 for i, x in enumerate(sources)]
    n = lam.size
    rows = []
    for k, t in enumerate(schedule.times):
        snr = schedules.snr(vp, t)
        mean = {key: float(np.mean([img[k][key] for img in per_image])) for key in per_image[0][k]}
        rows.append({
            "stop": k + 1, "stop_t": t, "sigma": math.sqrt(1.0 / (1.0 + snr)), "log_snr": math.log(snr),
            "theory_bits": theory.mutual_information_bits(lam, snr),
            "mse_a_theory": theory.diffc_a_mse(lam, snr) / n,
            "mse_f_theory": theory.diffc_f_mse(lam, snr) / n,
            "mse_mmse_theory": theory.mmse(lam, snr) / n,
            "rd_bound_mse": theory.rate_distortion_mse(lam, mean["real_bits"]) / n,
            **mean,
        })
    meta = {"benchmark": "diffc_gaussian", "quick": quick, "dims": n, **cfg, **machine_meta(),
            "units": "bits per image; mse per dimension; seconds per image"}
    return meta, rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    real = [r["real_bits"] for r in rows]
    ideal = [r["theory_bits"] for r in rows]
    for key, label, color in (("mse_a", "DiffC-A", "C0"), ("mse_f", "DiffC-F", "C1"),
                              ("mse_mmse", "MMSE", "C2")):
        ax.plot(real, [r[key] for r in rows], "o-", color=color, label=f"{label} (real file)")
        ax.plot(ideal, [r[key + "_theory"] for r in rows], "--", color=color, label=f"{label} (ideal coding)")
    ax.plot(real, [r["rd_bound_mse"] for r in rows], "k:", label="Gaussian R(D)")
    ax.set(xlabel="bits per image", ylabel="MSE per dimension", yscale="log", title="Rate-distortion")
    ax.legend(fontsize=7)
    sig = [r["sigma"] for r in rows]
    ax2.plot(sig, [r["mse_f"] / r["mse_a"] for r in rows], "o-", label="measured")
    ax2.plot(sig, [r["mse_f_theory"] / r["mse_a_theory"] for r in rows], "--", label="closed form")
    ax2.axhline(0.5, color="k", lw=0.8)
    ax2.set(xlabel="sigma_t", ylabel="MSE_F / MSE_A", xscale="log", title="Flow vs ancestral")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    meta, rows = run(args.quick)
    write_json(args.json, meta, rows)
    plot(rows, args.json.with_suffix(".png"))
    for r in rows:
        print(f"stop {r['stop']:2d} sigma={r['sigma']:.3f} bits real/ideal/I = {r['real_bits']:.0f}/"
              f"{r['ideal_bits']:.0f}/{r['theory_bits']:.0f}  mse A {r['mse_a']:.4f} "
              f"({r['mse_a_theory']:.4f})"
              f"  F {r['mse_f']:.4f} ({r['mse_f_theory']:.4f})  MMSE {r['mse_mmse']:.4f} "
              f"({r['mse_mmse_theory']:.4f})  R(D) {r['rd_bound_mse']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
