"""The examples in docstrings run: every module of rcc_kernels, rcc and diffc is doctested."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import diffc
import rcc
import rcc_kernels

# The CUDA modules import numba.cuda at import time; their kernels are tested in test_randomness.py
# and test_search_kernels.py (simulator) instead.
SKIP = {"rcc_kernels._cuda_kernels", "rcc_kernels.search_cuda"}
MODULES = sorted(
    info.name
    for package in (rcc_kernels, rcc, diffc)
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
    if info.name not in SKIP
) + ["rcc_kernels", "rcc", "diffc"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_some_examples_exist() -> None:
    finder = doctest.DocTestFinder()
    examples = sum(len(test.examples) for n in MODULES
                   for test in finder.find(importlib.import_module(n)))
    assert examples >= 5
