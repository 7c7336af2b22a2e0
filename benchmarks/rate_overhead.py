"""Rate overhead of every coder beside its bounds, and the Theis & Yosri (2022) categorical protocol.

Part 1 ("overhead" rows): for KL from 0.5 to 16 bits, on a Gaussian family (Q = N(s/2, s^2) against
P = N(0, 1)) and a categorical family (Q = 0.9 Uniform(first M symbols) + 0.1 P against a uniform P
on 2^(ceil(D) + 3) symbols), each coder sends ``n_samples`` samples (seed i for sample i). Real bits:
all indices of a row are written into one stream with the coder's index code and its bytes counted
(``mean_bits``); the code's ideal length is ``ideal_bits``. Beside them: Li & El Gamal's
``I + log2(I + 1) + 4`` (``bound_bits``) and Li (2025)'s ``I + log2(I + 3.4) + 1``
(``bound_tight_bits``). Fidelity: ``ks`` (statistic and p-value against Q) for Gaussians; for the
categorical family ``tv`` is the total variation on the partition {first M symbols, rest} (a lower
bound on the true TV) with ``tv_noise``, the mean |error| of an exact sampler at the same n.

Part 2 ("theis_yosri" rows): dimension 8192, targets drawn from Dirichlet(0.01) against a uniform
proposal, N = 1 .. 1024 candidates; per method the total variation of the empirical output law from
Q (``tv``) beside the same statistic for i.i.d. draws from Q itself (``tv_baseline``, measured in
the same run: the noise floor), and the plug-in entropy of the index (``index_entropy_bits``).
``--quick`` uses fewer targets, samples and values of N.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from scipy import optimize, stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_meta, parse_args, write_json  # noqa: E402

from rcc import bounds, testing  # noqa: E402
from rcc.coders import (  # noqa: E402
    GreedyRejectionSampling,
    MinimalRandomCoding,
    OrderedRandomCoding,
    PoissonFunctionalRepresentation,
)
from rcc.codes import FixedLengthCode, ZipfCode  # noqa: E402
from rcc.distributions import Categorical, Normal  # noqa: E402

GRS_MAX_DINF_BITS = 10.0  # GRS levels are a sequential recursion: ~2^D_inf Python steps a sample
HEADROOM_BITS = 2  # fixed-N coders get N = 2^(ceil(D) + HEADROOM_BITS) candidates


# -- families -----------------------------------------------------------------------------------


def gaussian_pair(kl_bits: float) -> tuple[Normal, Normal]:
    """Q = N(s/2, s^2), P = N(0, 1) with D_KL[Q||P] = kl_bits >= 0.2 (D_inf - D below a bit)."""
    def gap(log_s: float) -> float:
        s = math.exp(log_s)
        return bounds.gaussian_kl_bits(s / 2, s, 0.0, 1.0) - kl_bits

    s = math.exp(optimize.brentq(gap, -40.0, -1e-3))
    return Normal(s / 2, s), Normal(0.0, 1.0)


def categorical_pair(kl_bits: float) -> tuple[Categorical, Categorical, int]:
    """Q = 0.9 Uniform(first M) + 0.1 P, P uniform on 2^(ceil(D) + 3) symbols; M by bisection."""
    size = 2 ** (math.ceil(kl_bits) + 3)
    p = np.full(size, 1.0 / size)

    def target(m: int) -> np.ndarray:
        q = 0.1 * p.copy()
        q[:m] += 0.9 / m
        return q

    lo, hi = 1, size  # KL decreases in M
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if Categorical(target(mid)).divergences(Categorical(p)).kl_bits \
            > kl_bits else (lo, mid)
    return Categorical(target(hi)), Categorical(p), hi


# -- part 1 -------------------------------------------------------------------------------------


def _coders(kl: float, dinf: float) -> list[tuple[str, object, int | None]]:
    """(name, coder, number of candidates or None when unbounded)."""
    n = 2 ** (math.ceil(kl) + HEADROOM_BITS)
    zipf = ZipfCode.for_kl(kl)
    coders = [("pfr", PoissonFunctionalRepresentation(code=zipf), None)]
    if dinf <= GRS_MAX_DINF_BITS:
        coders.append(("grs", GreedyRejectionSampling(code=zipf), None))
    coders += [("pfr_truncated", PoissonFunctionalRepresentation(max_candidates=n), n),
               ("orc", OrderedRandomCoding(n, code=ZipfCode.for_kl(kl, n=n)), n),
               ("mrc", MinimalRandomCoding(n, code=FixedLengthCode(n)), n)]
    return coders


def _fidelity(family: str, samples: np.ndarray, q: object, support: int | None) -> dict:
    if family == "gaussian":
        res = stats.kstest(samples, q.cdf)
        return {"ks": float(res.statistic), "ks_pvalue": float(res.pvalue)}
    mass = float(q.probs[:support].sum())
    n = samples.size
    return {"tv": abs(float(np.mean(samples < support)) - mass),
            "tv_noise": math.sqrt(2 * mass * (1 - mass) / (math.pi * n))}


def overhead_rows(kl_grid: tuple[float, ...], max_samples: int,
                  candidate_budget: int) -> list[dict]:
    """Rows of part 1; a row draws ``max_samples`` samples, fewer where 2^D candidates a sample
    would exceed ``candidate_budget`` candidates in all."""
    rows = []
    for family in ("gaussian", "categorical"):
        for kl_target in kl_grid:
            if family == "gaussian":
                (q, p), support = gaussian_pair(kl_target), None
            else:
                q, p, support = categorical_pair(kl_target)
            div = q.divergences(p)
            kl, dinf = div.kl_bits, div.dinf_bits
            n_samples = max(20, min(max_samples, candidate_budget >> math.ceil(kl)))
            for name, coder, candidates in _coders(kl, dinf):
                run = testing.run_coder(coder, q, p, n_samples, seed=1)
                code = coder.index_code
                stream_bits = 8 * len(code.encode([int(k) for k in run.index]))
                row = {
                    "protocol": "overhead", "coder": name, "exact": coder.exact,
                    "family": family, "kl_bits": kl, "dinf_bits": dinf,
                    "candidates": candidates,
                    "index_code": type(code).__name__,
                    "mean_bits": stream_bits / n_samples,
                    "ideal_bits": float(np.mean([code.ideal_bits(int(k)) for k in run.index])),
                    "single_message_bits": float(run.bits.mean()),
                    "bound_bits": bounds.pfr_entropy_bound(kl),
                    "bound_tight_bits": bounds.li2025_bound(kl),
                    "mean_log2_index": float(np.mean(np.log2(run.index + 1.0))),
                    "log_index_bound_bits": bounds.pfr_log_index_bound(kl),
                    "mean_proposals": float(run.proposals.mean()),
                    "expected_proposals": (bounds.grs_expected_proposals(dinf)
                                           if name == "grs" else None),
                    "mean_log_ratio_bits": float(run.log_ratio_bits.mean()),
                    "n_samples": n_samples,
                } | _fidelity(family, run.samples, q, support)
                rows.append(row)
                print(f"{family:>11} D={kl:6.2f} {name:>13}: {row['mean_bits']:7.2f} bits "
                      f"(bound {row['bound_bits']:.2f}, Li 2025 {row['bound_tight_bits']:.2f}), "
                      f"{row['mean_proposals']:.1f} proposals")
    return rows


# -- part 2: Theis & Yosri (2022) ---------------------------------------------------------------


def theis_yosri_rows(dim: int, n_values: tuple[int, ...], n_targets: int,
                     n_samples: int) -> list[dict]:
    rng = np.random.default_rng(2022)
    p = Categorical(np.ones(dim))
    methods = {"pfr_truncated": lambda n: PoissonFunctionalRepresentation(max_candidates=n),
               "orc": OrderedRandomCoding, "mrc": MinimalRandomCoding}
    acc: dict[tuple[str, int], list[tuple[float, float, float, float]]] = {}
    kls = []
    for t in range(n_targets):
        alpha = rng.dirichlet(np.full(dim, 0.01))
        q = Categorical(alpha)
        kls.append(q.divergences(p).kl_bits)
        exact_draws = rng.choice(dim, size=n_samples, p=q.probs)
        baseline = testing.total_variation(np.bincount(exact_draws, minlength=dim), q.probs)
        for name, make in methods.items():
            for n in n_values:
                run = testing.run_coder(make(n), q, p, n_samples, seed=1000 * t)
                counts = np.bincount(run.samples.astype(np.int64), minlength=dim)
                index_counts = np.bincount(run.index, minlength=n)
                acc.setdefault((name, n), []).append((
                    testing.total_variation(counts, q.probs), baseline,
                    float(stats.entropy(index_counts, base=2)),
                    8 * len(FixedLengthCode(n).encode([int(k) for k in run.index])) / n_samples))
    rows = []
    for (name, n), values in acc.items():
        tv, base, entropy, bits = np.mean(values, axis=0)
        rows.append({"protocol": "theis_yosri", "coder": name, "exact": False,
                     "family": f"categorical{dim}-dirichlet0.01", "candidates": n,
                     "kl_bits": float(np.mean(kls)), "tv": float(tv), "tv_baseline": float(base),
                     "index_entropy_bits": float(entropy), "mean_bits": float(bits),
                     "n_targets": n_targets, "n_samples": n_samples})
        print(f"Theis-Yosri {name:>13} N={n:5d}: TV {tv:.3f} (exact-sampler floor {base:.3f}), "
              f"index entropy {entropy:.2f} bits")
    return rows


# -- plot ---------------------------------------------------------------------------------------


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    over = [r for r in rows if r["protocol"] == "overhead"]
    ax = axes[0]
    coders = sorted({r["coder"] for r in over})
    for (coder, family) in sorted({(r["coder"], r["family"]) for r in over}):
        pts = [r for r in sorted(over, key=lambda r: r["kl_bits"])
               if r["coder"] == coder and r["family"] == family]
        ax.plot([r["kl_bits"] for r in pts], [r["mean_bits"] - r["kl_bits"] for r in pts],
                color=f"C{coders.index(coder)}", marker="o" if family == "gaussian" else "s",
                linestyle="-" if pts[0]["exact"] else "--", label=f"{coder} ({family})",
                alpha=0.8)
    grid = np.linspace(0.3, max(r["kl_bits"] for r in over), 100)
    ax.plot(grid, [bounds.pfr_entropy_bound(d) - d for d in grid], "k--",
            label="Li & El Gamal: log2(I+1)+4")
    ax.plot(grid, [bounds.li2025_bound(d) - d for d in grid], "k:", label="Li 2025: log2(I+3.4)+1")
    ax.set(xlabel="D_KL [bits]", ylabel="real bits - D_KL",
           title="Rate overhead (real bits; dashed: fixed N, approximate)")
    ax.legend(fontsize=6)
    ty = [r for r in rows if r["protocol"] == "theis_yosri"]
    for coder in sorted({r["coder"] for r in ty}):
        pts = sorted((r["candidates"], r["tv"], r["index_entropy_bits"]) for r in ty
                     if r["coder"] == coder)
        n, tv, ent = zip(*pts, strict=True)
        axes[1].plot(n, tv, marker="o", label=coder)
        axes[2].plot(n, ent, marker="o", label=coder)
    if ty:
        base = sorted((r["candidates"], r["tv_baseline"]) for r in ty)
        axes[1].plot(*zip(*base, strict=True), "k:", label="exact sampler (noise floor)")
    axes[1].set(xscale="log", xlabel="N", ylabel="total variation",
                title="Dirichlet(0.01), dim 8192: bias")
    axes[2].set(xscale="log", xlabel="N", ylabel="index entropy [bits]",
                title="Dirichlet(0.01), dim 8192: index entropy")
    axes[1].legend(fontsize=7)
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None, *, scale: float = 1.0) -> list[dict]:
    """Run the benchmark; ``scale`` < 1 shrinks sample counts further (for smoke tests)."""
    args = parse_args(__doc__.splitlines()[0], argv)
    if args.quick:
        kl_grid, n_samples, budget = (0.5, 2.0, 8.0, 16.0), 150, 2**21
        ty = {"dim": 8192, "n_values": (1, 8, 64, 1024), "n_targets": 2, "n_samples": 300}
    else:
        kl_grid, n_samples, budget = (0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 16.0), 1000, 2**26
        ty = {"dim": 8192, "n_values": tuple(2**i for i in range(11)), "n_targets": 10,
              "n_samples": 2000}
    n_samples, budget = max(20, int(n_samples * scale)), int(budget * scale)
    ty["n_samples"] = max(20, int(ty["n_samples"] * scale))
    rows = overhead_rows(kl_grid, n_samples, budget) + theis_yosri_rows(**ty)
    meta = machine_meta() | {
        "benchmark": "rate_overhead", "quick": args.quick, "kl_grid": list(kl_grid),
        "candidate_budget": budget,
        "headroom_bits": HEADROOM_BITS, "grs_max_dinf_bits": GRS_MAX_DINF_BITS,
        "theis_yosri": ty,
        "notes": "mean_bits: real bits, all indices of a row in one stream, counted from bytes; "
                 "single_message_bits: one message per sample (range-coded messages are whole "
                 "32-bit words). tv of the categorical overhead family is on a 2-cell partition.",
    }
    write_json(args.json, meta, rows)
    plot(rows, args.json.with_suffix(".png"))
    return rows


if __name__ == "__main__":
    main()
