"""Write ``container_v1.dfc`` and ``container_v1.json``: a frozen DiffC v1 file and what it decodes to.

The file encodes a fixed 8x8 Gaussian "image" with the exact oracle (4 steps, default channel). The
JSON holds the input, the MMSE reconstruction at every stop as ``float.hex`` strings, and the
header fields. Run once; never regenerate an existing file (a new format gets a new version).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from diffc.decoders import decode_state, reconstruct
from diffc.denoisers import DCT2Basis, GaussianOracle, power_law_spectrum
from diffc.encoder import encode
from diffc.schedules import ContinuousVP, uniform_log_snr
from rcc.gaussian_channel import GaussianChannel

HERE = Path(__file__).parent
SHAPE = (8, 8)
SEED = 20261122


def setup() -> tuple[np.ndarray, GaussianOracle, object, GaussianChannel]:
    vp = ContinuousVP("cosine", -15.0, 15.0)
    lam = power_law_spectrum(SHAPE, exponent=2.0)
    oracle = GaussianOracle(vp, lam, basis=DCT2Basis())
    schedule = uniform_log_snr(vp, 4, -3.0, 2.0)
    x = DCT2Basis().inverse(np.sqrt(lam) * np.random.default_rng(SEED).standard_normal(SHAPE))
    return x, oracle, schedule, GaussianChannel()


def build() -> tuple[bytes, dict]:
    x, oracle, schedule, channel = setup()
    data = encode(x, oracle, schedule, channel, seed=SEED, value_range=(-4.0, 4.0)).data
    mmse = []
    for k in range(1, len(schedule) + 1):
        prefix_state = decode_state(_prefix(data, k), oracle, schedule)
        x_hat = reconstruct(prefix_state.model, prefix_state.z, prefix_state.t, method="mmse")
        mmse.append([float(v).hex() for v in x_hat.ravel()])
    return data, {"version": 1, "seed": SEED, "shape": list(SHAPE),
                  "x": [float(v).hex() for v in x.ravel()], "mmse_by_stop": mmse}


def _prefix(data: bytes, k: int) -> bytes:
    from diffc.container import truncate

    return truncate(data, k)


if __name__ == "__main__":
    if (HERE / "container_v1.dfc").exists() and "--force" not in sys.argv:
        sys.exit("container_v1.dfc exists; golden files are frozen (use a new version instead)")
    data, meta = build()
    (HERE / "container_v1.dfc").write_bytes(data)
    (HERE / "container_v1.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {len(data)} bytes")
