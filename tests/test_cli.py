"""The console scripts: help without a subcommand, the Philox known-answer check, the demo entry."""

from __future__ import annotations

import pytest

from diffc import cli as diffc_cli
from rcc import cli as rcc_cli


def test_rcc_without_subcommand_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert rcc_cli.main([]) == 0
    assert "philox-check" in capsys.readouterr().out


def test_rcc_philox_check_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert rcc_cli.main(["philox-check"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all(line.endswith("OK") for line in lines)


def test_diffc_without_subcommand_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert diffc_cli.main([]) == 0
    assert "demo" in capsys.readouterr().out


def test_unknown_subcommand_is_an_error() -> None:
    with pytest.raises(SystemExit) as exc:
        rcc_cli.main(["no-such-command"])
    assert exc.value.code == 2
