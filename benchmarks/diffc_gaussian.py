"""DiffC on Gaussian data with a power-law spectrum, per channel setting: real bits at equal MSE.

X ~ N(0, D^T diag(lambda) D) on an image-shaped array (D: the orthonormal 2-D DCT, lambda a
1/f^2 power law), the exact oracle denoiser, and the real chunked Gaussian channel. For each channel
setting (:data:`SETTINGS`: a :class:`rcc.gaussian.ChannelSpec`, the encoder's ``variance``, and
the schedule a user builds, ``equal_kl`` on I(X; Z) with 12 stops) one progressive file per source
image is encoded once; every stop is decoded from the file's prefix (``decode_states``: what a
receiver of that many bytes gets, all prefixes in one pass), with DiffC-A (ancestral, 300 steps),
DiffC-F (Heun, 30 steps) and MMSE. The source images are the same for every setting. DiffC-A
decodes with the file's reverse variance: with the exact one any step count samples X | Z_t
exactly; with the posterior one (DDPM's) the sample approaches X | Z_t only as the steps get finer
(measured at the last stop, one image, 8-bit chunks: MSE_A is 0.56x its closed form at 2 steps,
0.90x at 30, about 1x at 100 to 300).

Per setting and stop (``protocol="stop"``, means over the setting's images): ``real_bits`` (the
prefix's bytes, header included), ``ideal_bits`` (sum of the sent steps' KLs), ``theory_bits``
(I(X; Z_t)), ``schedule_bits`` (the expected KL sum of this schedule and variance: I(X; Z_t) for the
exact reverse variance, :func:`diffc.diffusion.theory.posterior_variance_rate_bits` for the posterior
one; ``schedule_cost`` is its ratio to I(X; Z_t), the schedule's own cost with a perfect channel),
measured and closed-form MSEs, the ledger totals through that stop (``CompressOutput.ledger``: header,
framing, side, index, index overhead, slack, shortfall), and ``encode_s`` (encoder seconds through
that stop, one Numba thread).

Headline, ``ratio_{mmse,f,a}``: real bits at equal MSE over ideal bits at that MSE. For each decoder
the SNR at which the closed-form ideal-coding MSE equals the measured MSE is found by root finding,
and ``ideal_at_mse_{mmse,f,a}`` = I(X; Z) at that SNR; the ratio is ``real_bits`` over it (None when
the measured MSE is worse than coding nothing). The summary row per setting
(``protocol="summary"``) quotes the last stop.

Realism of DiffC-A (summary rows, at the last stop and at a middle one): the DiffC-A
reconstructions of all the setting's images are pooled, transformed by the orthonormal DCT and
grouped into radial frequency bands (log-spaced in 1 + radius; empty bands dropped); per band the
variance ratio r = mean(c^2 / lambda) over images and coefficients; ``realism_kl`` is the Gaussian
KL(N(0, r lambda) || N(0, lambda)) per coefficient, 0.5 (r - 1 - ln r) nats, averaged over bands,
and ``realism_w2`` the squared 2-Wasserstein distance between the same Gaussians relative to
lambda, (sqrt(r) - 1)^2, averaged over bands. Approximate: both are estimates with a sampling noise
floor. For exact samples r is chi-square with k_b = N m_b degrees of freedom over k_b (N images,
m_b coefficients in band b), and the expected KL is ``realism_floor`` = mean_b (ln(k_b / 2) -
digamma(k_b / 2)) / 2, about mean_b 1 / (2 k_b) (the W2 figure's floor is about the same): 0.013
nats at 6 images of 64x64, 0.042 at 2, dominated by the lowest bands (1-3 coefficients each) and
skewed (most draws fall below it). ``realism_kl_source`` is the same figure measured on the
source images themselves; at high SNR a reconstruction's low bands are nearly its source's, so
``realism_kl - realism_kl_source`` is the less noisy comparison.

Timing: ``encode_s_1thread`` (per image, Numba at 1 thread); for every setting the first image is
encoded again with ``numba.set_num_threads(2)`` (``encode_s_2threads``, beside
the same image's ``encode_s_1thread_image0``; ``numba_threads_2`` is what ``numba.get_num_threads``
reported; the file must be identical). Seconds are wall-clock on a machine that may be shared.

Bits are totals per image (not per dimension); MSEs are mean squared errors per dimension.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numba
import numpy as np
from scipy.optimize import brentq
from scipy.special import digamma

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import machine_meta, write_json  # noqa: E402
from diffc.container import read_container  # noqa: E402
from diffc.decoder import decode_states  # noqa: E402
from diffc.diffusion import (
    schedules,  # noqa: E402
    theory,  # noqa: E402
)
from diffc.diffusion.denoisers import DCT2Basis, GaussianOracle, power_law_spectrum  # noqa: E402
from diffc.diffusion.samplers import reconstruct  # noqa: E402
from diffc.diffusion.schedules import ContinuousVP, EncodingSchedule  # noqa: E402
from diffc.diffusion.spacing import equal_kl  # noqa: E402
from diffc.encoder import CompressOutput, encode, quantized  # noqa: E402
from diffc.ledger import Ledger  # noqa: E402
from rcc.gaussian import PRESETS, ChannelSpec, GaussianChannel, preset  # noqa: E402

LOG_SNR_LAST = 4.0
HEUN_STEPS = 30
ANCESTRAL_STEPS = 300
VALUE_RANGE = (-8.0, 8.0)
LEDGER_FIELDS = ("header_bits", "framing_bits", "side_bits", "index_bits", "index_overhead_bits", "slack",
                 "shortfall_bits")
DECODERS: tuple[tuple[str, Callable[[np.ndarray, float], float]], ...] = (
    ("mmse", theory.mmse), ("f", theory.diffc_f_mse), ("a", theory.diffc_a_mse))


@dataclass(frozen=True)
class Setting:
    """A row of the setting axis: ``GaussianChannel(channel, backend=backend)`` (the search's
    backend never changes a file, only its time), the encoder's ``variance``, how many images (the
    run's ``--images`` overrides), and whether ``--quick`` runs it."""

    name: str
    channel: ChannelSpec = PRESETS["default"]
    variance: str = "posterior"
    images: int = 6
    quick: bool = False
    backend: str = "cpu"


def _chunks(chunk_bits: int, headroom_bits: int) -> ChannelSpec:
    return preset(chunk_bits=chunk_bits, headroom_bits=headroom_bits)


SETTINGS: tuple[Setting, ...] = (
    Setting("defaults", quick=True),  # PRESETS["default"]
    Setting("exact", PRESETS["exact"]),
    Setting("c8h2", _chunks(8, 2), quick=True),
    Setting("c8h4", _chunks(8, 4)),
    Setting("c7h3", _chunks(7, 3)),
    Setting("c6h4", _chunks(6, 4)),
    Setting("c10h2", _chunks(10, 2)),
    Setting("c10h3", _chunks(10, 3)),
    Setting("c12h2", _chunks(12, 2), images=3),
    Setting("public_c16h2", _chunks(16, 2), images=1),  # the public DiffC implementation's setting
    Setting("c8h8_exact", _chunks(8, 8), variance="exact", images=3),  # the old benchmark's setting
)


def _config(quick: bool) -> dict:
    return {"side": 32 if quick else 64, "n_stops": 8 if quick else 12, "max_images": 1 if quick else None,
            "exponent": 2.0, "log_snr_last": LOG_SNR_LAST, "heun_steps": HEUN_STEPS,
            "ancestral_steps": ANCESTRAL_STEPS, "n_bands": 16, "seed": 2024}


def _select(names: str | None, quick: bool) -> list[Setting]:
    if names is None:
        return [s for s in SETTINGS if s.quick or not quick]
    by_name = {s.name: s for s in SETTINGS}
    unknown = [n for n in names.split(",") if n not in by_name]
    if unknown:
        raise SystemExit(f"unknown settings {unknown}; choose from {sorted(by_name)}")
    return [by_name[n] for n in names.split(",")]


def _bands(shape: tuple[int, int], n_bands: int) -> list[np.ndarray]:
    """Masks of radial frequency bands, log-spaced in 1 + radius; empty bands dropped."""
    k1, k2 = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    r = np.log1p(np.hypot(k1, k2))
    index = np.minimum((r / r.max() * n_bands).astype(int), n_bands - 1)
    return [index == b for b in range(n_bands) if np.any(index == b)]


def _realism(xs: Sequence[np.ndarray], lam: np.ndarray, bands: list[np.ndarray]) -> dict:
    """Per-band variance ratios of pooled images against lambda, their mean KL and relative W2^2."""
    c2 = np.mean([DCT2Basis().forward(x) ** 2 for x in xs], axis=0) / lam
    r = np.array([c2[m].mean() for m in bands])
    return {"kl": float(np.mean(0.5 * (r - 1 - np.log(r)))), "w2": float(np.mean((np.sqrt(r) - 1) ** 2)),
            "band_ratios": r.tolist()}


def _realism_floor(n_images: int, bands: list[np.ndarray]) -> float:
    """The expected ``realism_kl`` of ``n_images`` exact samples (see the module docstring)."""
    k = n_images * np.array([m.sum() for m in bands], dtype=float)
    return float(np.mean(0.5 * (np.log(k / 2) - digamma(k / 2))))


def _ideal_at_mse(lam: np.ndarray, mse_fn: Callable[[np.ndarray, float], float], mse: float) -> float | None:
    """I(X; Z) at the SNR where the ideal-coding MSE (per dimension) equals ``mse`` (None when
    ``mse`` is outside what log-SNR in [-30, 30] reaches)."""
    def gap(log_snr: float) -> float:
        return mse_fn(lam, math.exp(log_snr)) / lam.size - mse

    if not gap(-30.0) > 0 > gap(30.0):
        return None
    return theory.mutual_information_bits(lam, math.exp(brentq(gap, -30.0, 30.0, xtol=1e-10)))


def _encode(x: np.ndarray, oracle: GaussianOracle, schedule: EncodingSchedule, setting: Setting,
            seed: int) -> CompressOutput:
    return encode(x, oracle, schedule, GaussianChannel(setting.channel, backend=setting.backend), seed=seed,
                  value_range=VALUE_RANGE, variance=setting.variance)


def _measure_image(x: np.ndarray, oracle: GaussianOracle, schedule: EncodingSchedule, setting: Setting,
                   seed: int) -> tuple[CompressOutput, list[dict], list[np.ndarray]]:
    """Encode once; per stop, the prefix's state, its three reconstructions' MSEs and the ledger."""
    enc = _encode(x, oracle, schedule, setting, seed)
    container = read_container(enc.data)
    rows, samples_a = [], []
    for k, state in enumerate(decode_states(enc.data, oracle), start=1):
        x_a = reconstruct(state.model, state.z, state.t, method="ancestral", steps=ANCESTRAL_STEPS, seed=seed)
        x_f = reconstruct(state.model, state.z, state.t, method="heun", steps=HEUN_STEPS)
        x_m = reconstruct(state.model, state.z, state.t, method="mmse")
        ledger = Ledger(enc.ledger.header_bits, enc.ledger.steps[:k])
        if ledger.file_bits != container.bits_through(k):
            raise AssertionError(f"ledger {ledger.file_bits} bits, prefix {container.bits_through(k)} bits")
        rows.append({
            "real_bits": container.bits_through(k), "ideal_bits": ledger.kl_bits,
            "mse_a": float(np.mean((x_a - x) ** 2)), "mse_f": float(np.mean((x_f - x) ** 2)),
            "mse_mmse": float(np.mean((x_m - x) ** 2)), "encode_s": sum(s.seconds for s in enc.steps[:k]),
            **{name: getattr(ledger, name) for name in LEDGER_FIELDS},
        })
        samples_a.append(x_a)
    return enc, rows, samples_a


def _two_thread_timing(x: np.ndarray, oracle: GaussianOracle, schedule: EncodingSchedule, setting: Setting,
                       seed: int, reference: CompressOutput) -> dict:
    """The first image encoded again with 2 Numba threads (None where Numba has fewer)."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        return {"encode_s_2threads": None, "numba_threads_2": None, "identical_2threads": None}
    numba.set_num_threads(2)
    try:
        enc = _encode(x, oracle, schedule, setting, seed)
        threads = numba.get_num_threads()
    finally:
        numba.set_num_threads(1)
    return {"encode_s_2threads": sum(s.seconds for s in enc.steps), "numba_threads_2": threads,
            "identical_2threads": enc.data == reference.data}


def _stop_rows(setting: Setting, per_image: list[list[dict]], lam: np.ndarray,
               schedule: EncodingSchedule) -> list[dict]:
    """Per stop: the means over images beside the closed forms and the equal-MSE ratios."""
    n = lam.size
    snrs = [schedules.snr(schedule.vp, t) for t in schedule.times]
    rows = []
    for k, (t, snr) in enumerate(zip(schedule.times, snrs, strict=True)):
        mean = {key: float(np.mean([img[k][key] for img in per_image])) for key in per_image[0][k]}
        info = theory.mutual_information_bits(lam, snr)
        planned = (info if setting.variance == "exact"
                   else theory.posterior_variance_rate_bits(lam, snrs[:k + 1]))
        row = {"protocol": "stop", "setting": setting.name, "stop": k + 1, "stop_t": t,
               "sigma": math.sqrt(1.0 / (1.0 + snr)), "log_snr": math.log(snr), "theory_bits": info,
               "schedule_bits": planned, "schedule_cost": planned / info,
               "mse_a_theory": theory.diffc_a_mse(lam, snr) / n,
               "mse_f_theory": theory.diffc_f_mse(lam, snr) / n,
               "mse_mmse_theory": theory.mmse(lam, snr) / n,
               "rd_bound_mse": theory.rate_distortion_mse(lam, mean["real_bits"]) / n, **mean}
        for name, fn in DECODERS:
            ideal = _ideal_at_mse(lam, fn, mean[f"mse_{name}"])
            row[f"ideal_at_mse_{name}"] = ideal
            row[f"ratio_{name}"] = None if ideal is None else mean["real_bits"] / ideal
        rows.append(row)
    return rows


def _summary(setting: Setting, stops: list[dict], samples_a: list[list[np.ndarray]],
             sources: list[np.ndarray], lam: np.ndarray, bands: list[np.ndarray], timing: dict,
             encode_s: list[float], wall_s: float) -> dict:
    last, mid = len(stops) - 1, len(stops) // 2 - 1
    keys = ("real_bits", "ideal_bits", "theory_bits", "schedule_bits", "schedule_cost", "mse_mmse", "mse_f",
            "mse_a", *LEDGER_FIELDS, *(f"{p}_{d}" for p in ("ideal_at_mse", "ratio") for d, _ in DECODERS))
    realism = {f"realism_{stop}_": _realism([img[k] for img in samples_a], lam, bands)
               for stop, k in (("last", last), ("mid", mid))}
    source = _realism(sources, lam, bands)
    n_images = len(sources)
    return {
        "protocol": "summary", "setting": setting.name, "variance": setting.variance,
        "backend": setting.backend, "n_images": n_images,
        **asdict(setting.channel),
        "stop": last + 1, "mid_stop": mid + 1, **{key: stops[last][key] for key in keys},
        **{prefix + key: value for prefix, r in realism.items() for key, value in r.items()},
        "realism_kl_source": source["kl"], "realism_w2_source": source["w2"],
        "realism_floor": _realism_floor(n_images, bands),
        "encode_s_1thread": float(np.mean(encode_s)), "encode_s_1thread_image0": encode_s[0], **timing,
        "setting_wall_s": wall_s,
    }


def _warm_up(vp: ContinuousVP) -> None:
    """Compile the Numba kernels (serial and parallel) before anything is timed."""
    lam = power_law_spectrum((8, 8))
    oracle = GaussianOracle(vp, lam, basis=DCT2Basis())
    schedule = equal_kl(vp, 6, lambda v: theory.mutual_information_bits(lam, math.exp(v)), LOG_SNR_LAST)
    x = DCT2Basis().inverse(np.sqrt(lam) * np.random.default_rng(0).standard_normal(lam.shape))
    for threads in range(1, min(2, numba.config.NUMBA_NUM_THREADS) + 1):
        numba.set_num_threads(threads)
        _encode(x, oracle, schedule, Setting("warm-up"), seed=0)
    numba.set_num_threads(1)


def run(quick: bool, settings: list[Setting], images: int | None) -> tuple[dict, list[dict]]:
    cfg = _config(quick)
    shape = (cfg["side"], cfg["side"])
    lam = power_law_spectrum(shape, cfg["exponent"])
    vp = ContinuousVP("cosine", -15.0, 15.0)
    oracle = GaussianOracle(vp, lam, basis=DCT2Basis())
    # at the times the file writes (2^-16 grid), so the closed forms use the times Z is sent at
    def information(log_snr: float) -> float:
        return theory.mutual_information_bits(lam, math.exp(log_snr))

    schedule = quantized(equal_kl(vp, cfg["n_stops"], information, cfg["log_snr_last"]))
    counts = {s.name: images or min(s.images, cfg["max_images"] or s.images) for s in settings}
    rng = np.random.default_rng(cfg["seed"])
    sources = [DCT2Basis().inverse(np.sqrt(lam) * rng.standard_normal(shape))
               for _ in range(max(counts.values()))]
    bands = _bands(shape, cfg["n_bands"])
    _warm_up(vp)
    rows = []
    for setting in settings:
        started = time.perf_counter()
        xs = sources[:counts[setting.name]]
        measured = [_measure_image(x, oracle, schedule, setting, seed=cfg["seed"] + i)
                    for i, x in enumerate(xs)]
        timing = _two_thread_timing(xs[0], oracle, schedule, setting, cfg["seed"], measured[0][0])
        stops = _stop_rows(setting, [m[1] for m in measured], lam, schedule)
        encode_s = [sum(s.seconds for s in m[0].steps) for m in measured]
        summary = _summary(setting, stops, [m[2] for m in measured], xs, lam, bands, timing, encode_s,
                           time.perf_counter() - started)
        rows += [*stops, summary]
        print(_format_summary(summary), flush=True)
    meta = {"benchmark": "diffc_gaussian", "quick": quick, "dims": lam.size, **cfg,
            "settings": {s.name: {"channel": asdict(s.channel), "variance": s.variance, "backend": s.backend,
                                  "images": counts[s.name]} for s in settings},
            "schedule": "equal_kl(vp, n_stops, I(X; Z) at log-SNR, log_snr_last)", "value_range": VALUE_RANGE,
            "n_bands_nonempty": len(bands), "numba_max_threads": numba.config.NUMBA_NUM_THREADS,
            **machine_meta(),
            "units": "bits per image; mse per dimension; seconds per image; realism in nats"}
    return meta, rows


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


TABLE_HEADER = (f"{'setting':<13} {'img':>3} {'real':>7} {'ideal@MSE':>9} {'ratio M/F/A':>16} {'sched':>5} "
                f"{'realism KL (src)':>16} {'enc s 1t/2t':>12} {'slack':>5} {'short':>6}")


def _format_summary(r: dict) -> str:
    ratios = "/".join(_fmt(r[f"ratio_{d}"], ".2f") for d, _ in DECODERS)
    return (f"{r['setting']:<13} {r['n_images']:>3} {r['real_bits']:>7.0f} "
            f"{_fmt(r['ideal_at_mse_mmse'], '9.0f')} "
            f"{ratios:>16} {r['schedule_cost']:>5.3f} "
            f"{r['realism_last_kl']:>7.4f} ({r['realism_kl_source']:.4f}) "
            f"{r['encode_s_1thread']:>6.1f}/{_fmt(r['encode_s_2threads'], '.1f'):<5} "
            f"{_fmt(r['slack'], '.3f'):>5} {_fmt(r['shortfall_bits'], '.0f'):>6}")


def plot(rows: list[dict], lam: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    summaries = [r for r in rows if r["protocol"] == "summary"]
    names = [r["setting"] for r in summaries]
    colors = {name: f"C{i % 10}" for i, name in enumerate(names)}
    fig, (ax, ax2, ax3) = plt.subplots(1, 3, figsize=(17, 5.2))

    n = lam.size
    first = min(r["log_snr"] for r in rows if r["protocol"] == "stop")
    log_snrs = np.linspace(first - 1.0, LOG_SNR_LAST + 0.5, 60)
    ideal = [theory.mutual_information_bits(lam, math.exp(v)) for v in log_snrs]
    ax.plot(ideal, [theory.mmse(lam, math.exp(v)) / n for v in log_snrs], "k--", lw=1,
            label="MMSE, ideal coding")
    ax.plot(ideal, [theory.rate_distortion_mse(lam, b) / n for b in ideal], "k:", lw=1, label="Gaussian R(D)")
    for name in names:
        stops = [r for r in rows if r["protocol"] == "stop" and r["setting"] == name]
        ax.plot([r["real_bits"] for r in stops], [r["mse_mmse"] for r in stops], "o-", ms=3,
                color=colors[name], label=name)
    ax.set(xlabel="real bits per image", ylabel="MSE per dimension (MMSE decoder)", xscale="log",
           yscale="log", title="Rate-distortion per setting (every stop)")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=7)

    x = np.arange(len(summaries))
    width = 0.27
    for j, (d, label) in enumerate((("mmse", "MMSE"), ("f", "DiffC-F"), ("a", "DiffC-A"))):
        ax2.bar(x + (j - 1) * width, [r[f"ratio_{d}"] or 0.0 for r in summaries], width, label=label,
                color=f"C{j}", alpha=0.8)
    ax2.plot(x, [r["schedule_cost"] for r in summaries], "k_", ms=18, mew=2, label="schedule's own cost")
    ax2.axhline(1.0, color="k", lw=0.8)
    ax2.set_xticks(x, names, rotation=35, ha="right", fontsize=8)
    top = max(r["ratio_mmse"] or 1.0 for r in summaries)
    ax2.set(ylabel="real bits / ideal bits at equal MSE (last stop)", ylim=(0, 1.45 * top),
            title="Headline ratio and encode time")
    secs = ax2.twinx()
    seconds = [r["encode_s_1thread"] for r in summaries]
    secs.plot(x, seconds, "kD", ms=5, label="encode s / image (1 thread)")
    secs.set(yscale="log", ylim=(min(seconds) / 2, max(seconds) * 5),  # diamonds below the legend
             ylabel="encode seconds per image (1 thread)")
    handles = [h for a in (ax2, secs) for h in a.get_legend_handles_labels()[0]]
    ax2.legend(handles=handles, fontsize=7, loc="upper right", ncol=2)

    parts = (("header_bits", "header"), ("framing_bits", "framing"), ("side_bits", "side"),
             ("index_overhead_bits", "index - KL"), ("ideal_bits", "KL"))
    bottom = np.zeros(len(summaries))
    for j, (key, label) in enumerate(parts):
        values = np.array([r[key] for r in summaries])
        ax3.bar(x, values, 0.6, bottom=bottom, label=label, color=f"C{j + 3}")
        bottom += values
    ax3.plot(x, [r["ideal_at_mse_mmse"] or 0.0 for r in summaries], "k_", ms=22, mew=2,
             label="ideal at equal MSE (MMSE)")
    ax3.set_xticks(x, names, rotation=35, ha="right", fontsize=8)
    ax3.set(ylabel="bits per image (last stop)", title="Ledger at the last stop")
    ax3.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI and smoke runs")
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--settings", default=None,
                        help=f"comma-separated names (default: all, or the quick ones with --quick): "
                             f"{','.join(s.name for s in SETTINGS)}")
    parser.add_argument("--images", type=int, default=None, help="images per setting (default: per setting)")
    args = parser.parse_args(argv)
    settings = _select(args.settings, args.quick)
    numba.set_num_threads(1)
    print(TABLE_HEADER, flush=True)
    meta, rows = run(args.quick, settings, args.images)
    write_json(args.json, meta, rows)
    lam = power_law_spectrum((meta["side"], meta["side"]), meta["exponent"])
    plot(rows, lam, args.json.with_suffix(".png"))
    print(TABLE_HEADER)
    for r in rows:
        if r["protocol"] == "summary":
            print(_format_summary(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
