"""The rate-overhead experiment: real bits of each coder beside Li & El Gamal's and Li (2025)'s bounds.

For each KL on a grid, on a Gaussian family (Q = N(s/2, s^2) against P = N(0, 1)) and a categorical
family (Q = 0.9 Uniform(first M symbols) + 0.1 P against a uniform P on 2^(ceil(D) + 3) symbols),
each coder sends ``n_samples`` samples (seed ``seed`` + i for sample i, as :func:`rcc.testing.run_coder`
draws them). Real bits: all indices of a row are written into one stream with the coder's index code
and its bytes counted (``mean_bits``); the code's ideal length is ``ideal_bits``. Beside them:
``I + log2(I + 1) + 4`` (``bound_bits``) and ``I + log2(I + 3.4) + 1`` (``bound_tight_bits``).
Fidelity: ``ks`` (statistic and p-value against Q) for Gaussians; for the categorical family ``tv``
is the total variation on the partition {first M symbols, rest} (a lower bound on the true TV) with
``tv_noise``, the mean |error| of an exact sampler at the same n.

One job is one coder on one family at one KL (:func:`jobs`); a row depends only on its job's
parameters, so the rows are the same on every executor of :mod:`rcc.experiments`.
``benchmarks/rate_overhead.py`` and ``rcc overhead`` both build their rows here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import optimize, stats

from rcc import bounds, testing
from rcc.coders import (
    GreedyRejectionSampling,
    MinimalRandomCoding,
    OrderedRandomCoding,
    PoissonFunctionalRepresentation,
)
from rcc.codes import FixedLengthCode, ZipfCode
from rcc.distributions import Categorical, Normal
from rcc.experiments.executors import Executor
from rcc.experiments.jobs import Job, JobOutput, stable_id
from rcc.experiments.runner import Report, run_jobs
from rcc.experiments.store import atomic_write

__all__ = ["CODERS", "FAMILIES", "OverheadParams", "categorical_pair", "describe", "gaussian_pair", "jobs",
           "make_coder", "overhead_row", "plot", "plot_overhead", "run", "worker"]

GRS_MAX_DINF_BITS = 10.0  # GRS levels are a sequential recursion: ~2^D_inf Python steps a sample
HEADROOM_BITS = 2  # fixed-N coders get N = 2^(ceil(D) + HEADROOM_BITS) candidates
CODERS = ("pfr", "grs", "pfr_truncated", "orc", "mrc")
FAMILIES = ("gaussian", "categorical")
FULL_GRID = (0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 16.0)
JOB_FORMAT = 1


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


def _pair(family: str, kl_target: float) -> tuple[object, object, int | None]:
    if family == "gaussian":
        return (*gaussian_pair(kl_target), None)
    if family == "categorical":
        return categorical_pair(kl_target)
    raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")


def make_coder(name: str, kl: float) -> tuple[object, int | None]:
    """The coder ``name`` for a target of KL ``kl`` bits and its number of candidates (None: unbounded)."""
    n = 2 ** (math.ceil(kl) + HEADROOM_BITS)
    coders = {"pfr": lambda: (PoissonFunctionalRepresentation(code=ZipfCode.for_kl(kl)), None),
              "grs": lambda: (GreedyRejectionSampling(code=ZipfCode.for_kl(kl)), None),
              "pfr_truncated": lambda: (PoissonFunctionalRepresentation(max_candidates=n), n),
              "orc": lambda: (OrderedRandomCoding(n, code=ZipfCode.for_kl(kl, n=n)), n),
              "mrc": lambda: (MinimalRandomCoding(n, code=FixedLengthCode(n)), n)}
    if name not in coders:
        raise ValueError(f"coder must be one of {CODERS}, got {name!r}")
    return coders[name]()


def _fidelity(family: str, samples: np.ndarray, q: object, support: int | None) -> dict:
    if family == "gaussian":
        res = stats.kstest(samples, q.cdf)
        return {"ks": float(res.statistic), "ks_pvalue": float(res.pvalue)}
    mass = float(q.probs[:support].sum())
    n = samples.size
    return {"tv": abs(float(np.mean(samples < support)) - mass),
            "tv_noise": math.sqrt(2 * mass * (1 - mass) / (math.pi * n))}


# -- jobs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverheadParams:
    """One job: ``coder`` on ``family`` at ``kl_target`` bits; ``max_samples`` samples, fewer where
    2^D candidates a sample would exceed ``candidate_budget`` candidates in all; seeds from ``seed``."""

    family: str
    kl_target: float
    coder: str
    max_samples: int
    candidate_budget: int
    seed: int = 1

    @property
    def name(self) -> str:
        return f"{self.family}-kl{self.kl_target:g}-{self.coder}"


def jobs(kl_grid: Sequence[float] = FULL_GRID, *, families: Sequence[str] = FAMILIES,
         coders: Sequence[str] = CODERS, max_samples: int = 1000, candidate_budget: int = 2**26,
         seed: int = 1) -> list[Job]:
    """The jobs of a grid, family by family, KL by KL, coder by coder; GRS only where D_inf is at most
    ``GRS_MAX_DINF_BITS`` (it needs about 2^D_inf sequential steps a sample)."""
    out = []
    for family in families:
        for kl_target in kl_grid:
            q, p, _ = _pair(family, kl_target)
            dinf = q.divergences(p).dinf_bits
            for coder in coders:
                make_coder(coder, 1.0)  # unknown names fail here, not in a worker
                if coder == "grs" and dinf > GRS_MAX_DINF_BITS:
                    continue
                params = OverheadParams(family, float(kl_target), coder, max_samples, candidate_budget, seed)
                out.append(Job(params.name, stable_id("rcc-overhead", JOB_FORMAT, asdict(params)), params))
    return out


def overhead_row(params: OverheadParams) -> dict:
    """One row: real and ideal bits, the bounds, proposals, log-ratio and fidelity of one coder."""
    q, p, support = _pair(params.family, params.kl_target)
    div = q.divergences(p)
    kl, dinf = div.kl_bits, div.dinf_bits
    n_samples = max(20, min(params.max_samples, params.candidate_budget >> math.ceil(kl)))
    coder, candidates = make_coder(params.coder, kl)
    run = testing.run_coder(coder, q, p, n_samples, seed=params.seed)
    code = coder.index_code
    stream_bits = 8 * len(code.encode([int(k) for k in run.index]))
    return {
        "protocol": "overhead", "coder": params.coder, "exact": coder.exact,
        "family": params.family, "kl_bits": kl, "dinf_bits": dinf,
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
        "expected_proposals": bounds.grs_expected_proposals(dinf) if params.coder == "grs" else None,
        "mean_log_ratio_bits": float(run.log_ratio_bits.mean()),
        "n_samples": n_samples,
    } | _fidelity(params.family, run.samples, q, support)


def _run_row(params: OverheadParams) -> JobOutput:
    return JobOutput(overhead_row(params))


def worker() -> Callable[[OverheadParams], JobOutput]:
    """The worker factory of :func:`run` (nothing to load: every job builds its own coder)."""
    return _run_row


def describe(row: dict) -> str:
    """One line of a row, as the benchmark prints it."""
    return (f"{row['family']:>11} D={row['kl_bits']:6.2f} {row['coder']:>13}: {row['mean_bits']:7.2f} bits "
            f"(bound {row['bound_bits']:.2f}, Li 2025 {row['bound_tight_bits']:.2f}), "
            f"{row['mean_proposals']:.1f} proposals")


def run(job_list: Sequence[Job], out: Path, *, executor: Executor | None = None, retries: int = 1,
        progress: bool = True, meta: dict | None = None) -> Report:
    """Run (or resume) the jobs into ``out/jobs/``, then write ``out/rate_overhead.json`` (the
    benchmark's ``{"meta", "rows"}`` layout, rows in job order) and ``out/rate_overhead.png``;
    ``meta["partial"]`` says whether rows are missing (failed or not yet run)."""
    report = run_jobs(job_list, worker, out, executor=executor, retries=retries, progress=progress,
                      desc="rcc overhead")
    rows = [{k: v for k, v in r.items() if k not in ("job_id", "attempts")} for r in report.results.values()]
    summary = report.summary()
    meta = (meta or {}) | {"experiment": "rate_overhead"} | {
        k: summary[k] for k in ("partial", "jobs", "failed", "missing")}
    payload = json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n"
    atomic_write(Path(out) / "rate_overhead.json", payload.encode())
    if rows:
        title = "" if report.complete else f" (partial: {len(rows)} of {len(job_list)} rows)"
        plot(rows, Path(out) / "rate_overhead.png", title)
    return report


# -- plots --------------------------------------------------------------------------------------


def plot_overhead(ax: object, rows: Sequence[dict], title_suffix: str = "") -> None:
    """Real bits minus KL against KL for every coder and family, with both bounds (one panel)."""
    over = [r for r in rows if r["protocol"] == "overhead"]
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
           title="Rate overhead (real bits; dashed: fixed N, approximate)" + title_suffix)
    ax.legend(fontsize=6)


def plot(rows: Sequence[dict], path: Path, title_suffix: str = "") -> None:
    """The overhead panel alone, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    plot_overhead(ax, rows, title_suffix)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
