"""Compress, then refine: a classical codec's file plus the unconditional model's reverse process.

The encoder codes the image with a classical codec (:mod:`diffc.imaging.baselines`), measures the
decode's error variance on the model's scale and writes the refine file (:mod:`diffc.refine.sideinfo`,
docs/refine.md). The decoder decodes the classical file, starts the reverse process at the noise
level that matches the error (:mod:`diffc.refine.start`) and runs DiffC's own samplers
(:mod:`diffc.diffusion.samplers`) down to the data: training-free, with one unconditional model,
as the compress-then-refine decoders of HFD (Hoogeboom et al. 2023) and CDC (Yang & Mandt 2023) do
with trained conditional ones. The start ``scale``, the sampler and its ``eta`` are decode-time
knobs: one file, many points between the codec's fidelity and the model's realism. For a JPEG file
and a pixel-space model every x0 estimate can be projected onto the images the JPEG file allows
(:mod:`diffc.refine.jpeg_projection`) through the reverse process's projection hook.

Exact: the file's bytes and its bpp (every byte, side information included, over the image's
pixels). Approximate: the model of the codec's error as white Gaussian noise (see
:mod:`diffc.refine.start`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from diffc.codec import DEFAULT_SOLVER, CountingDenoiser, progress_bar, sampler_for
from diffc.diffusion.checks import MAX_SEED, checked_int, checked_real
from diffc.diffusion.reverse import Box, ReverseModel
from diffc.diffusion.samplers import reconstruct
from diffc.imaging.baselines import available_codecs, match_bpp
from diffc.imaging.io import MAX_PIXELS, as_image
from diffc.models.base import ImageModel
from diffc.refine.jpeg_projection import JpegCells
from diffc.refine.sideinfo import FINGERPRINT_BYTES, SideInfo, SideInfoError, error_level, pack, unpack
from diffc.refine.start import start_state

__all__ = ["DEFAULT_MARGIN", "JPEG_CODECS", "RefineCodec", "RefineCompressOutput", "RefineDecompressOutput"]

JPEG_CODECS = ("jpeg-420", "jpeg-444")
DEFAULT_MARGIN = 0.2
"""Fraction of a quantization cell the projection keeps clear of each edge, so that rounding the
refined image to 8 bits keeps its coefficients in their cells (docs/refine.md)."""


@dataclass(frozen=True)
class RefineCompressOutput:
    """A refine file, its real rate, the classical codec's quality and the error level it records."""

    data: bytes = field(repr=False)
    bpp: float
    codec: str
    quality: int | None
    variance: float
    seconds: float


@dataclass(frozen=True)
class RefineDecompressOutput:
    """The refined image, the classical codec's own decode, the start time and the file's rate."""

    image: np.ndarray = field(repr=False)
    plain: np.ndarray = field(repr=False)
    t: float
    bpp: float
    seconds: float


class RefineCodec:
    """Classical codecs refined by one diffusion model (see the module docstring)."""

    def __init__(self, model: ImageModel, *, progress: bool = True) -> None:
        self.model = model
        self.progress = progress

    def _fingerprint(self) -> bytes:
        return self.model.fingerprint()[:FINGERPRINT_BYTES]

    def compress(self, image: np.ndarray, codec: str, *, quality: int | None = None, bpp: float | None = None,
                 seed: int = 0) -> RefineCompressOutput:
        """Code ``image`` with the classical ``codec`` at ``quality`` or at the quality whose bpp is
        nearest ``bpp`` (the classical file's), and wrap it."""
        image = as_image(image)
        baseline = _baseline(codec)
        if (quality is None) == (bpp is None):
            raise ValueError("give exactly one of quality and bpp")
        started = time.perf_counter()
        if bpp is not None:
            result = match_bpp(baseline, image, checked_real(bpp, "bpp"))
            payload, quality = result.data, result.quality
        else:
            payload = baseline.encode(image, quality)
        data = self.wrap(image, codec, payload, seed=seed)
        info, _ = unpack(data)
        return RefineCompressOutput(data, 8 * len(data) / (image.shape[0] * image.shape[1]), codec, quality,
                                    info.variance, time.perf_counter() - started)

    def wrap(self, image: np.ndarray, codec: str, payload: bytes, *, seed: int = 0) -> bytes:
        """The refine file of a classical file ``payload`` of ``image`` made by ``codec``."""
        image = as_image(image)
        decoded = _baseline(codec).decode(payload, gray=image.ndim == 2)
        level = error_level(self.model.to_model(decoded) - self.model.to_model(image))
        info = SideInfo(codec, level, self._fingerprint(), checked_int(seed, "seed", 0, MAX_SEED))
        return pack(info, payload)

    def decompress(self, data: bytes, *, method: str = "sde", eta: float | None = None,
                   solver_steps: int | None = None, solver: str = DEFAULT_SOLVER, scale: float = 1.0,
                   project: bool = False, margin: float = DEFAULT_MARGIN,
                   seed: int | None = None) -> RefineDecompressOutput:
        """Refine a file's classical decode (``method`` as in :meth:`diffc.codec.DiffCCodec.decompress`;
        ``scale`` multiplies the error variance the start matches; ``project`` keeps every x0
        estimate consistent with a JPEG file's quantization cells, ``margin`` of a cell inside them;
        ``seed``: the start noise and DiffC-A's noise, default the file's)."""
        name, steps, evals = sampler_for(method, solver, solver_steps)
        started = time.perf_counter()
        info, plain, cells = self.read(data, project=project, margin=margin)
        seed = info.seed if seed is None else checked_int(seed, "seed", 0, MAX_SEED)
        size = plain.shape[:2]
        y = self.model.to_model(plain)
        projection = self._projection(cells)
        z, t = start_state(self.model.denoiser.schedule, y, info.variance, scale=scale, seed=seed)
        with progress_bar(evals, f"refine {method}", not self.progress) as bar:
            reverse = ReverseModel(CountingDenoiser(self.model.denoiser, bar.update), project=projection)
            x = reconstruct(reverse, reverse.to_coords(z), t, method=name, steps=steps, eta=eta,
                            seed=seed)
        image = self.model.from_model(x, size)
        return RefineDecompressOutput(image, plain, t, 8 * len(data) / math.prod(size),
                                      time.perf_counter() - started)

    def read(self, data: bytes, *, project: bool = False,
             margin: float = DEFAULT_MARGIN) -> tuple[SideInfo, np.ndarray, JpegCells | None]:
        """What :meth:`decompress` reads from a file before the model runs: its side information, the
        classical decode and, with ``project``, the JPEG file's cells. A file is untrusted input:
        anything wrong with it is a ``ValueError`` (:class:`SideInfoError` for the side information),
        and the classical file's header is checked against :data:`MAX_PIXELS` before a pixel of it
        is decoded (tests/test_fuzz_refine.py)."""
        info, payload = unpack(data)
        if info.fingerprint != self._fingerprint():
            raise SideInfoError(f"the refine file was written for another model (fingerprint "
                                f"{info.fingerprint.hex()}, this model {self._fingerprint().hex()})")
        if project and info.codec not in JPEG_CODECS:
            raise ValueError(f"the consistency projection needs a JPEG file, this one is {info.codec}")
        if project and self.model.family != "pixel":
            raise ValueError("the consistency projection needs a pixel-space model")
        gray = self.model.image_channels == 1
        plain = _baseline(info.codec).decode(payload, gray=gray, max_pixels=MAX_PIXELS)
        cells = JpegCells.from_jpeg(payload, margin, MAX_PIXELS) if project else None
        frame = (plain.shape[:2], plain[0, 0].size)  # (H, W) and channels
        if cells is not None and (cells.coefficients.size, cells.channels) != frame:
            raise ValueError(f"corrupt JPEG file: its frame ({cells.channels} channels, "
                             f"{cells.coefficients.size}) is not the image it decodes to ({plain.shape})")
        return info, plain, cells

    def _projection(self, cells: JpegCells | None) -> object:
        box = Box(*self.model.value_range) if self.model.clip else None
        if cells is None:
            return box
        low, high = self.model.value_range
        half = (high - low) / 2

        def consistent(x: np.ndarray) -> np.ndarray:
            # model range -> [0, 255] -> the cells -> model range (affine, exact)
            x = box(x) if box is not None else x
            return cells((x - low) * (255.0 / (high - low))) / 127.5 * half + low

        return consistent


def _baseline(codec: str) -> object:
    codecs = available_codecs()
    if codec not in codecs:
        raise ValueError(f"codec {codec!r} is not available here (available: {', '.join(codecs)})")
    return codecs[codec]

