"""Golden DiffC files: the v5 format, the encoder and the shared randomness stay frozen; v1 to v4 are
refused.

``tests/golden/container_v5.dfc`` was written once by ``tests/golden/generate_container_v5.py``
(its docstring says how). If an intended change breaks these tests, the container format version
must be bumped and a new golden file written beside this one; the old one must still be read or
clearly refused, as ``container_v1.dfc`` to ``container_v4.dfc`` (written by their generators, in
the history) are here.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from diffc.container import FORMAT_VERSION, MAGIC, ContainerError, read_container, truncate
from diffc.decoder import decode_state
from diffc.diffusion.samplers import reconstruct
from diffc.encoder import encode
from diffc.ledger import file_ledger
from rcc.perturb import simd_extensions

GOLDEN = Path(__file__).parent / "golden"
DATA = (GOLDEN / "container_v5.dfc").read_bytes()
META = json.loads((GOLDEN / "container_v5.json").read_text())


def _generator():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("generate_container_v5",
                                                  GOLDEN / "generate_container_v5.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_golden_header_and_layout() -> None:
    c = read_container(DATA)
    assert DATA[:1] == MAGIC and DATA[1] == FORMAT_VERSION == 5
    h = c.header
    assert h.shape == tuple(META["shape"]) and h.seed == META["seed"]
    assert (h.family, h.conditioning, list(h.size)) == (META["family"], "none", META["size"])
    assert (h.time_grid, h.first_time, list(h.time_gaps)) == (META["time_grid"], META["first_time"],
                                                            META["time_gaps"])
    assert h.value_range == tuple(META["value_range"])
    ch = h.channel
    assert (ch.rule, ch.index_code, ch.chunk_bits, ch.headroom_bits) == ("pfr", "pfr_lognormal", 8, 3)
    assert c.n_steps == h.stop_step == len(META["mmse_by_stop"]) and not c.truncated
    assert c.header_bytes == META["header_bytes"] and list(c.record_ends) == META["record_ends"]
    assert file_ledger(c).to_dict() == META["ledger"]


def test_golden_file_decodes_to_the_frozen_reconstructions() -> None:
    x, oracle, _, _ = _generator().setup()
    np.testing.assert_array_equal(x.ravel(), [float.fromhex(v) for v in META["x"]])
    for k, expected in enumerate(META["mmse_by_stop"], start=1):
        state = decode_state(truncate(DATA, k), oracle)
        x_hat = reconstruct(state.model, state.z, state.t, method="mmse")
        np.testing.assert_allclose(x_hat.ravel(), [float.fromhex(v) for v in expected],
                                   rtol=0, atol=1e-9)


def test_encoder_reproduces_the_golden_file_byte_for_byte() -> None:
    generator = _generator()
    x, oracle, schedule, channel = generator.setup()
    data = encode(x, oracle, schedule, channel, seed=generator.SEED, value_range=generator.VALUE_RANGE).data
    assert data == DATA, f"golden bytes differ on this CPU ({simd_extensions()}): see docs/determinism.md"


@pytest.mark.parametrize("k", [1, 2, 3])
def test_later_stops_are_closer(k: int) -> None:
    x = np.array([float.fromhex(v) for v in META["x"]])
    err = [np.mean((np.array([float.fromhex(v) for v in m]) - x) ** 2) for m in META["mmse_by_stop"]]
    assert err[k] < err[k - 1]


def test_v4_and_v5_changed_the_framing_not_the_channel() -> None:
    """The v5 golden file holds the v3 and v4 golden files' channel messages byte for byte: same
    input, seed and channel; v4 moved the step times onto the 2^-16 grid (by less than 2^-17 each)
    and changed only the header and the records' checks; v5 added the conditioning's options (none
    here: the same header but for the version byte)."""
    v3 = (GOLDEN / "container_v3.dfc").read_bytes()
    pos, messages = 28, []  # v3's header was 28 bytes; a record: 1-byte length, message, 2-byte check
    while pos < len(v3):
        messages.append(v3[pos + 1:pos + 1 + v3[pos]])
        pos += 1 + v3[pos] + 2
    assert pos == len(v3) and tuple(messages) == read_container(DATA).messages
    v4 = (GOLDEN / "container_v4.dfc").read_bytes()
    header = read_container(DATA).header_bytes
    assert v4[:1] + v4[2:header] == DATA[:1] + DATA[2:header] and v4[1] == 4


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_older_golden_files_are_refused_with_a_clear_message(version: int) -> None:
    old = (GOLDEN / f"container_v{version}.dfc").read_bytes()
    with pytest.raises(ContainerError, match=f"a DiffC v{version} file; v{version} files are no longer "
                                             "decoded.*re-encode"):
        read_container(old)
    _, oracle, _, _ = _generator().setup()
    with pytest.raises(ContainerError, match=f"DiffC v{version} file"):
        decode_state(old, oracle)
