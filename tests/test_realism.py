"""diffc.imaging.realism on the held-out photographs (bundled with scikit-image, scikit-learn and
matplotlib): real-vs-real scores sit below every degraded set, degradations score monotonically worse
with strength, values are deterministic, and bad input is refused. Nothing is downloaded."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from diffc.imaging import realism
from diffc.models.data import held_out_photos

# Few resamples keep the suite fast; the values themselves do not depend on them.
FAST = {"fd": {"bootstrap": 3}, "kid": {"subsets": 10}}


def _blur(image: np.ndarray, radius: float) -> np.ndarray:
    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius)))


def _jpeg(image: np.ndarray, quality: float) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=int(quality))
    return np.asarray(Image.open(buffer).convert("RGB"))


def _noise(image: np.ndarray, sigma: float) -> np.ndarray:
    noise = np.random.default_rng(0).normal(0.0, sigma, image.shape)
    return np.clip(image + noise, 0, 255).round().astype(np.uint8)


DEGRADATIONS = {"blur": (_blur, (1.0, 2.0, 4.0)), "jpeg": (_jpeg, (30, 10, 3)),
                "noise": (_noise, (8, 20, 40))}


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return list(held_out_photos().values())


@pytest.fixture(scope="module")
def halves(photos):
    """Two disjoint sets of real patches: the even and odd patches of the pooled grid."""
    f = realism.features(photos)
    return f[0::2], f[1::2]


def _scores(reference: torch.Tensor, decoded: torch.Tensor) -> tuple[float, float]:
    fd = realism.fd_from_features(reference, decoded, **FAST["fd"])
    kid = realism.kid_from_features(reference, decoded, **FAST["kid"])
    return fd.value, kid.value


def test_patches_tile_without_overlap():
    image = np.arange(130 * 200 * 3, dtype=np.uint32).reshape(130, 200, 3).astype(np.uint8)
    tiles = realism.patches([image, image[:, :, 0]])
    assert tiles.shape == (2 * 2 * 3, 3, 64, 64) and tiles.dtype == torch.uint8
    np.testing.assert_array_equal(tiles[4].permute(1, 2, 0).numpy(), image[64:128, 64:128])
    np.testing.assert_array_equal(tiles[6].numpy(), np.repeat(image[None, :64, :64, 0], 3, axis=0))
    assert realism.patches([image[:63]]).shape[0] == 0


@pytest.mark.parametrize("kind", sorted(DEGRADATIONS))
def test_degradations_score_monotonically_worse(photos, halves, kind):
    reference, other_real = halves
    degrade, strengths = DEGRADATIONS[kind]
    real = _scores(reference, other_real)
    degraded = [_scores(reference, realism.features([degrade(p, s) for p in photos])[1::2])
                for s in strengths]
    for metric in range(2):
        values = [real[metric]] + [d[metric] for d in degraded]
        assert all(a < b for a, b in zip(values, values[1:], strict=False)), (kind, metric, values)
    # "Near zero" relative to the degraded sets: real-vs-real is a small fraction of the strongest.
    assert real[0] < 0.4 * degraded[-1][0]


def test_real_sets_kid_is_zero_within_its_error(halves):
    kid = realism.kid_from_features(*halves)
    assert abs(kid.value) < 4 * kid.stderr
    assert kid.patches_reference + kid.patches_decoded == 475


def test_deterministic_for_fixed_input(photos):
    runs = [_scores(realism.features(photos[:4]), realism.features(photos[4:])) for _ in range(2)]
    assert runs[0] == runs[1]
    fd = realism.fd_from_features(*[realism.features(p) for p in (photos[:4], photos[4:])], **FAST["fd"])
    assert fd.stderr > 0 and (fd.patches_reference, fd.patches_decoded) == (206, 269)


def test_too_few_patches_names_the_minimum(photos):
    with pytest.raises(ValueError, match=f"at least {realism.MIN_PATCHES} patches"):
        realism.realism([photos[0][:256, :256]], photos[1:])


def test_wrong_inception_weights_are_refused(tmp_path):
    wrong = tmp_path / realism.INCEPTION_FILE
    wrong.write_bytes(b"not the Inception weights")
    with pytest.raises(ValueError, match="not the standard Inception weights"):
        realism.check_inception_weights(wrong)
    with pytest.raises(ValueError, match=realism.INCEPTION_SHA256):
        realism.inception_fid([], [], wrong)
    with pytest.raises(FileNotFoundError, match=realism.INCEPTION_FILE):
        realism.check_inception_weights(tmp_path / "missing.pth")


def test_sweep_merge_reports_realism_per_method_and_stop(photos, tmp_path):
    from diffc.imaging.io import write_png
    from diffc.tools.sweep import merge, table

    results = []
    for i, photo in enumerate(photos[:2]):
        folder = f"files/p{i}"
        (tmp_path / folder).mkdir(parents=True)
        write_png(tmp_path / folder / "original.png", photo)
        rows = {}
        for name, radius in (("sharp", 0.0), ("blurred", 3.0)):
            png = f"{folder}/{name}_k001.png"
            write_png(tmp_path / png, _blur(photo, radius) if radius else photo)
            rows[name] = [{"stop": 1, "bpp": 1.0, "psnr-rgb": None, "png": png}]
        results.append({"image": f"p{i}", "methods": rows})
    merged = merge(results, tmp_path)
    sharp, blurred = merged["sharp"]["results"], merged["blurred"]["results"]
    assert sharp["patches"] == blurred["patches"] == [64 + 28]
    assert sharp["fd-alexnet"] == [0.0] or abs(sharp["fd-alexnet"][0]) < 1e-3  # identical sets
    assert blurred["kid-alexnet"][0] > sharp["kid-alexnet"][0] + 4 * blurred["kid-alexnet-stderr"][0]
    assert blurred["fd-alexnet-stderr"][0] > 0
    saved = json.loads((tmp_path / "blurred.json").read_text())["results"]
    assert saved["kid-alexnet"] == blurred["kid-alexnet"]
    assert "KID-Alex" in table(merged) and (tmp_path / "rd.png").is_file()
    from diffc.tools.traversal import traversal

    data = traversal(merged, [("sharp", 0.0), ("blurred", 1.0), ("absent", 0.5)], tmp_path)
    assert [p["method"] for p in data["points"]] == ["sharp", "blurred"]
    point = data["points"][1]
    assert point["kid-alexnet"] == blurred["kid-alexnet"][0] and point["patches"] == 92
    assert (tmp_path / "traversal.png").is_file()


def test_inception_fid_says_what_it_needs(tmp_path, monkeypatch, photos):
    import hashlib
    import importlib.util

    if importlib.util.find_spec("torch_fidelity") is not None:
        pytest.skip("torch-fidelity is installed here; this checks the project's own environment")
    weights = tmp_path / realism.INCEPTION_FILE
    weights.write_bytes(b"a stand-in whose hash the test declares standard")
    monkeypatch.setattr(realism, "INCEPTION_SHA256", hashlib.sha256(weights.read_bytes()).hexdigest())
    with pytest.raises(ImportError, match="torch-fidelity"):
        realism.inception_fid(photos[:1], photos[1:2], weights)


@pytest.mark.parametrize("crops", [1, 2, 3, 4, 7, 8, 9, 16, 63, 64, 65])
def test_demo_realism_crop_side_is_the_smallest_that_suffices(crops):
    from diffc.tools.demo import realism_crop_side

    side = realism_crop_side(crops)
    assert side % realism.PATCH == 0
    assert crops * (side // realism.PATCH) ** 2 >= realism.MIN_PATCHES
    assert crops * (side // realism.PATCH - 1) ** 2 < realism.MIN_PATCHES
