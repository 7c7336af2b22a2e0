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

import sys
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_meta, parse_args, write_json  # noqa: E402

from rcc import testing  # noqa: E402
from rcc.coders import (  # noqa: E402
    MinimalRandomCoding,
    OrderedRandomCoding,
    PoissonFunctionalRepresentation,
)
from rcc.codes import FixedLengthCode  # noqa: E402
from rcc.distributions import Categorical  # noqa: E402
from rcc.experiments import overhead  # noqa: E402
from rcc.experiments.overhead import GRS_MAX_DINF_BITS, HEADROOM_BITS  # noqa: E402

# -- part 1: the families, coders and rows live in rcc.experiments.overhead (shared with `rcc overhead`)


def overhead_rows(kl_grid: tuple[float, ...], max_samples: int,
                  candidate_budget: int) -> list[dict]:
    """Rows of part 1; a row draws ``max_samples`` samples, fewer where 2^D candidates a sample
    would exceed ``candidate_budget`` candidates in all."""
    rows = []
    for job in overhead.jobs(kl_grid, max_samples=max_samples, candidate_budget=candidate_budget):
        rows.append(overhead.overhead_row(job.args))
        print(overhead.describe(rows[-1]))
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
    overhead.plot_overhead(axes[0], rows)
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
