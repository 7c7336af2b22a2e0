"""rcc.testing.strategies meet their bounds; the docs' example of testing one's own coder runs as
shown, through the pytest plugin, which reports the checks and enforces the budget."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given

from rcc.testing import strategies as rst

ROOT = Path(__file__).resolve().parent.parent


@given(pair=rst.gaussian_pairs(max_kl_bits=1.5, max_dinf_bits=3.0))
def test_bounded_gaussian_pairs_meet_their_bounds(pair) -> None:
    q, p = pair
    div = q.divergences(p)
    assert div.kl_bits <= 1.5 and div.dinf_bits <= 3.0 and float(q.scale) < float(p.scale)


@given(pair=rst.gaussian_pairs(max_kl_bits=2.0, max_dinf_bits=None))
def test_unbounded_gaussian_pairs_have_an_unbounded_ratio(pair) -> None:
    div = pair[0].divergences(pair[1])
    assert div.kl_bits <= 2.0 and math.isinf(div.dinf_bits)


@given(pair=rst.pairs(max_kl_bits=0.5, max_dinf_bits=1.0), seed=rst.seeds())
def test_mixed_pairs_and_seeds(pair, seed: int) -> None:
    div = pair[0].divergences(pair[1])
    assert div.kl_bits <= 0.5 and div.dinf_bits <= 1.0 and 0 <= seed <= rst.MAX_SEED


def _run_pytest(tmp_path: Path, name: str, source: str) -> subprocess.CompletedProcess:
    (tmp_path / name).write_text(source)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "rcc.testing.plugin", "-q",
                           "-p", "no:cacheprovider", name], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)


def test_the_documented_example_runs_through_the_plugin(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "testing.md").read_text()
    (example,) = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    result = _run_pytest(tmp_path, "test_rejection_sampler.py", example)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert "rcc statistical checks: 3 of 2000 made" in result.stdout


@pytest.mark.slow
def test_the_plugin_fails_a_run_beyond_the_budget(tmp_path: Path) -> None:
    result = _run_pytest(tmp_path, "test_many_checks.py", (
        "from rcc import testing\n\n"
        "def test_many():\n"
        "    for _ in range(testing.MAX_CHECKS + 1):\n"
        "        testing.GoodnessOfFit('none', 0.0, 1.0, 1).check()\n"))
    assert result.returncode == 1
    assert "exceed rcc.testing.MAX_CHECKS" in result.stdout
