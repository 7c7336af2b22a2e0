"""The chunked Gaussian channel on uneven KL: bits per bit of KL, fidelity, and heavy coordinates.

Equal-variance Gaussian channels as DiffC sends them (target N(mu_p + s delta, s^2) against the
prior N(mu_p, s^2)), with a standard normal ``delta`` scaled to a total KL, so that per-coordinate
KL is uneven (chi-square with one degree of freedom, times KL / D), at D = 4,096 and 24,576 and
KL = 200, 1,000 and 4,000 bits, for each channel preset (:data:`rcc.gaussian.PRESETS`).

Per row: ``bits_per_kl_bit`` (real message bits over the KL: the baseline is the ideal, 1.0),
``n_chunks`` and ``n_heavy`` (dimensions sent alone), ``slack`` (mean chunk KL over chunk_bits),
``shortfall_bits`` (KL minus the realized log-ratio, summed over chunks), and the sample's
fidelity: ``ks_pvalue`` of the per-chunk projections of the decoded error on the chunk's mean
difference, standardised, pooled over chunks and calls (N(0, 1) for an exact sampler; truncation
pulls it toward the prior). ``encode_s``: seconds per call (the host's Numba threads).

``kind: "heavy"``: the same channel with one coordinate raised to 12 bits (the heavy coordinate of
issue 13), against the problem without it, measured in the same run: ``time_ratio`` (encode
seconds) and ``work_ratio`` (candidate-dimensions searched). Before chunks got their own budgets,
one such coordinate made every chunk search 2^(12 + headroom) candidates.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_meta, parse_args, write_json  # noqa: E402

from rcc.gaussian import PRESETS, GaussianChannel  # noqa: E402

SCALE = 0.3
SEED = 11


def _problem(rng: np.random.Generator, dim: int, kl_bits: float) -> tuple[np.ndarray, ...]:
    mu_p = rng.normal(size=dim)
    delta = rng.normal(size=dim)
    delta *= math.sqrt(2 * kl_bits * math.log(2) / np.sum(delta**2))
    s = np.full(dim, SCALE)
    return mu_p + SCALE * delta, s, mu_p, s


def _projections(channel: GaussianChannel, z: np.ndarray, mu_q: np.ndarray, mu_p: np.ndarray,
                 dim: int, message: bytes) -> np.ndarray:
    """Standardised error of every chunk along that chunk's mean difference (N(0, 1) if exact)."""
    error, diff = (z - mu_q) / SCALE, (mu_q - mu_p) / SCALE
    return np.array([error[c] @ diff[c] / np.linalg.norm(diff[c])
                     for c in channel.chunk_coordinates(message, dim, seed=SEED) if np.any(diff[c])])


def grid_row(preset: str, dim: int, kl_bits: float, calls: int) -> dict:
    channel = GaussianChannel(PRESETS[preset])
    rng = np.random.default_rng(dim + int(kl_bits))
    bits, kl, chunks, heavy, shortfall, seconds, projections = [], [], [], [], [], [], []
    for _ in range(calls):
        mu_q, s_q, mu_p, s_p = _problem(rng, dim, kl_bits)
        started = time.perf_counter()
        message, st = channel.encode(mu_q, s_q, mu_p, s_p, seed=SEED)
        seconds.append(time.perf_counter() - started)
        z = channel.decode(message, mu_p, s_p, seed=SEED)
        projections.append(_projections(channel, z, mu_q, mu_p, dim, message))
        bits.append(st.bits)
        kl.append(st.kl_bits)
        chunks.append(st.n_chunks)
        heavy.append(st.n_heavy)
        shortfall.append(st.shortfall_bits)
    pooled = np.concatenate(projections)
    ks = stats.kstest(pooled, "norm")
    return {"kind": "grid", "preset": preset, **asdict(PRESETS[preset]), "dims": dim, "kl_bits": kl_bits,
            "calls": calls, "bits": float(np.mean(bits)), "bits_per_kl_bit": float(np.sum(bits) / np.sum(kl)),
            "n_chunks": float(np.mean(chunks)), "n_heavy": float(np.mean(heavy)),
            "slack": float(np.sum(kl) / (np.sum(chunks) * channel.spec.chunk_bits)),
            "shortfall_bits": float(np.mean(shortfall)), "projections": int(pooled.size),
            "ks": float(ks.statistic), "ks_pvalue": float(ks.pvalue), "encode_s": float(np.mean(seconds))}


def heavy_row(preset: str, dim: int, kl_bits: float) -> dict:
    """One coordinate at 12 bits against the same problem without it (same run)."""
    channel = GaussianChannel(PRESETS[preset])
    mu_q, s_q, mu_p, s_p = _problem(np.random.default_rng(7), dim, kl_bits)
    raised = mu_q.copy()
    raised[0] = mu_p[0] + SCALE * math.sqrt(2 * 12 * math.log(2))
    timings, work = [], []
    for target in (mu_q, raised):
        channel.encode(target, s_q, mu_p, s_p, seed=SEED)  # compile and warm caches
        started = time.perf_counter()
        _, st = channel.encode(target, s_q, mu_p, s_p, seed=SEED)
        timings.append(time.perf_counter() - started)
        work.append(st.candidate_dims)
    return {"kind": "heavy", "preset": preset, **asdict(PRESETS[preset]), "dims": dim, "kl_bits": kl_bits,
            "heavy_bits": 12.0, "encode_s": timings[1], "baseline_encode_s": timings[0],
            "time_ratio": timings[1] / timings[0], "work_ratio": work[1] / work[0]}


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    grid = [r for r in rows if r["kind"] == "grid"]
    for i, preset in enumerate(dict.fromkeys(r["preset"] for r in grid)):
        for j, dim in enumerate(sorted({r["dims"] for r in grid})):
            sel = sorted((r for r in grid if r["preset"] == preset and r["dims"] == dim),
                         key=lambda r: r["kl_bits"])
            style = dict(color=f"C{i}", marker="os"[j], ls="-:"[j], label=f"{preset}, D = {dim}")
            axes[0].plot([r["kl_bits"] for r in sel], [r["bits_per_kl_bit"] for r in sel], **style)
            axes[1].plot([r["kl_bits"] for r in sel], [r["ks_pvalue"] for r in sel], **style)
    axes[0].axhline(1.0, color="k", lw=0.8)
    axes[0].set(xscale="log", xlabel="KL (bits)", ylabel="real bits / KL", title="Rate on uneven KL")
    axes[1].axhline(1e-3, color="k", lw=0.8)
    axes[1].set(xscale="log", yscale="log", xlabel="KL (bits)", ylabel="KS p-value of chunk projections",
                title="Is the sample one of the target?")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(__doc__.splitlines()[0], argv)
    quick = ((1024,), (100.0, 400.0), 2)
    dims, kls, calls = quick if args.quick else ((4096, 24576), (200.0, 1000.0, 4000.0), 4)
    rows = []
    for preset in PRESETS:
        for dim in dims:
            for kl in kls:
                row = grid_row(preset, dim, kl, calls)
                rows.append(row)
                print(f"{preset:>7} D={dim:6d} KL={kl:6.0f}: {row['bits_per_kl_bit']:.3f} bits per KL bit, "
                      f"{row['n_chunks']:.0f} chunks ({row['n_heavy']:.1f} heavy), slack {row['slack']:.2f}, "
                      f"shortfall {row['shortfall_bits']:.1f}, KS p {row['ks_pvalue']:.2g} "
                      f"({row['projections']}), {row['encode_s']:.2f} s")
        row = heavy_row(preset, dims[0], kls[-1])
        rows.append(row)
        print(f"{preset:>7} one 12-bit coordinate: {row['time_ratio']:.2f}x the time, "
              f"{row['work_ratio']:.2f}x the search work")
    presets = {name: asdict(spec) for name, spec in PRESETS.items()}
    meta = machine_meta() | {"benchmark": "channel_grid", "quick": args.quick, "presets": presets,
                             "scale": SCALE}
    write_json(args.json, meta, rows)
    _plot(rows, args.json.with_suffix(".png"))
    return rows


if __name__ == "__main__":
    main()
