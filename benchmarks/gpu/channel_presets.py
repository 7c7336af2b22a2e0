"""Part 5 of the GPU check: large-chunk channel settings against the CPU presets, real bits at equal MSE.

Chunks of 16 and 20 bits cost minutes per 64x64 image on a CPU; a GPU affords them.
The protocol is :mod:`benchmarks.diffc_gaussian`'s (its source images, oracle, schedule, decoders
and equal-MSE ratios, through its own functions): a 64x64 power-law Gaussian source, 12 stops. The
CPU presets (``defaults``, ``exact``) run their search on the device machine's CPU cores; the
large-chunk settings (16- and 20-bit chunks with 2 bits of headroom, as the public DiffC
implementation's 16-bit setting) run theirs on the GPU. Images are taken in turn (every setting on
image 0, then image 1, ...) so that a part stopped by its budget still compares every setting on
the same images; the summaries cover the images that every setting finished.

Per setting the summary (in ``summaries``, rewritten after every image) gives ``ratio_mmse``,
``ratio_f`` and ``ratio_a`` at the last stop (real bits over ideal bits at equal MSE, lower is
better) and the mean encode seconds per image (``encode_s``; the search's backend, the setting's own
field, in ``backend``). ``gpu_better`` lists the GPU settings whose ``ratio_mmse`` beats the best
CPU preset's: the candidates for a GPU preset.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict

import numba
import numpy as np

from benchmarks import diffc_gaussian as dg
from benchmarks.gpu._part import Part, run_part
from benchmarks.gpu.search import problem
from diffc.diffusion import theory
from diffc.diffusion.denoisers import DCT2Basis, GaussianOracle, power_law_spectrum
from diffc.diffusion.schedules import ContinuousVP
from diffc.diffusion.spacing import equal_kl
from rcc.gaussian import PRESETS
from rcc_kernels.search import search_gpu

REAL = {"side": 64, "n_stops": 12, "images": 2, "plan": (
    dg.Setting("defaults"), dg.Setting("exact", PRESETS["exact"]),
    dg.Setting("c16h2", dg._chunks(16, 2), backend="gpu"),
    dg.Setting("c20h2", dg._chunks(20, 2), backend="gpu"))}
DRY = {"side": 4, "n_stops": 3, "images": 1, "plan": (
    dg.Setting("defaults"), dg.Setting("c2h1", dg._chunks(2, 1), backend="gpu"))}
MARGIN_S = 30.0
"""Seconds left under which no further image is started."""
NO_THREAD_TIMING = {"encode_s_2threads": None, "numba_threads_2": None, "identical_2threads": None}


def summaries(cfg: dict, measured: dict, sources: list, lam: np.ndarray, schedule: object,
              walls: dict) -> list[dict]:
    """One summary row per setting over the images that every setting finished."""
    n = min(len(m) for m in measured.values())
    bands = dg._bands(lam.shape, dg._config(False)["n_bands"])
    rows = []
    for setting in cfg["plan"]:
        done = measured[setting.name][:n]
        if not done:
            continue
        stops = dg._stop_rows(setting, [m[1] for m in done], lam, schedule)
        encode_s = [sum(s.seconds for s in m[0].steps) for m in done]
        row = dg._summary(setting, stops, [m[2] for m in done], sources[:n], lam, bands, NO_THREAD_TIMING,
                          encode_s, walls[setting.name])
        for key in ("encode_s_1thread", "encode_s_1thread_image0", *NO_THREAD_TIMING):
            row.pop(key)
        rows.append({**row, "encode_s": float(np.mean(encode_s))})
    return rows


def verdict(rows: list[dict]) -> dict:
    """The best CPU preset by ``ratio_mmse`` and the GPU settings that beat it."""
    cpu = [r for r in rows if r["backend"] == "cpu" and r["ratio_mmse"] is not None]
    if not cpu:
        return {"best_cpu_preset": None, "gpu_better": []}
    best = min(cpu, key=lambda r: r["ratio_mmse"])
    return {"best_cpu_preset": best["setting"],
            "gpu_better": [r["setting"] for r in rows if r["backend"] == "gpu" and r["ratio_mmse"] is not None
                           and r["ratio_mmse"] < best["ratio_mmse"]]}


def body(part: Part) -> dict:
    cfg = DRY if part.dry_run else REAL
    shape = (cfg["side"], cfg["side"])
    lam = power_law_spectrum(shape, 2.0)
    vp = ContinuousVP("cosine", -15.0, 15.0)
    oracle = GaussianOracle(vp, lam, basis=DCT2Basis())
    schedule = equal_kl(vp, cfg["n_stops"], lambda v: theory.mutual_information_bits(lam, math.exp(v)),
                        dg.LOG_SNR_LAST)
    rng = np.random.default_rng(2024)
    sources = [DCT2Basis().inverse(np.sqrt(lam) * rng.standard_normal(shape)) for _ in range(cfg["images"])]
    dg._warm_up(vp)
    if any(s.backend == "gpu" for s in cfg["plan"]):
        search_gpu(problem(8, 1, 64, 0.25))  # compile the CUDA kernel before image 0 is timed
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    settings = {s.name: {"channel": asdict(s.channel), "backend": s.backend} for s in cfg["plan"]}
    part.record["config"] = {"side": cfg["side"], "n_stops": cfg["n_stops"], "images": cfg["images"],
                             "cpu_threads": numba.get_num_threads(), "settings": settings}
    measured = {s.name: [] for s in cfg["plan"]}
    walls = dict.fromkeys(measured, 0.0)
    last_round = 0.0
    for i, x in enumerate(sources):
        if part.remaining() < MARGIN_S + 1.5 * last_round:
            part.record["stopped_early"] = f"the part's budget ran out after {i} image(s)"
            break
        round_started = time.monotonic()
        for setting in cfg["plan"]:
            started = time.monotonic()
            enc, stops, samples = dg._measure_image(x, oracle, schedule, setting, seed=2024 + i)
            walls[setting.name] += time.monotonic() - started
            measured[setting.name].append((enc, stops, samples))
            part.add({"setting": setting.name, "backend": setting.backend, "image": i,
                      "encode_s": sum(s.seconds for s in enc.steps), "real_bits": stops[-1]["real_bits"],
                      "mse_mmse": stops[-1]["mse_mmse"]})
        last_round = time.monotonic() - round_started
        # Summaries after every round: a part killed later keeps the comparison of the rounds done.
        part.record["summaries"] = summaries(cfg, measured, sources, lam, schedule, walls)
        part.record.update(verdict(part.record["summaries"]))
        part.save()
    return {}


if __name__ == "__main__":
    raise SystemExit(run_part("channel", __doc__.splitlines()[0], body))
