"""Test harness: hypothesis profiles, markers and the CUDA simulator. The statistical budget is
reported and enforced by the rcc.testing pytest plugin's hooks, imported here once the simulator is
chosen (pyproject.toml blocks the plugin's entry point for this suite, which would import numba
first)."""

from __future__ import annotations

import os

# The ordinary suite runs the CUDA kernels in Numba's simulator. This must happen before numba is
# imported anywhere. `RCC_REAL_GPU=1` runs them (and the `gpu`-marked tests) on a real GPU instead.
REAL_GPU = os.environ.get("RCC_REAL_GPU") == "1"
if not REAL_GPU:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from rcc.testing.plugin import pytest_sessionfinish, pytest_terminal_summary  # noqa: E402, F401

# deadline=None: Numba compiles on first call, which would trip hypothesis' per-example deadline.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=25,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=25)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


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
