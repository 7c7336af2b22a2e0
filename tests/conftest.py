"""Test harness: hypothesis profiles, markers, the CUDA simulator and the statistical budget."""

from __future__ import annotations

import os

# The ordinary suite runs the CUDA kernels in Numba's simulator. This must happen before numba is
# imported anywhere. `RCC_REAL_GPU=1` runs them (and the `gpu`-marked tests) on a real GPU instead.
REAL_GPU = os.environ.get("RCC_REAL_GPU") == "1"
if not REAL_GPU:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

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
    from kernels import gpu

    return gpu.available() and not gpu.simulator()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _real_gpu_present():
        return
    skip = pytest.mark.skip(reason="needs a real CUDA GPU: run `make test-gpu` on a GPU machine")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    from rcc import testing

    made = testing.checks_made()
    terminalreporter.write_line(
        f"statistical checks: {made} made, budget {testing.MAX_CHECKS} at alpha={testing.ALPHA:.1e} "
        f"each (suite false-failure budget {testing.SUITE_FALSE_FAILURE_BUDGET:g})"
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from rcc import testing

    if testing.checks_made() > testing.MAX_CHECKS:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nERROR: {testing.checks_made()} statistical checks exceed MAX_CHECKS="
              f"{testing.MAX_CHECKS}; raise the budget split or cut checks")
