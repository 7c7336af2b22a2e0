"""Set-level realism of reconstructions: FD-AlexNet and KID-AlexNet over 64x64 patches, offline.

Realism is a distance between two *distributions* of images (Blau and Michaeli 2018, "The
perception-distortion tradeoff"), estimated here from two sets of images, the references and their
reconstructions, by the patch protocol of the learned-compression literature (Mentzer et al. 2020,
HiFiC; Muckley et al. 2023, MS-ILLM): every image is cut into non-overlapping 64x64 patches (the
top-left aligned grid; a remainder narrower than 64 px is dropped), the patches of all images are
pooled, and a feature distance is computed between the two pools of patches.

Features: the convolutional trunk of AlexNet that LPIPS uses (:mod:`diffc.imaging.lpips`, the same
offline weights), pixels mapped by x / 127.5 - 1 and LPIPS's scaling layer, the fifth ReLU's
256 channels averaged over space. These are *not* Inception-V3's features, so the values are named
FD-AlexNet and KID-AlexNet and are not comparable with published FID/KID numbers.

- **FD-AlexNet**: the Frechet distance between Gaussians fitted to the two feature sets (Heusel et al.
  2017), by torchmetrics' ``FrechetInceptionDistance`` given a custom feature module. Exact up to
  float64 rounding; biased upward by O(d / n) for n patches of d = 256 features.
- **KID-AlexNet**: the unbiased MMD^2 with the cubic polynomial kernel (Binkowski et al. 2018,
  "Demystifying MMD GANs"), torchmetrics' ``KernelInceptionDistance``, averaged over random
  subsets of half the patches (at most 1000).

Every value comes with a standard error: for FD the standard deviation over bootstrap resamples of
the patches; for KID the standard deviation over subsets scaled by sqrt(m / n) (the unbiased MMD^2
has variance of order 1 / n when the distributions differ), an approximation. Random choices come
from a fixed seed, so a value is a deterministic function of its input.

Optional Inception FID/KID (the standard metric) needs the user's copy of the standard weights file;
its SHA-256 is checked before anything reads it, and nothing is downloaded (:func:`inception_fid`).
"""

from __future__ import annotations

import functools
import hashlib
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from diffc.imaging.io import as_image
from diffc.imaging.lpips import AlexNetLPIPS, load_alexnet_lpips

PATCH = 64
# Fewer patches than this per set give a meaningless estimate (KID's subsets hold half of them).
MIN_PATCHES = 64
KID_MAX_SUBSET = 1000
KID_SUBSETS = 50
BOOTSTRAP = 20
REALISM_KEYS = ("fd-alexnet", "fd-alexnet-stderr", "kid-alexnet", "kid-alexnet-stderr")
SEED = 0
BATCH = 256
# The standard FID weights (TensorFlow's 2015-12-05 Inception-V3 as ported by pytorch-fid and used by
# torch-fidelity and torchmetrics): file name and SHA-256 as published with pytorch-fid's release.
INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"


@dataclass(frozen=True)
class RealismScore:
    """One set-level value, its standard error and how many patches each set had."""

    metric: str
    value: float
    stderr: float
    patches_reference: int
    patches_decoded: int

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


class AlexNetFeatures(nn.Module):
    """(N, 3, H, W) pixels in 0..255 -> (N, 256): LPIPS's AlexNet trunk, last ReLU, mean over space."""

    num_features = 256

    def __init__(self, lpips: AlexNetLPIPS) -> None:
        super().__init__()
        self.lpips = lpips

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        h = (images.float() / 127.5 - 1.0 - self.lpips.shift) / self.lpips.scale
        return self.lpips.features(h).mean(dim=(2, 3))


class _Given(nn.Module):
    """The feature module torchmetrics sees: its input rows already are the features."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


@functools.cache
def _alexnet() -> AlexNetFeatures:
    return AlexNetFeatures(load_alexnet_lpips())


def patches(images: Sequence[np.ndarray], size: int = PATCH) -> torch.Tensor:
    """(N, 3, size, size) uint8: the non-overlapping size x size patches of every image, pooled.

    Each image's top-left aligned grid is used; grayscale is repeated to three channels."""
    tiles = []
    for k, image in enumerate(images):
        pixels = as_image(image, f"image {k}")
        pixels = pixels.reshape(*pixels.shape[:2], -1)
        pixels = np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels
        rows, cols = pixels.shape[0] // size, pixels.shape[1] // size
        if rows and cols:
            grid = pixels[: rows * size, : cols * size].reshape(rows, size, cols, size, 3)
            tiles.append(grid.transpose(0, 2, 4, 1, 3).reshape(rows * cols, 3, size, size))
    if not tiles:
        return torch.empty((0, 3, size, size), dtype=torch.uint8)
    return torch.from_numpy(np.ascontiguousarray(np.concatenate(tiles)))


@torch.no_grad()
def _batched(net: nn.Module, tiles: torch.Tensor) -> torch.Tensor:
    return torch.cat([net(tiles[i : i + BATCH]) for i in range(0, max(len(tiles), 1), BATCH)])


def features(images: Sequence[np.ndarray]) -> torch.Tensor:
    """(N, 256) float32 AlexNet features of the pooled 64x64 patches of ``images``."""
    return _batched(_alexnet(), patches(images))


def image_features(images: Sequence[np.ndarray]) -> list[torch.Tensor]:
    """:func:`features` of each image, computed in shared batches (one network pass per batch)."""
    counts = [len(patches([image])) for image in images]
    return list(torch.split(features(images), counts))


def _check_count(metric: str, n_reference: int, n_decoded: int) -> None:
    if min(n_reference, n_decoded) < MIN_PATCHES:
        raise ValueError(
            f"{metric} needs at least {MIN_PATCHES} patches of {PATCH}x{PATCH} px per set; got "
            f"{n_reference} reference and {n_decoded} decoded patches"
        )


def _fd(reference: torch.Tensor, decoded: torch.Tensor) -> float:
    metric = FrechetInceptionDistance(feature=_Given(reference.shape[1]))
    metric.update(reference, real=True)
    metric.update(decoded, real=False)
    return float(metric.compute())


def fd_from_features(reference: torch.Tensor, decoded: torch.Tensor, *, bootstrap: int = BOOTSTRAP,
                     seed: int = SEED, metric: str = "fd-alexnet") -> RealismScore:
    """Frechet distance of two feature sets; stderr: std over ``bootstrap`` resamples of the patches."""
    _check_count(metric, len(reference), len(decoded))
    rng = np.random.default_rng(seed)
    resampled = [
        _fd(reference[torch.from_numpy(rng.integers(0, len(reference), len(reference)))],
            decoded[torch.from_numpy(rng.integers(0, len(decoded), len(decoded)))])
        for _ in range(bootstrap)
    ]
    return RealismScore(metric, _fd(reference, decoded), float(np.std(resampled, ddof=1)),
                        len(reference), len(decoded))


def kid_from_features(reference: torch.Tensor, decoded: torch.Tensor, *, subsets: int = KID_SUBSETS,
                      seed: int = SEED) -> RealismScore:
    """KID-AlexNet of two feature sets: mean over ``subsets`` random subsets of half the patches."""
    _check_count("kid-alexnet", len(reference), len(decoded))
    n = min(len(reference), len(decoded))
    size = min(KID_MAX_SUBSET, n // 2)
    with warnings.catch_warnings():  # its warning that it keeps every feature: ours are 256 floats each
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=_Given(reference.shape[1]), subsets=subsets,
                                         subset_size=size)
    metric.update(reference, real=True)
    metric.update(decoded, real=False)
    # torchmetrics draws the subsets from torch's global generator: seed a forked copy of it.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return RealismScore("kid-alexnet", float(mean), float(std) * math.sqrt(size / n),
                        len(reference), len(decoded))


def scores(reference: torch.Tensor, decoded: torch.Tensor) -> tuple[RealismScore, RealismScore]:
    """FD-AlexNet and KID-AlexNet of two feature sets."""
    return fd_from_features(reference, decoded), kid_from_features(reference, decoded)


def realism(references: Sequence[np.ndarray], decoded: Sequence[np.ndarray]) -> dict[str, dict]:
    """FD-AlexNet and KID-AlexNet between two sets of images, each as a JSON-ready dict."""
    return {s.metric: s.as_dict() for s in scores(features(references), features(decoded))}


def result_columns(reference: torch.Tensor, decoded: torch.Tensor) -> dict[str, float | int | None]:
    """One rate point's realism as a result file records it: values, standard errors and the patch
    count, with ``None`` values when either set has fewer than :data:`MIN_PATCHES` patches."""
    n = min(len(reference), len(decoded))
    found = scores(reference, decoded) if n >= MIN_PATCHES else ()
    out: dict[str, float | int | None] = {key: None for key in REALISM_KEYS}
    for score in found:
        out[score.metric], out[f"{score.metric}-stderr"] = score.value, score.stderr
    return out | {"patches": n}


def check_inception_weights(path: Path) -> Path:
    """``path`` if it is the standard Inception weights file (SHA-256 checked), else ValueError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (the standard weights are {INCEPTION_FILE})")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != INCEPTION_SHA256:
        raise ValueError(
            f"{path} is not the standard Inception weights file {INCEPTION_FILE}: SHA-256 "
            f"{digest.hexdigest()}, expected {INCEPTION_SHA256}"
        )
    return path


def inception_fid(references: Sequence[np.ndarray], decoded: Sequence[np.ndarray],
                  weights: Path) -> RealismScore:
    """Standard Inception FID of the pooled patches (with its bootstrap stderr), from checked weights.

    torchmetrics builds its Inception-V3 from torch-fidelity, which imports torchvision; this
    project installs neither, so without them this raises ImportError naming what is missing.
    """
    weights = check_inception_weights(weights)
    try:
        net = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(weights)).inception
    except (ImportError, ModuleNotFoundError, RuntimeError) as exc:
        raise ImportError(f"Inception FID needs torch-fidelity (and with it torchvision): {exc}") from None
    ref, dec = patches(references), patches(decoded)
    _check_count("fid-inception", len(ref), len(dec))
    return fd_from_features(_batched(net, ref), _batched(net, dec), metric="fid-inception")
