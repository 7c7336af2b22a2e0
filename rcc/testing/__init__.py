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

For users' own property tests, :mod:`rcc.testing.strategies` draws target/proposal pairs and seeds
with hypothesis, and :mod:`rcc.testing.plugin` (a pytest plugin) reports the checks a run made
against the budget (``docs/testing.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "ALPHA",
    "CoderRun",
    "assert_bias_within_bound",
    "assert_channel_exact",
    "assert_exact_coder",
    "assert_follows",
    "assert_mean",
    "assert_tv_within",
    "run_coder",
    "total_variation",
    "MAX_CHECKS",
    "SUITE_FALSE_FAILURE_BUDGET",
    "GoodnessOfFit",
    "StatisticalTestFailure",
    "assert_chi2_counts",
    "assert_count_law",
    "assert_independent",
    "assert_ks",
    "checks_made",
    "chi2_counts",
    "count_law",
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


def count_law(values: object, survival: object) -> GoodnessOfFit:
    """Chi-square test of counts ``N >= 1`` (proposals of a rejection sampler) against their exact
    law, given by ``survival[i] = P[N > i]`` for ``i = 0 .. len(survival) - 1``.

    Such counts are often heavy-tailed (greedy rejection sampling on a smooth peak of dQ/dP has
    ``P[N > i] ~ i^-3``), where a z-test of their mean is invalid: the sample variance misses the
    tail. The counts are binned on doubling ranges ``{1}, {2}, {3, 4}, {5..8}, ...`` with one
    tail bin ``N > len(survival) - 1`` for the rest, and adjacent bins are merged from the tail
    down until each expects at least :data:`MIN_EXPECTED`; the partition depends on the law only.
    """
    n_values = _finite_1d(values, "values")
    if np.any(n_values < 1) or np.any(n_values != np.round(n_values)):
        raise ValueError("values must be integers >= 1")
    s = np.asarray(survival, dtype=np.float64).ravel()
    if s.size == 0 or not abs(s[0] - 1.0) <= 1e-9 or np.any(s < 0):
        raise ValueError("survival must start at P[N > 0] = 1 and stay non-negative")
    n = n_values.size
    # Bin j holds N in [edges[j], edges[j + 1]); the last bin is N >= edges[-1], of mass s[-1]...
    edges = [1, 2]  # then 3, 5, 9, ...: bins {1}, {2}, {3, 4}, {5..8}, ...
    while 2 * edges[-1] - 1 <= s.size:
        edges.append(2 * edges[-1] - 1)
    edges = np.asarray(edges[: np.searchsorted(edges, s.size, side="right")])
    upper = s[edges - 1]  # P[N >= edges[j]]
    # Rounding in a computed survival function can make a difference a hair below zero.
    expected = np.maximum(np.append(-np.diff(upper), upper[-1]), 0.0) * n
    counts = np.bincount(np.searchsorted(edges, n_values, side="right") - 1,
                         minlength=edges.size).astype(np.float64)
    # ...merged from the tail down while a bin expects fewer than MIN_EXPECTED.
    while expected.size > 1 and expected[-1] < MIN_EXPECTED:
        expected = np.append(expected[:-2], expected[-2:].sum())
        counts = np.append(counts[:-2], counts[-2:].sum())
    return chi2_counts(counts, expected / expected.sum())


def assert_count_law(values: object, survival: object, alpha: float = ALPHA,
                     what: str = "") -> GoodnessOfFit:
    """Fail when counts ``N >= 1`` do not follow the law ``survival[i] = P[N > i]``."""
    return count_law(values, survival).check(alpha, what)


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


# -- coder-level assertions ---------------------------------------------------------------------
# These run a coder many times (seed i for sample i) and test what its *decoder* produced.


@dataclass(frozen=True)
class CoderRun:
    """Decoded samples and per-call statistics of ``n`` independent calls of one coder."""

    samples: np.ndarray  # (n, *event_shape)
    index: np.ndarray  # (n,) int64
    bits: np.ndarray  # (n,) real bits per message
    proposals: np.ndarray  # (n,)
    log_ratio_bits: np.ndarray  # (n,) realized log2 dQ/dP at the encoder's candidate


def run_coder(coder: object, target: object, proposal: object, n: int, seed: int = 0,
              stream: tuple[int, ...] = ()) -> CoderRun:
    """Encode and decode ``n`` samples with seeds ``seed .. seed + n - 1``.

    Also checks that every decoder rebuilt the encoder's candidate: the log-ratio of the decoded
    sample must equal, bit for bit, the one the encoder computed on its own copy.
    """
    from rcc.bounds import LN2
    from rcc.core import log_ratio

    samples, rows = [], []
    for i in range(n):
        message, st = coder.encode(target, proposal, seed + i, stream)
        x = coder.decode(message, proposal, seed + i, stream)
        decoded_lr = float(log_ratio(target, proposal, np.asarray(x)[None])[0]) / LN2
        if decoded_lr != st.log_ratio_bits:
            raise AssertionError(
                f"decoder disagrees with encoder at seed {seed + i}: log2 ratio "
                f"{decoded_lr!r} decoded, {st.log_ratio_bits!r} encoded (index {st.index})")
        samples.append(x)
        rows.append((st.index, st.bits, st.proposals, st.log_ratio_bits))
    index, bits, proposals, lr = (np.asarray(c) for c in zip(*rows, strict=True))
    return CoderRun(np.asarray(samples), index.astype(np.int64), bits, proposals, lr)


def _cdf_of(dist: object) -> Callable[[np.ndarray], np.ndarray]:
    cdf = getattr(dist, "cdf", None)
    if cdf is None:
        raise TypeError(f"{type(dist).__name__} has no cdf; cannot run a KS test against it")
    return cdf


def assert_follows(samples: object, target: object, alpha: float = ALPHA,
                   what: str = "") -> list[GoodnessOfFit]:
    """Fail when ``samples`` do not follow ``target``: chi-square on counts for a categorical
    target (``probs``), KS for a univariate one (``cdf``), and for a diagonal Normal two KS tests of
    the standardised vector z (its sum over sqrt(d) against N(0, 1), its squared norm against
    chi2(d)), which see the joint law and not only the marginals."""
    x = np.asarray(samples)
    probs = getattr(target, "probs", None)
    if probs is not None:
        counts = np.bincount(x.astype(np.int64).ravel(), minlength=len(probs))
        if counts.size > len(probs):
            return [GoodnessOfFit("chi-square", np.inf, 0.0, x.size).check(alpha, what)]
        return [assert_chi2_counts(counts, probs, alpha, what)]
    if x.ndim == 2:
        from rcc.distributions import Normal

        if not isinstance(target, Normal):
            raise TypeError("multivariate samples can be tested against a diagonal Normal only, "
                            f"not {type(target).__name__}")
        z = (x - target.loc) / target.scale
        d = z.shape[1]
        return [assert_ks(z.sum(axis=1) / np.sqrt(d), stats.norm.cdf, alpha, f"{what} sum"),
                assert_ks((z**2).sum(axis=1), stats.chi2(d).cdf, alpha, f"{what} norm")]
    return [assert_ks(x, _cdf_of(target), alpha, what)]


def assert_exact_coder(coder: object, target: object, proposal: object, n: int = 20_000,
                       seed: int = 0, alpha: float = ALPHA, what: str = "") -> CoderRun:
    """Fail when an exact coder's decoded samples do not follow the target (see
    :func:`assert_follows`) or when a decoder does not rebuild the encoder's sample."""
    run = run_coder(coder, target, proposal, n, seed)
    assert_follows(run.samples, target, alpha, what or type(coder).__name__)
    return run


def assert_channel_exact(coder: object, channel: Callable[[float], object], proposal: object,
                         inputs: object, seed: int = 0, alpha: float = ALPHA,
                         what: str = "") -> None:
    """Fail when a coder used as a channel X -> Y, with target ``channel(x)`` (a univariate law
    with a ``cdf``) for input ``x``, does not produce the right *joint* law of (X, Y).

    Each output is mapped through its own conditional CDF (probability integral transform):
    correct iff these values are i.i.d. Uniform(0, 1) *and* independent of the input.
    """
    xs = _finite_1d(inputs, "inputs")
    pit = np.empty(xs.size)
    for i, x in enumerate(xs):
        target = channel(float(x))
        message, _ = coder.encode(target, proposal, seed + i)
        pit[i] = float(_cdf_of(target)(coder.decode(message, proposal, seed + i)))
    label = what or f"{type(coder).__name__} channel"
    assert_ks(pit, stats.uniform.cdf, alpha, f"{label} conditional PIT")
    assert_independent(xs, pit, alpha=alpha, what=f"{label} input vs PIT")


def assert_mean(values: object, expected: float, alpha: float = ALPHA,
                what: str = "") -> GoodnessOfFit:
    """Two-sided z-test (CLT) that ``values`` have mean ``expected``; charges one check."""
    v = _finite_1d(values, "values")
    se = v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else 0.0
    if se == 0:
        z = 0.0 if np.isclose(v.mean(), expected, rtol=1e-12, atol=0) else np.inf
    else:
        z = (v.mean() - expected) / se
    return GoodnessOfFit("z-test of the mean", float(z), float(2 * stats.norm.sf(abs(z))),
                         v.size).check(alpha, what)


def total_variation(counts: object, probs: object) -> float:
    """Total variation between the empirical law of ``counts`` and ``probs``."""
    c = np.asarray(counts, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    return float(0.5 * np.abs(c / c.sum() - p).sum())


def assert_tv_within(counts: object, probs: object, bound: float, alpha: float = ALPHA,
                     what: str = "") -> GoodnessOfFit:
    """Fail when the measured total variation of ``counts`` from ``probs`` shows, at level
    ``alpha``, that the true total variation exceeds ``bound``.

    The empirical TV of n samples exceeds the truth by at most sqrt(k / (4 n)) on average over k
    categories, and concentrates within t with probability 1 - exp(-2 n t^2) (McDiarmid), so
    ``p = exp(-2 n excess^2)`` is a conservative p-value for the measured excess.
    """
    c = np.asarray(counts, dtype=np.float64)
    n, k = c.sum(), c.size
    tv = total_variation(c, probs)
    excess = tv - bound - np.sqrt(k / (4 * n))
    pvalue = 1.0 if excess <= 0 else float(np.exp(-2 * n * excess**2))
    return GoodnessOfFit("total variation bound", tv, pvalue, int(n)).check(alpha, what)


def assert_bias_within_bound(coder: object, target: object, proposal: object, bound: float,
                             n: int = 20_000, seed: int = 0, alpha: float = ALPHA,
                             what: str = "") -> float:
    """Fail when an approximate coder's output law is detectably further than ``bound`` in total
    variation from a categorical target; returns the measured total variation."""
    run = run_coder(coder, target, proposal, n, seed)
    counts = np.bincount(run.samples.astype(np.int64), minlength=len(target.probs))
    return assert_tv_within(counts, target.probs, bound, alpha,
                            what or type(coder).__name__).statistic
