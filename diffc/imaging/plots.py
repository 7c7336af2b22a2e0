"""Rate-distortion plots from CompressAI-layout JSON, and image grids that compare reconstructions.

:func:`rd_plot` reads one JSON (or dict) per method in CompressAI's layout,
``{"name", "description", "results": {"bpp": [...], "<metric>": [...], ...}}`` (one list entry per
rate point), and draws one panel per metric against bpp. As in CompressAI's ``utils/plot``, MS-SSIM
(any ``ms-ssim*`` key) is drawn in dB, -10 log10(1 - MS-SSIM), which spreads out the range near 1
where codecs differ; other metrics are drawn as stored. LPIPS is lower-is-better and its axis says
so; the fourth default panel is the set-level realism KID-AlexNet (:mod:`diffc.imaging.realism`).
A method without a metric is left out of that panel; rate points whose value is missing (None or
non-finite, e.g. MS-SSIM exactly 1) are dropped, so partial results plot. Drawing uses matplotlib's
Agg canvas directly (no pyplot, no global backend switch), so it is safe in workers and headless.

:func:`image_grid` writes one PNG from rows of tiles (see :data:`Tile`). It composes pixels with
Pillow rather than matplotlib so that compression artefacts are shown exactly: every image is
enlarged by the same integer factor with nearest-neighbour repetition and never resampled.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from diffc.imaging.io import as_image

__all__ = ["DEFAULT_METRICS", "Tile", "image_grid", "rd_plot"]

DEFAULT_METRICS: tuple[str, ...] = ("psnr-rgb", "ms-ssim-rgb", "lpips", "kid-alexnet")

Tile = tuple[str, np.ndarray, str]
"""One grid cell: ``(label, image, caption)``. The label is drawn above the image (e.g. the method,
``"DiffC-F"``), the caption below it (e.g. ``"0.31 bpp, 27.4 dB"``); either may be empty. The image is
uint8 (H, W) grayscale or (H, W, 3) RGB."""

Method = Mapping[str, Any]


def _load(source: str | Path | Method) -> Method:
    if isinstance(source, Mapping):
        method = source
    else:
        with open(source, encoding="utf-8") as file:
            method = json.load(file)
    if not isinstance(method, Mapping) or not isinstance(method.get("name"), str):
        raise ValueError(f"{source!r}: not a CompressAI result: needs a string 'name'")
    results = method.get("results")
    if not isinstance(results, Mapping) or not isinstance(results.get("bpp"), Sequence):
        raise ValueError(f"{method['name']}: not a CompressAI result: needs 'results' with a 'bpp' list")
    return method


def _ms_ssim_db(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):  # MS-SSIM = 1 is +inf dB; dropped later
        return -10 * np.log10(1 - values)


def _axis(metric: str) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    """The y label of a metric's panel and the transform from stored values to what is drawn."""
    if metric.startswith("ms-ssim"):
        return f"{metric.upper()} [dB]  (-10 log10(1 - MS-SSIM))", _ms_ssim_db
    if metric.startswith("psnr"):
        return f"{metric.upper()} [dB]", np.asarray
    if "lpips" in metric:
        return f"{metric.upper()}  (lower is better)", np.asarray
    if metric == "kid-alexnet":
        return "KID-AlexNet, 64x64 patches  (0 = realistic)", np.asarray
    return metric, np.asarray


def _curve(method: Method, metric: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The (bpp, value) points of one method for one metric, finite only, sorted by rate."""
    results = method["results"]
    if metric not in results:
        return None
    bpp, values = results["bpp"], results[metric]
    if len(values) != len(bpp):
        raise ValueError(f"{method['name']}: {len(values)} {metric} values for {len(bpp)} bpp values")
    # None marks a rate point that has no value yet; float() turns it into NaN for the mask.
    x = np.array([math.nan if v is None else float(v) for v in bpp])
    y = _axis(metric)[1](np.array([math.nan if v is None else float(v) for v in values]))
    keep = np.isfinite(x) & np.isfinite(y)
    order = np.argsort(x[keep], kind="stable")
    return x[keep][order], y[keep][order]


def rd_plot(
    methods: Sequence[str | Path | Method],
    out_path: str | Path,
    metrics: Sequence[str] = DEFAULT_METRICS,
    title: str | None = None,
) -> Path:
    """Draw one rate-distortion panel per metric for every method and save it as ``out_path``.

    ``methods`` are CompressAI JSON files or the dicts they hold. A method keeps its colour and marker
    in every panel; a panel no method reports says so instead of staying blank. ``title`` goes above
    all panels (e.g. ``"partial results: 3 of 8 images"``). Returns the path written.
    """
    if not metrics:
        raise ValueError("rd_plot needs at least one metric")
    loaded = [_load(source) for source in methods]
    figure = Figure(figsize=(4.8 * len(metrics), 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        _panel(ax, loaded, metric)
    if title:
        figure.suptitle(title)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=150)
    return out


def _panel(ax: Axes, methods: list[Method], metric: str) -> None:
    markers = "osD^v<>ph*"
    drawn = 0
    for index, method in enumerate(methods):
        curve = _curve(method, metric)
        if curve is None or curve[0].size == 0:
            continue
        ax.plot(*curve, marker=markers[index % len(markers)], color=f"C{index % 10}", label=method["name"])
        drawn += 1
    ax.set_title(metric)
    ax.set_xlabel("bits per pixel (bpp)")
    ax.set_ylabel(_axis(metric)[0])
    ax.grid(True, alpha=0.3)
    if drawn:
        ax.legend(fontsize="small")
    else:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(0.5, 0.5, f"no method reports {metric}", ha="center", va="center", transform=ax.transAxes)


_PAD = 8
_FONT_SIZE = 14
_LINE_H = _FONT_SIZE + 4


@cache
def _font(bold: bool) -> ImageFont.FreeTypeFont:
    # matplotlib ships DejaVu, so grids and RD plots share one typeface on every machine.
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(str(Path(matplotlib.get_data_path(), "fonts", "ttf", name)), _FONT_SIZE)


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Split ``text`` into lines no wider than ``width`` pixels (a single long word may overflow)."""
    if not text:
        return []
    lines: list[str] = []
    for paragraph in text.splitlines():
        words = paragraph.split()
        line = ""
        for word in words:
            candidate = f"{line} {word}".strip()
            if line and font.getlength(candidate) > width:
                lines.append(line)
                candidate = word
            line = candidate
        lines.append(line)
    return lines


def image_grid(
    rows: Sequence[Sequence[Tile | None]],
    out_path: str | Path,
    title: str | None = None,
    min_tile: int = 160,
) -> Path:
    """Write a PNG with one row per entry of ``rows`` and one cell per :data:`Tile` in it.

    The intended layout is rows = rate points and columns = the original followed by one column per
    method, e.g. ``[[("original", x, "kodim23"), ("DiffC-F", y1, "0.31 bpp"), ("JPEG", y2, "0.32 bpp")],
    ...]``. Rows may have different lengths (short rows end early) and ``None`` leaves a cell empty,
    so methods missing at a rate can keep their column. Every image is enlarged by one shared integer
    factor so the largest is at least ``min_tile`` pixels on its long side; grayscale tiles are drawn
    in gray. Returns the path written.
    """
    tiles = [tile for row in rows for tile in row if tile is not None]
    if not tiles:
        raise ValueError("image_grid needs at least one tile")
    for label, image, caption in tiles:
        as_image(image)
        if not isinstance(label, str) or not isinstance(caption, str):
            raise TypeError("a tile's label and caption must be strings")
    largest = max(max(image.shape[:2]) for _, image, _ in tiles)
    scale = max(1, math.ceil(min_tile / largest))
    cell_w = scale * max(image.shape[1] for _, image, _ in tiles)
    cell_h = scale * max(image.shape[0] for _, image, _ in tiles)
    bold, regular = _font(bold=True), _font(bold=False)
    label_lines = max(len(_wrap(label, bold, cell_w)) for label, _, _ in tiles)
    caption_lines = max(len(_wrap(caption, regular, cell_w)) for _, _, caption in tiles)
    title_h = _LINE_H + _PAD if title else 0
    row_h = label_lines * _LINE_H + cell_h + caption_lines * _LINE_H + 2 * _PAD
    columns = max(len(row) for row in rows)
    canvas = Image.new("RGB", (columns * (cell_w + _PAD) + _PAD, title_h + len(rows) * row_h + _PAD), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((_PAD, _PAD), title, fill="black", font=bold)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            if tile is not None:
                left, top = _PAD + c * (cell_w + _PAD), title_h + _PAD + r * row_h
                _draw_tile(canvas, draw, tile, (left, top), (cell_w, cell_h), scale, label_lines * _LINE_H)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out, format="PNG")
    return out


def _draw_tile(
    canvas: Image.Image,
    draw: ImageDraw.ImageDraw,
    tile: Tile,
    corner: tuple[int, int],
    cell: tuple[int, int],
    scale: int,
    label_h: int,
) -> None:
    """Label, image (centred in its cell, enlarged by ``scale``) and caption of one tile."""
    label, image, caption = tile
    (left, top), (cell_w, cell_h) = corner, cell
    bold, regular = _font(bold=True), _font(bold=False)
    for i, line in enumerate(_wrap(label, bold, cell_w)):
        draw.text((left, top + i * _LINE_H), line, fill="black", font=bold)
    # np.repeat enlarges by whole pixels, so every coded pixel stays visible as a block.
    enlarged = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
    picture = Image.fromarray(enlarged).convert("RGB")
    image_top = top + label_h
    x, y = left + (cell_w - picture.width) // 2, image_top + (cell_h - picture.height) // 2
    canvas.paste(picture, (x, y))
    # A hairline frame keeps white image regions distinguishable from the white page.
    draw.rectangle((x - 1, y - 1, x + picture.width, y + picture.height), outline=(160, 160, 160))
    for i, line in enumerate(_wrap(caption, regular, cell_w)):
        draw.text((left, image_top + cell_h + 2 + i * _LINE_H), line, fill=(40, 40, 40), font=regular)
