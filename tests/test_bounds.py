"""The theory printed beside measurements (docs/theory.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from rcc import bounds


@pytest.mark.parametrize(("m", "s", "v"), [(1.0, 0.5, 1.0), (-3.0, 0.1, 2.0), (0.0, 0.9, 1.0)])
def test_gaussian_divergences_against_numerics(m: float, s: float, v: float) -> None:
    q, p = stats.norm(m, s), stats.norm(0.0, v)
    kl = integrate.quad(lambda x: q.pdf(x) * (q.logpdf(x) - p.logpdf(x)), m - 12 * s, m + 12 * s)[0]
    assert bounds.gaussian_kl_bits(m, s, 0.0, v) == pytest.approx(kl / math.log(2), rel=1e-7)
    x = np.linspace(m - 10, m + 10, 400_001)
    sup = np.max(q.logpdf(x) - p.logpdf(x)) / math.log(2)
    assert bounds.gaussian_dinf_bits(m, s, 0.0, v) == pytest.approx(sup, rel=1e-7)


def test_gaussian_formulas_of_the_design() -> None:
    m, v = 1.5, 2.0
    assert bounds.gaussian_kl_bits(m, v, 0.0, v) == pytest.approx(m**2 / (2 * v**2 * math.log(2)))
    assert bounds.gaussian_dinf_bits(m, v, 0.0, v) == math.inf
    assert bounds.gaussian_dinf_bits(0.0, v, 0.0, v) == 0.0
    assert bounds.gaussian_dinf_bits(0.0, 3.0, 0.0, 1.0) == math.inf
    # Diagonal: sums over coordinates.
    assert bounds.gaussian_kl_bits([1.0, 2.0], [0.5, 0.5]) == pytest.approx(
        bounds.gaussian_kl_bits(1.0, 0.5) + bounds.gaussian_kl_bits(2.0, 0.5))
    with pytest.raises(ValueError):
        bounds.gaussian_kl_bits(0.0, -1.0)
    with pytest.raises(ValueError):
        bounds.gaussian_dinf_bits(float("nan"), 1.0)


def test_coding_bounds() -> None:
    assert bounds.LOG2E_OVER_E == pytest.approx(0.5307, abs=1e-4)
    assert bounds.pfr_log_index_bound(2.0) == pytest.approx(3.0 + bounds.LOG2E_OVER_E)
    assert bounds.pfr_entropy_bound(0.0) == 4.0
    assert bounds.pfr_entropy_bound(3.0) == 9.0
    assert bounds.li2025_bound(0.0) == pytest.approx(math.log2(3.4) + 1)
    for i in (0.0, 0.5, 4.0, 100.0):  # Li 2025 is the tighter one
        assert bounds.li2025_bound(i) < bounds.pfr_entropy_bound(i)
    assert bounds.grs_expected_proposals(3.0) == 8.0
    assert bounds.fixed_n_tv_bound(4.0, 256) == 0.5
    assert bounds.fixed_n_tv_bound(4.0, 2) == 1.0
    assert bounds.fixed_n_tv_bound(4.0, 1) == 1.0
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError):
            bounds.pfr_entropy_bound(bad)
    with pytest.raises(ValueError):
        bounds.fixed_n_tv_bound(1.0, 0)
