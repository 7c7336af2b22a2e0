"""Statistical assertions for channel simulators, for this project's tests and for users' coders.

How thresholds are chosen
-------------------------
The whole test suite has one false-failure budget, :data:`SUITE_FALSE_FAILURE_BUDGET`: the
probability that a *correct* implementation fails any statistical check in one run of the suite.
It is split evenly (Bonferroni) over at most :data:`MAX_CHECKS` statistical checks, so each check
rejects at ``p < ALPHA``. A test that makes several checks (for example one per hypothesis example)
charges each of them; :func:`checks_made` counts them, and the project's ``tests/conftest.py``
fails the run when a full suite makes more than ``MAX_CHECKS``.
Seeds are fixed, so a given run is reproducible; the budget bounds how unlucky a seed choice can be.

Power comes from sample size, not from a loose threshold: with ``n`` samples a KS test detects a
shift of the CDF by about ``sqrt(-log(ALPHA / 2) / (2 n))`` (about 0.012 for n = 100,000), and a
chi-square test on counts detects a total-variation error of order ``sqrt(k / n)`` for ``k`` bins.
Tests pick ``n`` so that the bugs they target sit well beyond these limits.

Joint behaviour matters: :func:`assert_independent` checks that the error of a channel does not
depend on its input, with a chi-square test on a contingency table of quantile bins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "ALPHA",
    "MAX_CHECKS",
    "SUITE_FALSE_FAILURE_BUDGET",
    "GoodnessOfFit",
    "StatisticalTestFailure",
    "assert_chi2_counts",
    "assert_independent",
    "assert_ks",
    "checks_made",
    "chi2_counts",
    "independence",
    "ks",
]

SUITE_FALSE_FAILURE_BUDGET = 1e-3
"""Probability that a correct implementation fails any statistical check in one suite run."""
MAX_CHECKS = 2000
"""Upper bound on the number of statistical checks one suite run makes."""
ALPHA = SUITE_FALSE_FAILURE_BUDGET / MAX_CHECKS
"""Per-check significance level (5e-7)."""

MIN_EXPECTED = 5.0
"""Bins with smaller expected counts are pooled before a chi-square test (Cochran's rule)."""


_CHECKS_MADE = [0]


def checks_made() -> int:
    """Number of statistical checks made in this process (charged against the budget)."""
    return _CHECKS_MADE[0]


class StatisticalTestFailure(AssertionError):
    """A goodness-of-fit or independence test rejected at the suite's per-check level."""


@dataclass(frozen=True)
class GoodnessOfFit:
    """Result of one test: its name, statistic, p-value and sample size."""

    test: str
    statistic: float
    pvalue: float
    n: int

    def check(self, alpha: float = ALPHA, what: str = "") -> GoodnessOfFit:
        """Raise :class:`StatisticalTestFailure` when ``pvalue < alpha``; charge one check."""
        _CHECKS_MADE[0] += 1
        if not np.isfinite(self.pvalue) or self.pvalue < alpha:
            raise StatisticalTestFailure(
                f"{what or 'sample'} failed {self.test}: statistic={self.statistic:.6g}, "
                f"p={self.pvalue:.3g} < alpha={alpha:.3g} (n={self.n})"
            )
        return self


def _finite_1d(samples: object, name: str) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} holds non-finite values")
    return x


def ks(samples: object, cdf: Callable[[np.ndarray], np.ndarray] | str | object) -> GoodnessOfFit:
    """One-sample Kolmogorov-Smirnov test of ``samples`` against a continuous ``cdf``.

    ``cdf`` is a callable, a scipy.stats frozen distribution, or a scipy.stats name.
    """
    x = _finite_1d(samples, "samples")
    target = cdf.cdf if hasattr(cdf, "cdf") else cdf
    res = stats.kstest(x, target)
    return GoodnessOfFit("KS", float(res.statistic), float(res.pvalue), x.size)


def assert_ks(samples: object, cdf: object, alpha: float = ALPHA, what: str = "") -> GoodnessOfFit:
    """Fail when ``samples`` are not distributed as ``cdf`` at level ``alpha``."""
    return ks(samples, cdf).check(alpha, what)


def _pool(counts: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge bins, smallest expectation first, until every bin expects at least MIN_EXPECTED."""
    order = np.argsort(expected)
    c, e = counts[order], expected[order]
    cum_e = np.cumsum(e)
    # Pool the smallest bins into one while their total is below the threshold.
    k = int(np.searchsorted(cum_e, MIN_EXPECTED))
    if k == 0:
        return c, e
    k = min(k + 1, e.size)
    pooled_c = np.concatenate([[c[:k].sum()], c[k:]])
    pooled_e = np.concatenate([[e[:k].sum()], e[k:]])
    return pooled_c, pooled_e


def chi2_counts(counts: object, probs: object) -> GoodnessOfFit:
    """Pearson chi-square test of observed ``counts`` against category probabilities ``probs``.

    Categories of probability zero must have zero counts (otherwise the p-value is 0).
    """
    c = np.asarray(counts, dtype=np.float64).ravel()
    p = np.asarray(probs, dtype=np.float64).ravel()
    if c.shape != p.shape:
        raise ValueError(f"counts {c.shape} and probs {p.shape} differ in shape")
    if np.any(p < 0) or not np.isclose(p.sum(), 1.0, rtol=1e-9, atol=1e-12):
        raise ValueError("probs must be non-negative and sum to 1")
    n = int(c.sum())
    if n == 0:
        raise ValueError("counts are all zero")
    if np.any(c[p == 0] > 0):
        return GoodnessOfFit("chi-square", np.inf, 0.0, n)
    expected = p[p > 0] * n
    obs, exp = _pool(c[p > 0], expected)
    if obs.size < 2:
        return GoodnessOfFit("chi-square", 0.0, 1.0, n)
    statistic = float(np.sum((obs - exp) ** 2 / exp))
    pvalue = float(stats.chi2.sf(statistic, obs.size - 1))
    return GoodnessOfFit("chi-square", statistic, pvalue, n)


def assert_chi2_counts(counts: object, probs: object, alpha: float = ALPHA,
                       what: str = "") -> GoodnessOfFit:
    """Fail when ``counts`` do not follow ``probs`` at level ``alpha``."""
    return chi2_counts(counts, probs).check(alpha, what)


def _quantile_bins(x: np.ndarray, bins: int) -> np.ndarray:
    edges = np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1])
    return np.searchsorted(edges, x, side="right")


def independence(x: object, y: object, bins: int = 8) -> GoodnessOfFit:
    """Chi-square test of independence on a ``bins`` x ``bins`` table of quantile bins of x and y."""
    a = _finite_1d(x, "x")
    b = _finite_1d(y, "y")
    if a.size != b.size:
        raise ValueError("x and y must have the same length")
    table = np.zeros((bins, bins))
    np.add.at(table, (_quantile_bins(a, bins), _quantile_bins(b, bins)), 1)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if min(table.shape) < 2:
        return GoodnessOfFit("chi-square independence", 0.0, 1.0, a.size)
    res = stats.chi2_contingency(table, correction=False)
    return GoodnessOfFit("chi-square independence", float(res.statistic), float(res.pvalue), a.size)


def assert_independent(x: object, y: object, bins: int = 8, alpha: float = ALPHA,
                       what: str = "") -> GoodnessOfFit:
    """Fail when x and y are detectably dependent (e.g. a channel's error and its input)."""
    return independence(x, y, bins).check(alpha, what)
