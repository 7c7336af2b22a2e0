"""A latent diffusion model as an :class:`~diffc.models.base.ImageModel`: a VAE around the denoiser.

Latent diffusion (Rombach et al. 2022) runs the diffusion on ``x = (mean(E(image)) - shift) *
scale``, where E is an ``AutoencoderKL``-family encoder and ``scale``/``shift`` are the VAE config's
``scaling_factor`` and ``shift_factor`` (Flux and SD3 have a shift; read from the config, never
hard-coded). Encoding takes the posterior *mean* (``latent_dist.mode()``), never a random draw, so
the same image always gives the same latent and the same file. Decoding inverts the scaling and
runs the VAE decoder; the image is rounded to 8 bits by the pixel model's rule
(:func:`~diffc.models.pixel.unit_to_pixels`).

Sizes: the latent grid needs ``H`` and ``W`` divisible by the VAE's downsampling factor times the
denoiser's multiple (:func:`~diffc.models.latent_networks.denoiser_multiple`). The image is
reflect-padded (bottom and right) to that multiple before the VAE and the decoded image cropped back
to the original size, which the file records; an image smaller than the multiple is refused. DiT's
transformer takes square latents only (it unpatchifies a square token grid), so its images are
padded to a square of the larger side.
bpp is always the file's bits over the original image's pixels.

Large images: above :data:`TILING_PIXELS` pixels (of the padded image) the VAE encodes and decodes
in overlapping tiles (diffusers' ``enable_tiling``: tiles of the VAE's ``sample_size``, blended
over a quarter of a tile), so its memory stays bounded on a GPU. Tiling changes the latents (each
tile is encoded on its own), so it is decided by the image's size alone, the same on the encoder
and on every decoder, and the file needs no flag: the decoder never runs the VAE encoder (the latents
come from the file), and decodes the final latent tiled exactly when the encoder measured its PSNR
stop tiled. Slicing (``enable_slicing``) would only split batches, and the VAE always sees one image.

What is approximate: the VAE is lossy, so even a perfectly sent latent reconstructs only to the
VAE's own quality; the padding costs bits for pixels that are cropped away. Latents are **not
clipped** (``clip`` is False): they have no bounded range. ``value_range`` is the nominal range of
the scaled latents (unit variance, so about [-1, 1] holds most mass); it is used only as the
reference of a PSNR measured in latent space, never to project estimates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from diffc.diffusion.denoisers import ConvertedDenoiser
from diffc.imaging.io import as_image, channels_first, channels_last, crop
from diffc.models.base import Conditioning
from diffc.models.pixel import pixels_to_unit, unit_to_pixels

__all__ = ["TILING_PIXELS", "LatentAutoencoder", "LatentModel"]

TILING_PIXELS = 1024 * 1024
"""The most pixels (of the padded image) the VAE runs on whole; a larger image is tiled (SDXL's and
Flux's native 1024 x 1024 run whole; docs/models.md)."""


@dataclass(frozen=True, eq=False)
class LatentAutoencoder:
    """An ``AutoencoderKL``-family VAE with its scaling: pixels in [-1, 1] to latents and back."""

    vae: object
    scale: float
    shift: float
    factor: int
    tiling_pixels: int = TILING_PIXELS

    @classmethod
    def of(cls, vae: object) -> LatentAutoencoder:
        cfg = vae.config
        return cls(vae, float(cfg.get("scaling_factor") or 1.0), float(cfg.get("shift_factor") or 0.0),
                   2 ** (len(cfg.block_out_channels) - 1))

    @property
    def latent_channels(self) -> int:
        return int(self.vae.config.latent_channels)

    def tiled(self, pixels: int) -> bool:
        """Whether an image of ``pixels`` pixels goes through the VAE in tiles (by its size alone)."""
        return pixels > self.tiling_pixels and hasattr(self.vae, "enable_tiling")

    def _set_tiling(self, pixels: int) -> None:
        if hasattr(self.vae, "enable_tiling"):  # diffusers' AutoencoderKL family; the mode is the VAE's state
            (self.vae.enable_tiling if self.tiled(pixels) else self.vae.disable_tiling)()

    def encode(self, x: np.ndarray) -> np.ndarray:
        """``(3, H, W)`` in [-1, 1] to the scaled latent ``(C, H / f, W / f)`` (posterior mean)."""
        import torch

        self._set_tiling(x.shape[-2] * x.shape[-1])
        param = next(self.vae.parameters())
        with torch.inference_mode():
            t = torch.from_numpy(np.ascontiguousarray(x[None])).to(param.device, param.dtype)
            mean = self.vae.encode(t).latent_dist.mode()
            return ((mean.to("cpu", torch.float64) - self.shift) * self.scale).numpy()[0]

    def decode(self, latent: np.ndarray) -> np.ndarray:
        """The scaled latent ``(C, h, w)`` to pixels ``(3, h f, w f)`` in about [-1, 1]."""
        import torch

        self._set_tiling(latent.shape[-2] * latent.shape[-1] * self.factor**2)
        param = next(self.vae.parameters())
        with torch.inference_mode():
            z = torch.from_numpy(np.ascontiguousarray(latent[None] / self.scale + self.shift))
            y = self.vae.decode(z.to(param.device, param.dtype)).sample
            return y.to("cpu", torch.float64).numpy()[0]


@dataclass(frozen=True, eq=False)
class LatentModel:
    """A latent diffusion model seen by the image codec (see the module docstring).

    ``multiple``: the pixel multiple the image is padded to (VAE factor times the denoiser's);
    ``square``: pad to a square (DiT).
    """

    denoiser: ConvertedDenoiser
    autoencoder: LatentAutoencoder
    multiple: int
    family: str
    conditioning: Conditioning
    source: str = field(default="", compare=False)
    clip: bool = False
    value_range: tuple[float, float] = (-1.0, 1.0)
    square: bool = False

    @property
    def channels(self) -> int:
        return self.autoencoder.latent_channels

    @property
    def image_channels(self) -> int:
        return int(self.autoencoder.vae.config.in_channels)

    def _check_size(self, size: tuple[int, int]) -> None:
        if min(size) < self.multiple:
            raise ValueError(f"a {size[0]}x{size[1]} image is smaller than this {self.family} model's "
                             f"{self.multiple}-pixel multiple")

    def _padded(self, size: tuple[int, int]) -> tuple[int, int]:
        """The padded image size: each side rounded up to the multiple (both to the larger if square)."""
        self._check_size(size)
        h, w = (-(-n // self.multiple) * self.multiple for n in size)
        return (max(h, w),) * 2 if self.square else (h, w)

    def to_model(self, image: np.ndarray) -> np.ndarray:
        """``uint8`` RGB image ``(H, W, 3)`` to the scaled latent of its padded copy."""
        x = channels_first(as_image(image))
        if x.shape[0] != 3:
            raise ValueError(f"a latent model codes RGB images, got {x.shape[0]} channel(s)"
                             + (" (convert the grayscale image to RGB first)" if x.shape[0] == 1 else ""))
        h, w = self._padded(x.shape[1:])
        padded = np.pad(pixels_to_unit(x), ((0, 0), (0, h - x.shape[1]), (0, w - x.shape[2])), mode="reflect")
        return self.autoencoder.encode(padded)

    def from_model(self, x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Scaled latent ``(C, h, w)`` to the ``uint8`` image of ``size = (H, W)``: decode, then crop."""
        if tuple(x.shape) != self.coded_shape(size):
            raise ValueError(f"a latent of shape {x.shape} is not the latent of a {size[0]}x{size[1]} image "
                             f"(expected {self.coded_shape(size)})")
        return channels_last(unit_to_pixels(crop(self.autoencoder.decode(x), size)))

    def coded_shape(self, size: tuple[int, int]) -> tuple[int, int, int]:
        """``(C, ceil(H / m) m / f, ceil(W / m) m / f)``: the latent of the padded image."""
        h, w = self._padded(size)
        return (self.channels, h // self.autoencoder.factor, w // self.autoencoder.factor)

    def fingerprint(self) -> bytes:
        """The denoiser's fingerprint: the folder's files, the family, the parametrization and schedule."""
        return self.denoiser.fingerprint()
