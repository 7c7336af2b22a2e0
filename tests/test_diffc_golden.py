"""Golden DiffC v1 file: the format, the encoder and the shared randomness stay frozen.

``tests/golden/container_v1.dfc`` was written once by ``tests/golden/generate_container_v1.py``.
If an intended change breaks these tests, the container format version must be bumped and a new
golden file written beside this one; the old one must still be read or clearly refused.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from diffc.container import FORMAT_VERSION, MAGIC, read_container, truncate
from diffc.decoders import decode_state, reconstruct
from diffc.encoder import encode

GOLDEN = Path(__file__).parent / "golden"
DATA = (GOLDEN / "container_v1.dfc").read_bytes()
META = json.loads((GOLDEN / "container_v1.json").read_text())


def _generator():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("generate_container_v1",
                                                  GOLDEN / "generate_container_v1.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_golden_header() -> None:
    c = read_container(DATA)
    assert DATA[:4] == MAGIC and DATA[4] == FORMAT_VERSION == 1
    h = c.header
    assert h.shape == tuple(META["shape"]) and h.seed == META["seed"]
    assert (h.rule, h.index_code, h.chunk_bits, h.headroom_bits) == ("pfr", "zipf_truncated", 4, 8)
    assert c.n_steps == h.stop_step == len(META["mmse_by_stop"])


def test_golden_file_decodes_to_the_frozen_reconstructions() -> None:
    x, oracle, schedule, _ = _generator().setup()
    np.testing.assert_array_equal(x.ravel(), [float.fromhex(v) for v in META["x"]])
    for k, expected in enumerate(META["mmse_by_stop"], start=1):
        state = decode_state(truncate(DATA, k), oracle, schedule)
        x_hat = reconstruct(state.model, state.z, state.t, method="mmse")
        np.testing.assert_allclose(x_hat.ravel(), [float.fromhex(v) for v in expected],
                                   rtol=0, atol=1e-9)


def test_encoder_reproduces_the_golden_file_byte_for_byte() -> None:
    generator = _generator()
    x, oracle, schedule, channel = generator.setup()
    data = encode(x, oracle, schedule, channel, seed=generator.SEED, value_range=(-4.0, 4.0)).data
    assert data == DATA


@pytest.mark.parametrize("k", [1, 2, 3])
def test_later_stops_are_closer(k: int) -> None:
    x = np.array([float.fromhex(v) for v in META["x"]])
    err = [np.mean((np.array([float.fromhex(v) for v in m]) - x) ** 2) for m in META["mmse_by_stop"]]
    assert err[k] < err[k - 1]
