"""Image-quality metrics of 8-bit images, under CompressAI's names: PSNR, MS-SSIM and LPIPS.

Every function takes two uint8 arrays of one shape, (H, W) grayscale or (H, W, C) with C = 1 or 3,
the reference first, and returns a Python float.

- **PSNR**: 10 log10(255^2 / MSE) over all pixels and channels, computed exactly in float64; inf for
  identical images.
- **MS-SSIM** (Wang, Simoncelli, Bovik 2003, "Multiscale structural similarity for image quality
  assessment"): pytorch-msssim's per-scale SSIM (11-tap Gaussian window, sigma 1.5, K = (0.01,
  0.03), data range 255, float32) and its multi-scale loop (2x2 average pooling, negative terms
  clipped to 0), averaged over channels; this is how CompressAI computes ``ms-ssim-rgb``. The
  standard five scales need the smaller side to exceed 160 px; smaller images use the largest
  number of scales n whose coarsest scale still holds the window (smaller side > 10 * 2^(n-1)), with
  the first n standard weights rescaled to the standard total. At five scales the weights are
  unchanged and the value is exactly ``pytorch_msssim.ms_ssim(..., data_range=255)``; with fewer
  scales it is a truncated MS-SSIM, not comparable to published five-scale numbers.
- **LPIPS** v0.1, AlexNet trunk (Zhang et al. 2018), see :mod:`diffc.imaging.lpips`: pixels mapped to
  [-1, 1] by x / 127.5 - 1 as in the reference code, grayscale repeated to three channels. The
  trunk needs the smaller side to be at least 31 px.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

from diffc.imaging.io import as_image
from diffc.imaging.lpips import AlexNetLPIPS, load_alexnet_lpips

DATA_RANGE = 255.0
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MS_SSIM_WINDOW = 11
MS_SSIM_SIGMA = 1.5
MS_SSIM_K = (0.01, 0.03)
# Smallest side for which AlexNet's second max-pool still has a 3x3 input.
LPIPS_MIN_SIDE = 31


def _check_pair(reference: np.ndarray, decoded: np.ndarray) -> None:
    as_image(reference, "reference")
    as_image(decoded, "decoded")
    if reference.shape != decoded.shape:
        raise ValueError(f"shape mismatch: reference {reference.shape}, decoded {decoded.shape}")


def _as_batch(image: np.ndarray) -> torch.Tensor:
    """(1, C, H, W) float32 tensor of 0..255 values."""
    pixels = image[:, :, None] if image.ndim == 2 else image
    return torch.from_numpy(pixels.astype(np.float32)).permute(2, 0, 1).unsqueeze(0)


def psnr(reference: np.ndarray, decoded: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for data range 255; inf for identical images."""
    _check_pair(reference, decoded)
    mse = float(np.mean(np.square(reference.astype(np.float64) - decoded.astype(np.float64))))
    return math.inf if mse == 0.0 else 10.0 * math.log10(DATA_RANGE**2 / mse)


def ms_ssim_scales(height: int, width: int) -> int:
    """Number of MS-SSIM scales used for an image: up to five, while the window fits the coarsest."""
    smaller = min(height, width)
    n = 0
    while n < len(MS_SSIM_WEIGHTS) and smaller > (MS_SSIM_WINDOW - 1) * 2**n:
        n += 1
    return n


def ms_ssim_weights(n_scales: int) -> tuple[float, ...]:
    """The first ``n_scales`` standard weights, rescaled to the standard total (unchanged at five)."""
    factor = sum(MS_SSIM_WEIGHTS) / sum(MS_SSIM_WEIGHTS[:n_scales])
    return tuple(w * factor for w in MS_SSIM_WEIGHTS[:n_scales])


def ms_ssim(reference: np.ndarray, decoded: np.ndarray) -> float:
    """MS-SSIM on the 8-bit values, with as many of the five standard scales as the image allows."""
    _check_pair(reference, decoded)
    n_scales = ms_ssim_scales(*reference.shape[:2])
    if n_scales == 0:
        raise ValueError(
            f"MS-SSIM needs both sides larger than the {MS_SSIM_WINDOW}-pixel window, got {reference.shape}"
        )
    x, y = _as_batch(reference), _as_batch(decoded)
    # pytorch-msssim's public ms_ssim refuses sides <= 160 px whatever the number of scales; its window
    # and per-scale SSIM are used directly so that every number is still the library's arithmetic.
    window = _fspecial_gauss_1d(MS_SSIM_WINDOW, MS_SSIM_SIGMA).repeat(x.shape[1], 1, 1, 1)
    terms = []
    for scale in range(n_scales):
        ssim_per_channel, cs_per_channel = _ssim(x, y, data_range=DATA_RANGE, win=window, K=MS_SSIM_K)
        if scale < n_scales - 1:
            terms.append(torch.relu(cs_per_channel))
            padding = [side % 2 for side in x.shape[2:]]
            x = F.avg_pool2d(x, kernel_size=2, padding=padding)
            y = F.avg_pool2d(y, kernel_size=2, padding=padding)
    terms.append(torch.relu(ssim_per_channel))
    weights = x.new_tensor(ms_ssim_weights(n_scales)).view(-1, 1, 1)
    return float(torch.prod(torch.stack(terms) ** weights, dim=0).mean())


@functools.cache
def _lpips_model() -> AlexNetLPIPS:
    return load_alexnet_lpips()


def lpips(reference: np.ndarray, decoded: np.ndarray) -> float:
    """LPIPS v0.1 (AlexNet) distance; 0 for identical images, larger is more different."""
    _check_pair(reference, decoded)
    if min(reference.shape[:2]) < LPIPS_MIN_SIDE:
        raise ValueError(f"LPIPS (AlexNet) needs both sides >= {LPIPS_MIN_SIDE} px, got {reference.shape}")
    x0, x1 = (_as_batch(image).expand(-1, 3, -1, -1) / 127.5 - 1.0 for image in (reference, decoded))
    with torch.inference_mode():
        return float(_lpips_model()(x0, x1))


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "psnr-rgb": psnr, "ms-ssim-rgb": ms_ssim, "lpips": lpips}
"""The metrics under CompressAI's key names (kept for grayscale images too)."""


def compute_metrics(reference: np.ndarray, decoded: np.ndarray) -> dict[str, float]:
    """All three metrics under CompressAI's key names (kept for grayscale images too)."""
    return {key: fn(reference, decoded) for key, fn in METRICS.items()}


def result_metrics(reference: np.ndarray, decoded: np.ndarray) -> dict[str, float | None]:
    """:func:`compute_metrics` as a result file records it: ``None`` for a metric the image is too
    small for and for an infinite value (identical images' PSNR), which JSON cannot hold."""
    out: dict[str, float | None] = {}
    for key, fn in METRICS.items():
        try:
            value = fn(reference, decoded)
        except ValueError:  # too small for this metric
            value = None
        out[key] = None if value is None or math.isinf(value) else float(value)
    return out
