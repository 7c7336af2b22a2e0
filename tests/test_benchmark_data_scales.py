"""benchmarks/data_scales.py on a fake `diffc data` folder (no download): one row per octave beside
the held-out baseline, and a JSON that says it was skipped when there is no data folder."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_benchmarks import load_benchmark

from diffc.models import data

PKG = "fake-pics"


def _smooth_photo(path: Path, seed: int, shape: tuple[int, int]) -> str:
    """A random colour field with a photo-like falling spectrum, saved as PNG; its SHA-256."""
    field = np.random.default_rng(seed).normal(size=(*shape, 3)).cumsum(0).cumsum(1)
    field = 255 * (field - field.min()) / np.ptp(field)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(field.astype(np.uint8)).save(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_rates_per_octave_beside_the_held_out_baseline(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    photos = {"a.png": _smooth_photo(root / "a.png", 0, (300, 400)),
              "b.png": _smooth_photo(root / "b.png", 1, (1000, 900))}
    spec = {"packages": {PKG: {"version": "1", "photos": photos, "excluded": {}}}}
    out = tmp_path / "data"
    data.write_manifest(out, data.collect({PKG: root}, spec, out))
    monkeypatch.setattr(data, "load_spec", lambda path=None: spec)
    result = tmp_path / "scales.json"
    load_benchmark("data_scales").main(["--quick", "--json", str(result), "--data", str(out),
                                        "--octaves=-1,0,1"])
    rows = json.loads(result.read_text())["rows"]
    held, *octaves = rows
    assert held["set"] == "held-out" and held["ratio"] == 1.0 and 2 < held["webp_bpd"] < 6
    assert [(r["octave"], r["photos"]) for r in octaves] == [(-1, 2), (0, 2), (1, 1)]
    for r in octaves:
        assert r["sampled"] == min(20, r["tiles"]) and r["stderr"] > 0
        assert r["ratio"] == pytest.approx(r["webp_bpd"] / held["webp_bpd"])
    # A smooth field shown twice as large has fewer bits per pixel.
    assert octaves[0]["webp_bpd"] > octaves[1]["webp_bpd"] > octaves[2]["webp_bpd"]
    assert result.with_suffix(".png").stat().st_size > 1000


def test_without_a_data_folder_it_says_it_skipped(tmp_path: Path) -> None:
    result = tmp_path / "scales.json"
    assert load_benchmark("data_scales").main(["--quick", "--json", str(result)]) == 0
    written = json.loads(result.read_text())
    assert written["rows"] == [] and written["meta"]["skipped"] and written["meta"]["quick"] is True
