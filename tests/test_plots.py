"""RD plots from CompressAI-layout results and image grids: files written, metrics skipped, pixels exact."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from diffc.imaging import plots
from diffc.imaging.plots import image_grid, rd_plot


def _method(name: str, metrics: tuple[str, ...], offset: float) -> dict:
    bpp = [0.1, 0.25, 0.5, 1.0]
    values = {
        "psnr-rgb": [24 + offset + 4 * math.log2(1 + b) for b in bpp],
        "ms-ssim-rgb": [1 - 0.1 / (1 + 4 * b + offset) for b in bpp],
        "lpips": [0.5 / (1 + 3 * b + offset) for b in bpp],
    }
    results = {"bpp": bpp, **{m: values[m] for m in metrics}, "encoding_time": [0.1] * 4}
    return {"name": name, "description": f"synthetic {name}", "results": results}


METHODS = [
    _method("DiffC-F", ("psnr-rgb", "ms-ssim-rgb", "lpips"), 1.0),
    _method("JPEG", ("psnr-rgb", "ms-ssim-rgb"), 0.0),  # no LPIPS: left out of that panel
    _method("WebP", ("psnr-rgb", "lpips"), 0.5),  # no MS-SSIM
]


def _opened(path: Path) -> Image.Image:
    assert path.is_file() and path.stat().st_size > 0
    image = Image.open(path)
    image.load()
    assert image.format == "PNG"
    return image


def test_rd_plot_reads_files_and_dicts_and_skips_missing_metrics(tmp_path: Path):
    json_path = tmp_path / "jpeg.json"
    json_path.write_text(json.dumps(METHODS[1]))
    out = rd_plot([METHODS[0], json_path, METHODS[2]], tmp_path / "out" / "rd.png", title="partial: 3 of 8")
    width, height = _opened(out).size
    assert 1500 < width < 3000 and 400 < height < 1000  # three panels side by side


def test_rd_plot_with_one_metric_is_one_panel_wide(tmp_path: Path):
    width, _ = _opened(rd_plot(METHODS, tmp_path / "psnr.png", metrics=("psnr-rgb",))).size
    assert 500 < width < 1000


def test_rd_plot_survives_a_metric_nobody_reports_and_missing_or_perfect_values(tmp_path: Path):
    partial = _method("partial", ("psnr-rgb", "ms-ssim-rgb"), 0.0)
    partial["results"]["psnr-rgb"][1] = None
    partial["results"]["psnr-rgb"][2] = float("nan")
    partial["results"]["ms-ssim-rgb"] = [1.0] * 4  # +inf dB everywhere: nothing left to draw
    _opened(rd_plot([partial], tmp_path / "rd.png", metrics=("psnr-rgb", "ms-ssim-rgb", "lpips", "x")))


def test_curves_are_sorted_by_rate_finite_and_ms_ssim_is_in_db():
    method = {"name": "m", "results": {"bpp": [0.5, 0.1, 0.3], "ms-ssim-rgb": [0.999, 0.9, None]}}
    bpp, db = plots._curve(method, "ms-ssim-rgb")
    np.testing.assert_array_equal(bpp, [0.1, 0.5])
    np.testing.assert_allclose(db, [10.0, 30.0])
    assert plots._curve(method, "lpips") is None


@pytest.mark.parametrize(
    "bad",
    [
        {"results": {"bpp": [1.0]}},
        {"name": "no results"},
        {"name": "no bpp", "results": {"psnr-rgb": [30.0]}},
        {"name": "short", "results": {"bpp": [0.1, 0.2], "psnr-rgb": [30.0]}},
    ],
    ids=["no name", "no results", "no bpp", "length mismatch"],
)
def test_rd_plot_rejects_malformed_results(tmp_path: Path, bad: dict):
    with pytest.raises(ValueError):
        rd_plot([bad], tmp_path / "rd.png", metrics=("psnr-rgb",))


def test_rd_plot_needs_a_metric(tmp_path: Path):
    with pytest.raises(ValueError, match="metric"):
        rd_plot(METHODS, tmp_path / "rd.png", metrics=())


def _tile_image(height: int, width: int, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (height, width) if channels == 1 else (height, width, channels)
    gradient = np.linspace(0, 200, width)[None, :] + np.linspace(0, 50, height)[:, None]
    if channels == 3:
        gradient = gradient[..., None]
    return np.clip(gradient + rng.normal(0, 10, shape), 0, 255).astype(np.uint8)


def test_image_grid_lays_out_rate_rows_with_ragged_lengths_gray_tiles_and_gaps(tmp_path: Path):
    original = _tile_image(64, 64, 3, seed=0)
    gray = _tile_image(37, 53, 1, seed=1)
    rows = [
        [("original", original, "64x64"), ("DiffC-F", original, "DiffC-F 0.31 bpp"), ("JPEG", original, "")],
        [("original", original, "64x64"), None, ("JPEG", gray, "JPEG 0.62 bpp, long enough to wrap")],
        [("original (gray)", gray, "")],
    ]
    grid = _opened(image_grid(rows, tmp_path / "grid.png", title="rows: 0.3 / 0.6 / 1.0 bpp"))
    scale = math.ceil(160 / 64)  # the default min_tile over the largest side
    cell = 64 * scale
    assert grid.size[0] == 3 * (cell + 8) + 8
    assert 3 * cell < grid.size[1] < 3 * cell + 400


def test_image_grid_pastes_pixels_exactly_at_scale_one(tmp_path: Path):
    image = _tile_image(37, 53, 3, seed=2)
    grid = np.asarray(_opened(image_grid([[("", image, "")]], tmp_path / "grid.png", min_tile=1)))
    np.testing.assert_array_equal(grid[8 : 8 + 37, 8 : 8 + 53], image)


def test_image_grid_enlarges_by_whole_pixels(tmp_path: Path):
    image = _tile_image(10, 10, 1, seed=3)
    grid = np.asarray(_opened(image_grid([[("", image, "")]], tmp_path / "grid.png", min_tile=40)))
    np.testing.assert_array_equal(grid[8 : 8 + 40 : 4, 8 : 8 + 40 : 4, 0], image)


@pytest.mark.parametrize(
    "rows",
    [[], [[]], [[None]], [[("rgba", np.zeros((4, 4, 4), np.uint8), "")]], [[("f", np.zeros((4, 4)), "")]]],
    ids=["no rows", "empty row", "only gaps", "rgba", "float"],
)
def test_image_grid_rejects_empty_or_bad_tiles(tmp_path: Path, rows: list):
    with pytest.raises(ValueError):
        image_grid(rows, tmp_path / "grid.png")
