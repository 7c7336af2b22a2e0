"""Part 3 of the GPU check: the GPU gives the CPU's bits.

Three checks, each a row with ``identical``:

* ``candidates``: Philox words (:func:`rcc_kernels.bits`) must be equal; standard normals
  (:func:`rcc_kernels.normal`) may differ by an ulp (CUDA's ``log``, fused multiply-adds), so the
  row gives the largest difference beside ``FLOAT_TOLERANCE`` and the share of equal values;
* ``search``: the chosen index of every chunk, CPU kernel against GPU kernel, for each rule, with
  and without the quadratic term (scores and log-weights may differ by rounding);
* ``diffc_file``: a photo crop compressed with the default model on the CPU and the channel's
  search on the CPU, then on the GPU: the two files must be byte-identical (the network runs on the
  CPU both times, so its outputs, and with them the channel's targets, are the same).
"""

from __future__ import annotations

import hashlib

import numpy as np

import rcc_kernels
from benchmarks.gpu._part import Part, run_part
from rcc.gaussian import GaussianChannel, preset
from rcc_kernels.generators import to_numpy
from rcc_kernels.search import RULES, SearchProblem, search_cpu, search_gpu

REAL = {"rows": 4096, "dim": 256, "chunk_sizes": (700, 1200, 300, 2000), "candidates": 1 << 16,
        "crop": 64, "steps": 16, "channel": {}}
DRY = {"rows": 16, "dim": 8, "chunk_sizes": (3, 5), "candidates": 64, "crop": 8, "steps": 8,
       "channel": {"chunk_bits": 2, "headroom_bits": 1}}


def candidates_row(cfg: dict) -> dict:
    key = rcc_kernels.stream_key(25, (1, 2))
    rows, dim = cfg["rows"], cfg["dim"]
    words = [to_numpy(rcc_kernels.bits(key, 0, rows, dim // 2, backend=b)) for b in ("cpu", "gpu")]
    normals = [to_numpy(rcc_kernels.normal(key, 0, rows, dim, backend=b)) for b in ("cpu", "gpu")]
    diff = float(np.max(np.abs(normals[0] - normals[1])))
    return {"check": "candidates", "values": int(normals[0].size),
            "identical": bool(np.array_equal(words[0], words[1])) and diff <= rcc_kernels.FLOAT_TOLERANCE,
            "words_identical": bool(np.array_equal(words[0], words[1])),
            "normals_max_abs_diff": diff, "float_tolerance": rcc_kernels.FLOAT_TOLERANCE,
            "normals_equal_share": float(np.mean(normals[0] == normals[1]))}


def search_rows(cfg: dict) -> list[dict]:
    rng = np.random.default_rng(25)
    sizes = np.array(cfg["chunk_sizes"])
    rows = []
    for rule_name, rule in RULES.items():
        for quadratic in (False, True):
            lin = rng.standard_normal(sizes.sum()) * 0.1
            p = SearchProblem(lin=lin, quad=-0.01 * rng.random(sizes.sum()) if quadratic else None,
                              offsets=np.concatenate([[0], np.cumsum(sizes)]),
                              cand_keys=rcc_kernels.stream_keys(25, (3,), range(sizes.size)),
                              arr_keys=rcc_kernels.stream_keys(25, (4,), range(sizes.size)),
                              n_candidates=cfg["candidates"], rule=rule)
            cpu, gpu = search_cpu(p), search_gpu(p)
            rows.append({"check": "search", "rule": rule_name, "quadratic": quadratic,
                         "chunks": int(sizes.size), "candidates": cfg["candidates"],
                         "identical": bool(np.array_equal(cpu.index, gpu.index)),
                         "index_cpu": cpu.index, "index_gpu": gpu.index,
                         "score_max_abs_diff": float(np.max(np.abs(cpu.score - gpu.score)))})
    return rows


def diffc_file_row(cfg: dict) -> dict:
    from diffc.codec import DiffCCodec
    from diffc.imaging.io import centre_crop
    from diffc.models import default_model_dir, load_model
    from diffc.models.data import held_out_photos

    image = centre_crop(held_out_photos()["skimage/astronaut"], cfg["crop"])
    model = load_model(default_model_dir(), device="cpu")
    spec = preset(**cfg["channel"])
    files = {backend: DiffCCodec(model, GaussianChannel(spec, backend=backend), steps=cfg["steps"],
                                 progress=False).compress(image, seed=25)
             for backend in ("cpu", "gpu")}
    digest = {b: hashlib.sha256(f.data).hexdigest() for b, f in files.items()}
    return {"check": "diffc_file", "photo": "skimage/astronaut", "crop": cfg["crop"], "steps": cfg["steps"],
            "channel": spec.describe(), "network_device": "cpu", "bytes": len(files["cpu"].data),
            "identical": files["cpu"].data == files["gpu"].data, "sha256_cpu": digest["cpu"],
            "sha256_gpu": digest["gpu"],
            "encode_s": {b: f.seconds for b, f in files.items()}}


def body(part: Part) -> dict:
    cfg = DRY if part.dry_run else REAL
    part.add(candidates_row(cfg))
    for row in search_rows(cfg):
        part.add(row)
    part.add(diffc_file_row(cfg))
    identical = all(r["identical"] for r in part.record["rows"])
    return {"status": "ok" if identical else "failed", "config": cfg, "all_identical": identical}


if __name__ == "__main__":
    raise SystemExit(run_part("identity", __doc__.splitlines()[0], body))
