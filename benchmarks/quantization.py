"""Rate of dithered quantization against the mutual information of the channel it simulates.

A Gaussian source X ~ N(0, 1) is sent through three exact channel simulators at per-dimension SNRs
from -20 dB to +30 dB (SNR = Var X / Var noise):

* ``uq``: universal quantization, additive Uniform noise (step sqrt(12 / SNR));
* ``layered``: the layered quantizer, additive N(0, 1 / SNR) noise;
* ``hybrid_pfr``: hybrid coding, additive Gaussian noise truncated to +-2 s (window 4 s), one PFR
  search per element, indices Zipf coded; with a plain-PFR baseline (prior N(0, 1 + Var Z), Elias
  delta indices) on a subset: ``pfr_proposals`` and ``pfr_rate_bits`` (its index bits only).

Each row reports ``mi_bits`` (I(X; Y) of the channel actually simulated, per dimension, by
quadrature), ``rate_bits`` (real bits per dimension counted from the bitstream), ``model_bits`` (the
entropy model's own estimate), ``ks_noise`` (KS statistic of the realised noise against its law),
``elements`` and ``seconds`` (encode + decode). Rate minus MI is what scalar quantization wastes:
where it is large compared with the MI, per-dimension dithered quantization stops paying.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import machine_meta, parse_args, write_json  # noqa: E402

from rcc.coders import PoissonFunctionalRepresentation  # noqa: E402
from rcc.codes import ZipfCode  # noqa: E402
from rcc.distributions import Custom, Normal  # noqa: E402
from rcc.quantization import (  # noqa: E402
    HybridCoding,
    LayeredQuantizer,
    Prior,
    UniversalQuantizer,
    dithered_rate_bits,
    layered_rate_bits,
)

SNR_DB = np.arange(-20.0, 31.0, 5.0)
TRUNCATION = 2.0
"""The hybrid coder's noise is N(0, s^2) truncated to +-TRUNCATION s; its window is 2 TRUNCATION s."""
PFR_BASELINE_ELEMENTS = 30


def _row(scheme: str, snr_db: float, mi: float, bits: int, model: float, noise: np.ndarray,
         law: object, seconds: float, **extra: float) -> dict:
    n = noise.size
    return {"scheme": scheme, "snr_db": float(snr_db), "mi_bits": mi, "rate_bits": bits / n,
            "model_bits": model / n, "ks_noise": float(stats.kstest(noise, law.cdf).statistic),
            "elements": n, "seconds": seconds, **extra}


def _dithered(scheme: str, quantizer: object, noise_law: object, mi: float, snr_db: float,
              x: np.ndarray, seed: int, **extra: float) -> dict:
    prior = Prior.gaussian(0.0, 1.0)
    t = time.perf_counter()
    data, coding = quantizer.compress(x, prior, seed=seed)
    y = quantizer.decompress(data, prior, x.shape, seed=seed)
    seconds = time.perf_counter() - t
    return _row(scheme, snr_db, mi, 8 * len(data), coding.model_bits, y - x, noise_law, seconds, **extra)


def _truncated_noise(snr: float) -> object:
    """Truncated Gaussian noise of variance 1 / snr."""
    unit = stats.truncnorm(-TRUNCATION, TRUNCATION)
    return stats.truncnorm(-TRUNCATION, TRUNCATION, scale=1.0 / math.sqrt(snr * unit.var()))


def _mi_additive(noise: object) -> float:
    """I(X; X + Z) = h(X + Z) - h(Z) for X ~ N(0, 1) and bounded noise Z (grid convolution)."""
    half = noise.support()[1]
    dz = min(half, 1.0) / 200
    source = stats.norm.pdf(np.arange(-9.0, 9.0, dz))
    kernel = noise.pdf(np.arange(-half, half, dz) + dz / 2) * dz
    density = np.convolve(source, kernel)
    density = density[density > 0]
    return float(-np.sum(density * np.log2(density)) * dz - noise.entropy() / math.log(2))


def _truncated_target(center: float, noise: object, window: float) -> Custom:
    law = stats.truncnorm(noise.a, noise.b, loc=center, scale=noise.kwds["scale"])
    return Custom(law.logpdf, dinf_bits=math.log2(window * law.pdf(center)),
                  interval=(center - window / 2, center + window / 2))


def _pfr_target(center: float, noise: object, prior_scale: float) -> Custom:
    """The same target with D_inf against the plain-PFR proposal N(0, prior_scale^2), maximised
    over the support (log q - log p is concave there, so a dense grid is accurate)."""
    law = stats.truncnorm(noise.a, noise.b, loc=center, scale=noise.kwds["scale"])
    lo, hi = law.support()
    grid = np.linspace(lo, hi, 4001)
    dinf = float(np.max(law.logpdf(grid) - stats.norm.logpdf(grid, scale=prior_scale))) / math.log(2)
    return Custom(law.logpdf, dinf_bits=dinf, interval=(lo, hi))


def _hybrid(snr_db: float, x: np.ndarray, seed: int) -> dict:
    noise = _truncated_noise(10 ** (snr_db / 10))
    window = 2 * noise.support()[1]
    # Every target has the same shape, so both sides know D_KL[Q || window] and can use the Zipf code.
    kl_bits = math.log2(window) - noise.entropy() / math.log(2)
    coder = HybridCoding(step=window, code=ZipfCode.for_kl(kl_bits))
    proposal = Normal(0.0, math.sqrt(1.0 + noise.var()))
    targets = [_truncated_target(float(c), noise, window) for c in x]
    streams = [(i,) for i in range(x.size)]
    t = time.perf_counter()
    data, chosen, ideal = coder.encode_many(targets, proposal, seed, streams)
    y = coder.decode_many(data, proposal, seed, streams)
    seconds = time.perf_counter() - t
    pfr = PoissonFunctionalRepresentation()
    baseline = [pfr.encode(_pfr_target(float(c), noise, float(proposal.scale)), proposal, seed, (i,))[1]
                for i, c in enumerate(x[:PFR_BASELINE_ELEMENTS])]
    return _row("hybrid_pfr", snr_db, _mi_additive(noise), 8 * len(data), ideal, y - x, noise, seconds,
                proposals=float(np.mean([c.proposals for c in chosen])),
                pfr_proposals=float(np.mean([s.proposals for s in baseline])),
                pfr_rate_bits=8 * len(pfr.index_code.encode([s.index for s in baseline])) / len(baseline))


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    snr = np.linspace(SNR_DB[0], SNR_DB[-1], 200)
    ax.plot(snr, 0.5 * np.log2(1 + 10 ** (snr / 10)), "k:", label="Gaussian channel ½log2(1+SNR)")
    for scheme, color in (("uq", "tab:blue"), ("layered", "tab:orange"), ("hybrid_pfr", "tab:green")):
        sel = [r for r in rows if r["scheme"] == scheme]
        if not sel:
            continue
        s = [r["snr_db"] for r in sel]
        ax.plot(s, [r["rate_bits"] for r in sel], "o-", color=color, label=f"{scheme}: rate")
        ax.plot(s, [r["mi_bits"] for r in sel], "--", color=color, label=f"{scheme}: I(X;Y)")
        ax2.plot(s, [r["rate_bits"] - r["mi_bits"] for r in sel], "o-", color=color, label=scheme)
    ax.set(xlabel="SNR per dimension (dB)", ylabel="bits per dimension", yscale="log",
           title="Real rate vs mutual information")
    ax2.set(xlabel="SNR per dimension (dB)", ylabel="rate − I(X;Y) (bits per dimension)",
            title="Overhead of scalar channel simulation")
    ax.legend(fontsize=7)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None, elements: int | None = None,
         hybrid_elements: int | None = None) -> list[dict]:
    """``elements`` / ``hybrid_elements`` override the sizes (the smoke test uses small ones)."""
    args = parse_args(__doc__.splitlines()[0], argv)
    n = elements or (20_000 if args.quick else 1_000_000)
    n_hybrid = hybrid_elements or (300 if args.quick else 3000)
    rng = np.random.default_rng(2024)
    rows = []
    for i, snr_db in enumerate(SNR_DB):
        snr = 10 ** (snr_db / 10)
        x = rng.normal(size=n)
        step = math.sqrt(12 / snr)
        rows.append(_dithered("uq", UniversalQuantizer(step), stats.uniform(-step / 2, step),
                              dithered_rate_bits(stats.norm(), step), snr_db, x, seed=i))
        scale = 1 / math.sqrt(snr)
        rows.append(_dithered("layered", LayeredQuantizer(scale), stats.norm(0, scale),
                              0.5 * math.log2(1 + snr), snr_db, x, seed=i,
                              expected_bits=layered_rate_bits(stats.norm(), scale)))
        rows.append(_hybrid(snr_db, x[:n_hybrid], seed=i))
        for r in rows[-3:]:
            print(f"{r['scheme']:>10} {snr_db:+5.0f} dB: I={r['mi_bits']:.4f} rate={r['rate_bits']:.4f} "
                  f"model={r['model_bits']:.4f} ks={r['ks_noise']:.4f} ({r['seconds']:.2f} s)")
    meta = machine_meta() | {"benchmark": "quantization", "quick": args.quick, "source": "N(0, 1)",
                             "snr": "Var X / Var noise", "truncation": TRUNCATION,
                             "pfr_baseline_elements": PFR_BASELINE_ELEMENTS}
    write_json(args.json, meta, rows)
    _plot(rows, args.json.with_suffix(".png"))
    return rows


if __name__ == "__main__":
    main()
