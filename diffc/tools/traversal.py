"""The rate-distortion-perception traversal of DiffC's decoders, from one sweep's merged results.

Every prefix of a DiffC file can be decoded many ways without re-encoding: the denoiser's posterior
mean (MMSE, best distortion), the probability-flow ODE (DiffC-F, DDIM with eta = 0), DDIM with noise
level 0 < eta < 1, and ancestral sampling (DiffC-A, a posterior sample: realistic in distribution,
at most twice the MMSE's squared error, Blau and Michaeli 2018; Theis et al. 2022, "Lossy compression
with Gaussian diffusion"). A sweep with ``etas`` (``diffc sweep --etas``) decodes the same prefixes
with all of them, so the trade-off is traced at fixed rates at no extra encoding cost.

:func:`traversal` collects, per stop point, each decoder's mean bpp, PSNR, LPIPS and set-level
realism (KID-AlexNet and FD-AlexNet, :mod:`diffc.imaging.realism`, pooled over the sweep's images),
writes ``traversal.json`` and ``traversal.png``: distortion (PSNR) against realism at each fixed
rate, and realism against rate per decoder. Exact: what the sweep measured; nothing is fitted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rcc.experiments import atomic_write

__all__ = ["traversal"]

KEYS = ("bpp", "psnr-rgb", "lpips", "kid-alexnet", "kid-alexnet-stderr", "fd-alexnet", "fd-alexnet-stderr",
        "patches")


def traversal(results: Mapping[str, Mapping], decoders: Sequence[tuple[str, float | None]],
              out: Path) -> dict:
    """Write ``out/traversal.json`` and ``out/traversal.png`` from merged sweep ``results``.

    ``decoders``: (method name, eta) in traversal order, MMSE first (eta None), then increasing eta;
    decoders missing from ``results`` are skipped. Returns what the JSON holds."""
    present = [(name, eta) for name, eta in decoders if name in results]
    stops = sorted({k for name, _ in present for k in results[name]["results"]["stop"]})
    points = []
    for name, eta in present:
        r = results[name]["results"]
        columns = {key: r.get(key, [None] * len(r["stop"])) for key in KEYS}
        points += [{"method": name, "eta": eta, "stop": k, **{key: v[i] for key, v in columns.items()}}
                   for i, k in enumerate(r["stop"])]
    data = {"decoders": [{"method": n, "eta": e} for n, e in present], "stops": stops, "points": points}
    atomic_write(out / "traversal.json", json.dumps(data, indent=1).encode())
    _plot(data, out / "traversal.png")
    return data


def _plot(data: Mapping, path: Path) -> None:
    figure = Figure(figsize=(10, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    points = [p for p in data["points"] if p["kid-alexnet"] is not None and p["psnr-rgb"] is not None]
    for index, k in enumerate(data["stops"]):
        at = [p for p in points if p["stop"] == k]  # in traversal order: MMSE, F, etas, A
        if at:
            bpp = sum(p["bpp"] for p in at) / len(at)
            left.errorbar([p["kid-alexnet"] for p in at], [p["psnr-rgb"] for p in at],
                          xerr=[p["kid-alexnet-stderr"] for p in at], marker="o", color=f"C{index % 10}",
                          label=f"stop {k} ({bpp:.2f} bpp)")
            for p in at:
                left.annotate(p["method"].removeprefix("DiffC-"), (p["kid-alexnet"], p["psnr-rgb"]),
                              fontsize="x-small", xytext=(3, 3), textcoords="offset points")
    left.set_xlabel("KID-AlexNet, 64x64 patches  (0 = realistic)")
    left.set_ylabel("PSNR-RGB [dB]")
    left.set_title("distortion against realism at fixed rates")
    for index, decoder in enumerate(data["decoders"]):
        own = sorted((p for p in points if p["method"] == decoder["method"]), key=lambda p: p["bpp"])
        if own:
            right.errorbar([p["bpp"] for p in own], [p["kid-alexnet"] for p in own],
                           yerr=[p["kid-alexnet-stderr"] for p in own], marker="osD^v<>ph*"[index % 10],
                           color=f"C{index % 10}", label=decoder["method"])
    right.set_xlabel("bits per pixel (bpp)")
    right.set_ylabel("KID-AlexNet  (0 = realistic)")
    right.set_title("realism against rate")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        if ax.has_data():
            ax.legend(fontsize="small")
        else:
            ax.text(0.5, 0.5, "too few 64x64 patches for realism", ha="center", va="center",
                    transform=ax.transAxes)
    patches = max((p["patches"] or 0 for p in data["points"]), default=0)
    figure.suptitle(f"DiffC decoders on the same prefixes ({patches} patches per set)")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150)
