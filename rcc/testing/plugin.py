"""A pytest plugin for suites that use :mod:`rcc.testing`: it reports, at the end of the run, how
many statistical checks were made and the false-failure probability they add up to, and fails a
run that makes more checks than :data:`rcc.testing.MAX_CHECKS` (the budget's split would no longer
hold). Load it with ``pytest -p rcc.testing.plugin`` or, once installed, through its ``pytest11``
entry point; ``docs/testing.md`` shows an example.

Each check rejects at ``ALPHA = SUITE_FALSE_FAILURE_BUDGET / MAX_CHECKS``, so by the union bound a
correct implementation fails a run that made ``n`` checks with probability at most ``n * ALPHA``.
"""

from __future__ import annotations

import pytest

from rcc import testing


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "statistical: a goodness-of-fit test charged to the suite's "
                            "false-failure budget (rcc.testing)")


def summary() -> str:
    """The line the plugin prints: checks made, the budget, and the false-failure bound."""
    made = testing.checks_made()
    return (f"rcc statistical checks: {made} of {testing.MAX_CHECKS} made, alpha={testing.ALPHA:.1e} "
            f"each; false-failure probability <= {made * testing.ALPHA:.2g} "
            f"(budget {testing.SUITE_FALSE_FAILURE_BUDGET:g})")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    terminalreporter.write_line(summary())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if testing.checks_made() > testing.MAX_CHECKS:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nERROR: {testing.checks_made()} statistical checks exceed rcc.testing.MAX_CHECKS="
              f"{testing.MAX_CHECKS}: the suite's false-failure budget no longer holds")
