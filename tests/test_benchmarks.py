"""Smoke tests: benchmarks run in quick mode and write their JSON (with the promised columns) and plot.

Benchmarks are not tests: nothing here looks at a timing. What is checked is the contract every
benchmark keeps (``--quick``, ``--json PATH``, ``{"meta", "rows"}``, a PNG beside the JSON) and that
the measured quantities are sane.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
DIFFC_FIELDS = {"stop_t", "sigma", "ideal_bits", "theory_bits", "real_bits", "mse_a", "mse_a_theory", "mse_f",
          "mse_f_theory", "mse_mmse", "mse_mmse_theory", "rd_bound_mse", "encode_s", "ratio_mmse", "ratio_f",
          "ratio_a", "schedule_cost", "slack", "shortfall_bits"}
LEDGER_PARTS = ("header_bits", "framing_bits", "side_bits", "index_bits")


def load_benchmark(name: str) -> ModuleType:
    """Import ``benchmarks/NAME.py`` in process, to call its ``main`` at reduced size."""
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_benchmark(name: str, tmp_path: Path, *options: str) -> dict:
    out = tmp_path / f"{name}.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), "--quick",
                    "--json", str(out), *options], check=True, cwd=ROOT, capture_output=True, timeout=600)
    data = json.loads(out.read_text())
    assert data["meta"]["quick"] is True and data["rows"]
    assert out.with_suffix(".png").stat().st_size > 1000
    return data


def test_randomness(tmp_path: Path) -> None:
    data = run_benchmark("randomness", tmp_path)
    impls = {(r["impl"], r["threads"]) for r in data["rows"]}
    assert {("numpy_philox", 1), ("rcc_cpu", 1)} <= impls
    assert all(r["normals_per_s"] > 0 and r["n"] > 0 for r in data["rows"])
    assert data["rows"][0]["ratio_vs_numpy_1thread"] == 1.0


@pytest.mark.slow
def test_gaussian_channel(tmp_path: Path) -> None:
    data = run_benchmark("gaussian_channel", tmp_path)
    throughput = [r for r in data["rows"] if r["kind"] == "throughput"]
    rate = [r for r in data["rows"] if r["kind"] == "rate"]
    assert {r["impl"] for r in throughput} >= {"numpy", "cpu"}
    assert all(r["cand_dims_per_s"] > 0 for r in throughput)
    for r in rate:
        assert {"kl_bits", "mean_bits", "overhead", "ks_projection", "candidates"} <= r.keys()
        assert r["candidates"] == 2 ** (r["chunk_bits"] + r["headroom_bits"])
        assert r["mean_bits"] > 0 and 0 <= r["ks_projection"] <= 1
    # More headroom never makes the projection much further from the target (PFR, 4-bit chunks).
    pfr4 = sorted((r for r in rate if r["rule"] == "pfr" and r["chunk_bits"] == 4),
                  key=lambda r: r["headroom_bits"])
    assert pfr4[-1]["ks_projection"] < pfr4[0]["ks_projection"]


@pytest.mark.slow
def test_rate_overhead(tmp_path) -> None:
    """benchmarks/rate_overhead.py --quick, at a tenth of its sample counts: JSON keys and sanity."""
    module = load_benchmark("rate_overhead")
    out = tmp_path / "rate_overhead.json"
    module.main(["--quick", "--json", str(out)], scale=0.1)
    data = json.loads(out.read_text())
    assert data["meta"]["quick"] is True and out.with_suffix(".png").stat().st_size > 1000
    over = [r for r in data["rows"] if r["protocol"] == "overhead"]
    required = {"coder", "exact", "family", "kl_bits", "dinf_bits", "candidates", "mean_bits",
                "bound_bits", "bound_tight_bits", "mean_proposals", "n_samples"}
    for r in over:
        assert required <= r.keys() and ("ks" in r or "tv" in r)
        assert (r["candidates"] is None) == r["exact"]
        assert r["mean_bits"] > 0 and r["mean_proposals"] >= 1
        if r["exact"]:  # exact coders sit under Li & El Gamal's bound (their Zipf code)
            assert r["mean_bits"] <= r["bound_bits"], r
    assert {r["coder"] for r in over} == {"pfr", "grs", "pfr_truncated", "orc", "mrc"}
    assert {r["family"] for r in over} == {"gaussian", "categorical"}
    ty = [r for r in data["rows"] if r["protocol"] == "theis_yosri"]
    assert {r["candidates"] for r in ty} == {1, 8, 64, 1024}
    assert all(0 <= r["tv"] <= 1 and r["index_entropy_bits"] >= 0 for r in ty)


def test_quantization(tmp_path) -> None:
    """The benchmark runs at reduced size and writes sane rows and its plot."""
    bench = load_benchmark("quantization")
    out = tmp_path / "quantization.json"
    bench.main(["--quick", "--json", str(out)], elements=3000, hybrid_elements=20)
    data = json.loads(out.read_text())
    assert data["meta"]["benchmark"] == "quantization" and data["meta"]["quick"] is True
    keys = {"scheme", "snr_db", "mi_bits", "rate_bits", "model_bits", "ks_noise", "elements", "seconds"}
    schemes = {r["scheme"] for r in data["rows"]}
    assert schemes == {"uq", "layered", "hybrid_pfr"}
    for r in data["rows"]:
        assert keys <= set(r)
        assert 0 < r["mi_bits"] <= r["rate_bits"] + 0.1 and r["model_bits"] > 0 and 0 <= r["ks_noise"] < 0.5
        if r["scheme"] != "hybrid_pfr":
            assert abs(r["rate_bits"] - r["model_bits"]) <= 0.01 * r["model_bits"] + 16 / r["elements"] + 0.01
    assert out.with_suffix(".png").stat().st_size > 1000


def test_diffc_gaussian(tmp_path: Path) -> None:
    data = run_benchmark("diffc_gaussian", tmp_path)
    assert data["meta"]["benchmark"] == "diffc_gaussian" and data["meta"]["dims"] >= 1024
    stops = [r for r in data["rows"] if r["protocol"] == "stop"]
    summaries = {r["setting"]: r for r in data["rows"] if r["protocol"] == "summary"}
    assert {"defaults", "c8h2"} <= summaries.keys()
    for name, summary in summaries.items():
        rows = [r for r in stops if r["setting"] == name]
        assert len(rows) >= 8
        for row in rows:
            assert DIFFC_FIELDS <= row.keys()
            # a real file costs at least its ideal rate; no decoder beats the R(D) bound at its rate
            assert row["real_bits"] > row["ideal_bits"] > 0
            assert row["rd_bound_mse"] < min(row["mse_mmse"], row["mse_f"], row["mse_a"])
            # the ledger's parts add up to the prefix's bits
            assert row["real_bits"] == pytest.approx(sum(row[k] for k in LEDGER_PARTS))
        assert [r["real_bits"] for r in rows] == sorted(r["real_bits"] for r in rows)
        assert rows[-1]["mse_a"] < rows[0]["mse_a"]
        # the headline: real bits at equal MSE over the ideal, above 1 and above the schedule's own cost
        assert summary["real_bits"] == rows[-1]["real_bits"]
        for decoder in ("mmse", "f", "a"):
            assert 0 < summary[f"ideal_at_mse_{decoder}"] < summary["real_bits"]
        assert summary["ratio_mmse"] > summary["schedule_cost"] > 1.0
        for key in ("realism_last_kl", "realism_mid_kl", "realism_kl_source", "realism_floor",
                    "realism_last_w2"):
            assert 0 <= summary[key] < 1
        assert summary["encode_s_1thread"] > 0
        assert summary["identical_2threads"] in (None, True)


@pytest.mark.slow
def test_exact_coders(tmp_path) -> None:
    """benchmarks/exact_coders.py --quick, at a third of its sample counts: JSON keys and sanity."""
    module = load_benchmark("exact_coders")
    out = tmp_path / "exact_coders.json"
    module.main(["--quick", "--json", str(out)], scale=0.3)
    data = json.loads(out.read_text())
    assert data["meta"]["quick"] is True and out.with_suffix(".png").stat().st_size > 1000
    runtime = [r for r in data["rows"] if r["protocol"] == "runtime"]
    required = {"coder", "kind", "kl_bits", "dinf_bits", "mean_steps", "steps_bound", "mean_bits",
                "bound_bits", "bound_tight_bits", "ks", "ks_pvalue", "n_samples"}
    for r in runtime:
        assert required <= r.keys() and r["mean_steps"] >= 1 and 0 <= r["ks"] <= 1
    assert {"pfr", "grs", "gprs_global", "astar_dyadic", "gprs_bnb"} <= {r["coder"] for r in runtime}
    # Branch and bound stays far below 2^D_inf at the largest D_inf of the run.
    deepest = max(runtime, key=lambda r: r["dinf_bits"])
    assert deepest["kind"] == "branch_and_bound" and deepest["mean_steps"] < 2 ** (deepest["dinf_bits"] / 2)
    batch = [r for r in data["rows"] if r["protocol"] == "batch"]
    assert {r["coder"] for r in batch} == {"pfr", "grs"}
    assert all(r["identical"] and r["speedup"] > 0 for r in batch)


@pytest.mark.slow
def test_cpu_speed(tmp_path: Path) -> None:
    data = run_benchmark("cpu_speed", tmp_path, "--dtypes", "float32,bfloat16", "--steps", "12")
    diffc = [r for r in data["rows"] if r["method"] == "diffc"]
    assert diffc and {r["method"] for r in data["rows"]} == {"diffc", "jpeg-420", "webp"}
    # quick: one thread setting per preset, then the default preset with whole-grid attention, then
    # with a channel that searches every step to the end, then with the network in bfloat16
    windows = "windows of 8 tokens"
    assert [(r["preset"], r["attention"], r["gives_up"], r["dtype"]) for r in diffc] == [
        ("default", windows, True, "float32"), ("fast", windows, True, "float32"),
        ("default", "whole grid", True, "float32"), ("default", windows, False, "float32"),
        ("default", windows, True, "bfloat16")]
    assert data["meta"]["attention_window"] == 8
    # a 64 px crop is 8 x 8 tokens at the attention level, one window: the same file either way;
    # giving up on a step that cannot fit changes no byte either
    assert diffc[2]["bpp"] == diffc[3]["bpp"] == diffc[0]["bpp"]
    assert data["meta"]["solver"] == "dpmpp_2m" and data["meta"]["solver_steps"] == 10
    assert data["meta"]["steps"] == 12 and data["meta"]["dtypes"] == ["float32", "bfloat16"]
    for r in diffc:
        assert 0 < r["bpp"] <= data["meta"]["target_bpp"] and r["psnr"] > 10 and 1 <= r["steps_sent"] <= 12
        for side in ("compress", "decompress"):  # the phases add up to the phase's seconds
            parts = sum(r[f"{side}_{p}"] for p in ("model_s", "search_s", "channel_other_s", "other_s"))
            assert parts == pytest.approx(r[f"{side}_s"])
        assert r["decompress_search_s"] == 0.0  # decoding runs no candidate search
        # the channel's own work (plan, send and decode) is timed around the search it contains
        assert r["compress_search_s"] > 0 and r["compress_channel_other_s"] >= 0
        assert r["over_webp"] == pytest.approx(r["total_s"] / next(
            b["total_s"] for b in data["rows"] if b["method"] == "webp"))


@pytest.mark.slow
def test_forward_speed(tmp_path: Path) -> None:
    data = run_benchmark("forward_speed", tmp_path)
    rows = data["rows"]
    names = list(dict.fromkeys(r["candidate"] for r in rows))
    assert len(names) == 3 and names[-1] == f"{names[0]}, channels_last"
    shipped, wider = (next(r for r in rows if r["candidate"] == n) for n in names[:2])
    assert shipped["parameters"] == 4_329_059 and wider["parameters"] > 3 * shipped["parameters"]
    for r in rows:
        assert r["ms"] > 0 and r["over_shipped"] == pytest.approx(r["ms"] / next(
            b["ms"] for b in rows if b["candidate"] == names[0] and b["threads"] == r["threads"]))
    deviation = data["meta"]["deviation_from_float64"]
    assert 0 < deviation["contiguous"] < 1e-3 and 0 < deviation["channels_last"] < 1e-2


@pytest.mark.slow
def test_give_up(tmp_path: Path) -> None:
    data = run_benchmark("give_up", tmp_path)
    assert [r["preset"] for r in data["rows"]] == ["fast", "default"]
    for r in data["rows"]:
        # the step dropped did not fit: the full search's message is longer than the room left
        assert r["message_bytes"] > r["room_bytes"] and r["floor_bytes"] <= r["message_bytes"]
        assert r["steps_kept"] >= 1 and r["give_up_s"] > 0 and r["to_the_end_s"] > 0
        assert r["ratio"] == pytest.approx(r["give_up_s"] / r["to_the_end_s"])


@pytest.mark.slow
def test_image_schedule(tmp_path: Path) -> None:
    """The spacing benchmark on the shipped model at 16 px: every variance ends at the same log-SNR,
    the baseline's ratios are 1 and the calibrated default's ideal rate is lower (paired over crops)."""
    from diffc.diffusion.spacing import LAST_LOG_SNR, SPACING_VARIANCE

    data = run_benchmark("image_schedule", tmp_path)
    rows = {r["variance"]: r for r in data["rows"]}
    base, default = rows[data["meta"]["baseline_variance"]], rows[SPACING_VARIANCE]
    assert base["ratio_at_log_snr"] == [1.0] * len(data["meta"]["log_snr_grid"])
    for r in rows.values():
        assert len(r["times"]) == len(r["cumulative_bpd"]) == 16 and r["times"][0] == 999
        assert r["log_snr"][-1] == pytest.approx(LAST_LOG_SNR, abs=0.1)
        assert all(a <= b for a, b in zip(r["cumulative_bpd"], r["cumulative_bpd"][1:], strict=False))
    # A larger variance moves the first step to a lower SNR, so it costs less.
    assert default["first_step_bpd"] < base["first_step_bpd"] / 3
    assert default["minus_baseline_bpd"] < -4 * default["minus_baseline_stderr"]
