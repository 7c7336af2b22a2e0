"""Tiny randomly initialised diffusers models saved to a folder, as the image-layer tests need them
(diffusers' own tests use the same sizes: two blocks of 8 and 16 channels, 4 norm groups)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

# Tiny networks run several times faster on one thread than on two (thread start-up dominates a
# forward pass of a few thousand weights, and worse when the machine is busy).
torch.set_num_threads(1)


def save_tiny_model(folder: Path, *, prediction: str = "epsilon", channels: int = 3, seed: int = 0,
                    out_channels: int | None = None, layout: str = "pipeline", clip: bool = True,
                    attention: bool = False, window: int | None = None) -> Path:
    """Write a tiny UNet2DModel and DDPMScheduler; ``layout`` "pipeline" (model_index.json, unet/,
    scheduler/) or "bare" (a UNet folder with scheduler_config.json inside). ``attention``:
    self-attention in the lower level's blocks too (the middle block always has it); ``window``: the
    UNet folder's attention window. Returns the model path."""
    from diffusers import DDPMScheduler, UNet2DModel

    torch.manual_seed(seed)
    unet = UNet2DModel(sample_size=16, in_channels=channels, out_channels=out_channels or channels,
                       block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4,
                       down_block_types=("DownBlock2D", "AttnDownBlock2D" if attention else "DownBlock2D"),
                       up_block_types=("AttnUpBlock2D" if attention else "UpBlock2D", "UpBlock2D"))
    scheduler = DDPMScheduler(prediction_type=prediction, clip_sample=clip)
    unet_dir = folder if layout == "bare" else folder / "unet"
    unet.save_pretrained(unet_dir)
    if window is not None:
        (unet_dir / "diffc_config.json").write_text(json.dumps({"attention_window": window}))
    if layout == "bare":
        scheduler.save_pretrained(folder)
        return folder
    scheduler.save_pretrained(folder / "scheduler")
    (folder / "model_index.json").write_text(json.dumps(
        {"_class_name": "DDPMPipeline", "unet": ["diffusers", "UNet2DModel"],
         "scheduler": ["diffusers", "DDPMScheduler"]}))
    return folder


def smooth_image(height: int, width: int, channels: int = 3, seed: int = 0):  # noqa: ANN201
    """A seeded smooth test picture (gradients plus a little noise), uint8 (H, W[, C])."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = [np.sin(x / (3 + c) + y / (5 + 2 * c)) for c in range(channels)]
    img = 127.5 + 90 * np.stack(base, axis=-1) + rng.normal(0, 8, (height, width, channels))
    img = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return img[..., 0] if channels == 1 else img
