"""Write ``randomness_v1.json``: golden vectors that freeze the shared-randomness mapping.

Run once when the mapping is defined; never regenerate an existing file (the point of a golden
file is that it does not move). A new mapping gets a new version number and a new file.
Floats are stored with ``float.hex`` so that they round-trip exactly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from rcc_kernels import reference
from rcc_kernels.streams import stream_key

PATH = Path(__file__).with_name("randomness_v1.json")

SEEDS = [0, 1, 2024, 2**32 + 7, 2**64 - 1]
STREAMS = [[], [0], [1, 2], [8, 2**40 + 3, 2**64 - 1]]
POINTS = [(0, 0), (0, 1), (1, 0), (5, 17), (2**32 - 1, 2**32 - 1), (2**32, 2**32 + 1),
          (2**40 + 12345, 3), (7, 2**50 + 2), (2**64 - 1, 2**64 - 1)]


def build() -> dict:
    cases = []
    for seed in SEEDS:
        for stream in STREAMS:
            key = stream_key(seed, stream)
            cand = np.array([p[0] for p in POINTS], dtype=np.uint64)
            coord = np.array([p[1] for p in POINTS], dtype=np.uint64)
            words = reference.bits_at(key, cand, coord >> np.uint64(1))
            cases.append({
                "seed": seed,
                "stream": stream,
                "key": [int(k) for k in key],
                "points": [[int(a), int(b)] for a, b in POINTS],
                "block_words": [[int(w) for w in row] for row in words],
                "uniform": [float(v).hex() for v in reference.uniform_at(key, cand, coord)],
                "normal": [float(v).hex() for v in reference.normal_at(key, cand, coord)],
                "exponential": [float(v).hex() for v in reference.exponential_at(key, cand, coord)],
            })
    return {"version": 1, "generator": "Philox4x32-10", "cases": cases}


if __name__ == "__main__":
    if PATH.exists() and "--force" not in sys.argv:
        sys.exit(f"{PATH} exists; golden files are frozen (use a new version instead)")
    PATH.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {PATH}")
