"""Write ``container_v5.dfc`` and ``container_v5.json``: a frozen DiffC v5 file and what it decodes to.

The file encodes a fixed 8x8 Gaussian "image" with the exact oracle (4 steps evenly spaced in
log-SNR on a continuous cosine schedule, so the header writes 2^-16-grid time codes; default
channel), the setup of the v1 to v4 golden files. The JSON holds the input, the MMSE
reconstruction at every stop as ``float.hex`` strings, the header fields and the file's bit
ledger. How to make one: ``PYTHONPATH=kernels:. python tests/golden/generate_container_v5.py``,
once; never regenerate an existing file (a new format gets a new version and a new generator;
``--force`` exists for the commit that introduces the version). ``tests/test_diffc_golden.py``
checks that the encoder still writes these bytes and that they decode to these values.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from diffc.container import read_container, truncate
from diffc.decoder import decode_state
from diffc.diffusion.denoisers import DCT2Basis, GaussianOracle, power_law_spectrum
from diffc.diffusion.samplers import reconstruct
from diffc.diffusion.schedules import ContinuousVP, EncodingSchedule
from diffc.diffusion.spacing import uniform_log_snr
from diffc.encoder import encode
from diffc.ledger import file_ledger
from rcc.gaussian import GaussianChannel

HERE = Path(__file__).parent
SHAPE = (8, 8)
SEED = 20261122
VALUE_RANGE = (-4.0, 4.0)


def setup() -> tuple[np.ndarray, GaussianOracle, EncodingSchedule, GaussianChannel]:
    vp = ContinuousVP("cosine", -15.0, 15.0)
    lam = power_law_spectrum(SHAPE, exponent=2.0)
    oracle = GaussianOracle(vp, lam, basis=DCT2Basis())
    schedule = uniform_log_snr(vp, 4, -3.0, 2.0)
    x = DCT2Basis().inverse(np.sqrt(lam) * np.random.default_rng(SEED).standard_normal(SHAPE))
    return x, oracle, schedule, GaussianChannel()


def build() -> tuple[bytes, dict]:
    x, oracle, schedule, channel = setup()
    data = encode(x, oracle, schedule, channel, seed=SEED, value_range=VALUE_RANGE).data
    mmse = []
    for k in range(1, len(schedule) + 1):
        state = decode_state(truncate(data, k), oracle)
        x_hat = reconstruct(state.model, state.z, state.t, method="mmse")
        mmse.append([float(v).hex() for v in x_hat.ravel()])
    container = read_container(data)
    header = container.header
    return data, {"version": 5, "seed": SEED, "family": header.family, "size": list(header.size),
                  "time_grid": header.time_grid, "first_time": header.first_time,
                  "time_gaps": list(header.time_gaps), "shape": list(SHAPE), "value_range": list(VALUE_RANGE),
                  "header_bytes": container.header_bytes, "record_ends": list(container.record_ends),
                  "ledger": file_ledger(container).to_dict(),
                  "x": [float(v).hex() for v in x.ravel()], "mmse_by_stop": mmse}


if __name__ == "__main__":
    if (HERE / "container_v5.dfc").exists() and "--force" not in sys.argv:
        sys.exit("container_v5.dfc exists; golden files are frozen (use a new version instead)")
    data, meta = build()
    (HERE / "container_v5.dfc").write_bytes(data)
    (HERE / "container_v5.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {len(data)} bytes")
