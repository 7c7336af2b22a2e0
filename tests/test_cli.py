"""The console scripts: help without a subcommand, the Philox known-answer check, the demo entry."""

from __future__ import annotations

import os

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


def test_network_threads_default_to_every_usable_core_and_sleep_between_passes(monkeypatch, tmp_path) -> None:  # noqa: ANN001
    import torch

    from diffc.cli import main
    from diffc.models import set_torch_threads
    from diffc.models.diffusers_folder import usable_cores

    before = torch.get_num_threads()
    try:
        set_torch_threads(None)
        assert torch.get_num_threads() == usable_cores()
        set_torch_threads(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    with pytest.raises(SystemExit) as bad_usage:  # a path that does not exist: argparse's exit 2
        main(["info", str(tmp_path / "missing.dfc")])
    assert bad_usage.value.code == 2
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
