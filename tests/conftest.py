"""Test harness: hypothesis profiles, markers and the CUDA simulator. The statistical budget is
reported and enforced by the rcc.testing pytest plugin's hooks, imported here once the simulator is
chosen (pyproject.toml blocks the plugin's entry point for this suite, which would import numba
first)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

# The ordinary suite runs the CUDA kernels in Numba's simulator. This must happen before numba is
# imported anywhere. `RCC_REAL_GPU=1` runs them (and the `gpu`-marked tests) on a real GPU instead.
REAL_GPU = os.environ.get("RCC_REAL_GPU") == "1"
if not REAL_GPU:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import pytest  # noqa: E402
from hypothesis import HealthCheck, Phase, settings  # noqa: E402

from rcc.testing.plugin import pytest_sessionfinish, pytest_terminal_summary  # noqa: E402, F401

# `make test` is deterministic for everyone: hypothesis derandomized (examples depend only on the
# test's source, not on the machine or on CI) and no example database (nothing replayed from earlier
# runs). `make explore` (HYPOTHESIS_PROFILE=explore) draws fresh random examples instead and skips
# shrinking: a statistical failure does not shrink (a smaller example draws other samples and
# passes), it is printed as found and becomes a fixed @example. docs/testing.md says more.
# deadline=None: Numba compiles on first call, which would trip hypothesis' per-example deadline.
_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deterministic", derandomize=True, max_examples=25, **_COMMON)
settings.register_profile("explore", derandomize=False, max_examples=200,
                          phases=[Phase.explicit, Phase.generate, Phase.target], **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))

EXPLORE_SEED = os.environ.get("RCC_TEST_SEED")
"""Offset added to every fixed seed of the statistical tests: unset (0) in `make test`, a fresh
random value per round in `make explore`, which prints it so a failure can be replayed."""


@pytest.fixture
def stat_seed() -> Callable[[int], int]:
    """``stat_seed(99)``: the seed a statistical test was written with, shifted by RCC_TEST_SEED."""
    offset = int(EXPLORE_SEED or 0)
    return lambda seed: seed + offset


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The size of every image Pillow decodes (``ImageFile.load``) while the test runs, before and
    after the load (a GIF frame may grow the canvas while it loads): what the fuzz suites hold to
    the pixel limit, since Pillow allocates its pixels by that size."""
    from PIL import ImageFile

    sizes: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def counting_load(self: ImageFile.ImageFile) -> object:
        sizes.append(self.size)
        try:
            return load(self)
        finally:
            sizes.append(self.size)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    return sizes


EXPLORE_UNTIL = float(os.environ.get("RCC_EXPLORE_UNTIL", "inf"))
"""Unix time at which `make explore` (tests/explore.py) stops starting tests."""


def pytest_runtest_setup(item: pytest.Item) -> None:
    if time.time() > EXPLORE_UNTIL:
        pytest.skip("the exploration's time budget is spent")


def pytest_report_header(config: pytest.Config) -> str:
    return (f"statistical seeds: RCC_TEST_SEED={EXPLORE_SEED} (replay with this value)"
            if EXPLORE_SEED else "statistical seeds: fixed (RCC_TEST_SEED unset)")


def _real_gpu_present() -> bool:
    if not REAL_GPU:
        return False
    from rcc_kernels import gpu

    return gpu.available() and not gpu.simulator()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _real_gpu_present():
        return
    skip = pytest.mark.skip(reason="needs a real CUDA GPU: run `make test-gpu` on a GPU machine")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)
