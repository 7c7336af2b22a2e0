"""The bit ledger: it adds up to the real file, the encoder's and the file's agree, and ``diffc info``
prints it (in-process, with its exit codes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from diffc.cli import main
from diffc.container import read_container, truncate
from diffc.diffusion.denoisers import DCT2Basis, GaussianOracle, power_law_spectrum
from diffc.diffusion.schedules import ContinuousVP
from diffc.diffusion.spacing import uniform_log_snr
from diffc.encoder import encode
from diffc.ledger import Ledger, StepBits, file_ledger
from rcc.gaussian import GaussianChannel

VP = ContinuousVP("cosine", -15.0, 15.0)
LAM = power_law_spectrum((8, 8), exponent=2.0)
ORACLE = GaussianOracle(VP, LAM, basis=DCT2Basis())
SCHEDULE = uniform_log_snr(VP, 5, -3.0, 2.0)
X = DCT2Basis().inverse(np.sqrt(LAM) * np.random.default_rng(5).standard_normal((8, 8)))


@pytest.fixture(scope="module")
def encoded():  # noqa: ANN201
    return encode(X, ORACLE, SCHEDULE, GaussianChannel(backend="numpy"), seed=11, value_range=(-1.0, 1.0))


def test_the_ledger_adds_up_to_the_file(encoded) -> None:  # noqa: ANN001
    ledger = encoded.ledger
    assert ledger.file_bits == encoded.file_bits == 8 * len(encoded.data)
    assert ledger.header_bits == encoded.header_bits == 8 * read_container(encoded.data).header_bytes
    assert ledger.file_bits == ledger.header_bits + ledger.framing_bits + ledger.side_bits + ledger.index_bits
    for k, step in enumerate(ledger.steps):
        assert step.step == k and step.record_bits == encoded.steps[k].record_bits
        assert step.framing_bits == 24  # every message here is under 128 bytes
        assert step.shortfall_bits == pytest.approx(step.kl_bits - step.log_ratio_bits)
        assert step.slack == pytest.approx(step.kl_bits / (step.n_chunks * step.target_bits))
        assert 0 < step.slack <= 1  # chunks filled to chunk_bits on average, none beyond (no heavy one)
    assert ledger.kl_bits == pytest.approx(encoded.ideal_bits)
    assert ledger.shortfall_bits == pytest.approx(sum(s.kl_bits - s.log_ratio_bits for s in encoded.steps))


def test_the_file_ledger_agrees_with_the_encoder(encoded) -> None:  # noqa: ANN001
    """From the bytes alone: the same framing, side, index, chunks and budgets; no KL (the channel
    does not send it) and so no slack, overhead or shortfall."""
    ours, theirs = encoded.ledger, file_ledger(read_container(encoded.data))
    assert theirs.header_bits == ours.header_bits and theirs.file_bits == ours.file_bits
    for a, b in zip(ours.steps, theirs.steps, strict=True):
        assert (a.framing_bits, a.side_bits, a.index_bits, a.n_chunks, a.n_heavy, a.budget_bits) == (
            b.framing_bits, b.side_bits, b.index_bits, b.n_chunks, b.n_heavy, b.budget_bits)
        assert b.kl_bits is None and b.slack is None and b.shortfall_bits is None
    assert theirs.to_dict()["total"]["shortfall_bits"] is None
    prefix = file_ledger(read_container(truncate(encoded.data, 2)))
    assert prefix.steps == theirs.steps[:2]


def test_unknown_values_stay_unknown() -> None:
    fixed = StepBits(0, 24, 8, 100, 4, 8, 10, kl_bits=None)
    assert fixed.slack is None and fixed.index_overhead_bits is None and fixed.shortfall_bits is None
    ledger = Ledger(192, (fixed, StepBits(1, 24, 8, 40, 2, 8, 10, 12.0)))
    assert ledger.kl_bits is None and ledger.slack is None and ledger.file_bits == 192 + 48 + 16 + 140
    assert ledger.format().splitlines()[1].split()[-4:] == ["-"] * 4


def test_diffc_info_prints_header_fingerprints_and_ledger(encoded, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    path = tmp_path / "x.dfc"
    path.write_bytes(encoded.data)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    h = read_container(encoded.data).header
    assert out.startswith(f"{path}: DiffC v5 file")
    assert f"model        array, {h.model_fingerprint.hex()}" in out
    assert "conditioning none\n" in out and "image size   8 x 8 pixels (H x W" in out
    gaps = ", ".join(map(str, h.time_gaps))
    assert f"step times   dyadic codes: {h.first_time}, then down by {gaps}\n" in out
    assert "steps        5 of 5\n" in out and "-- truncated" not in out
    assert f"file {encoded.file_bits} bits = header" in out
    path.write_bytes(truncate(encoded.data, 2))
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["truncated"] and (info["n_steps"], info["stop_step"]) == (2, 5)
    assert info["shape"] == [8, 8] and info["seed"] == 11 and info["coder"]["index_code"] == "pfr_lognormal"
    assert (info["format_version"], info["family"], info["size"]) == (5, "array", [8, 8])
    assert info["conditioning"] == "none"
    assert info["conditioning_digest"] is None and len(info["time_gaps"]) == 4
    assert info["ledger"]["total"]["file_bits"] == 8 * info["file_bytes"] == encoded.bits_through(2)
    assert main(["info", str(path), "--quiet"]) == 0
    assert "2 of 5 -- truncated" in capsys.readouterr().out


def test_diffc_info_exit_codes(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    v1 = Path(__file__).parent / "golden" / "container_v1.dfc"
    assert main(["info", str(v1)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("diffc info: error: this is a DiffC v1 file") and err.count("\n") == 1
    bad = tmp_path / "bad.dfc"
    bad.write_bytes(b"\xdf\x05" + bytes(10))
    assert main(["info", str(bad)]) == 1
    assert "truncated" in capsys.readouterr().err
    v3 = Path(__file__).parent / "golden" / "container_v3.dfc"
    assert main(["info", str(v3)]) == 1
    assert "DiffC v3 file; v3 files are no longer decoded by this version, which reads v5 only" in (
        capsys.readouterr().err)
    with pytest.raises(SystemExit) as exit_info:
        main(["info", str(tmp_path / "missing.dfc")])
    assert exit_info.value.code == 2


def test_diffc_info_into_a_closed_pipe_is_quiet(encoded, tmp_path: Path) -> None:  # noqa: ANN001
    """``diffc info file | head`` where the reader has gone: no "error: Broken pipe", exit 0. The
    pipe's read end is closed before the tool writes, so the write fails every time."""
    path = tmp_path / "x.dfc"
    path.write_bytes(encoded.data)
    read, write = os.pipe()
    os.close(read)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    try:
        done = subprocess.run([sys.executable, "-m", "diffc.cli", "info", str(path)], stdout=write,
                              stderr=subprocess.PIPE, env=env, timeout=120, check=False)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (0, b"")
