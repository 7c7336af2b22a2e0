"""Consistency with a JPEG file: project an image onto the images whose DCT coefficients lie in the
file's quantization cells.

A JPEG encoder (T.81; libjpeg's pipeline through Pillow) maps RGB pixels to YCbCr (JFIF, ITU-R
BT.601 full range), level-shifts by 128, averages each chroma plane over ``v_max/v x h_max/h``
boxes (4:2:0: 2x2; libjpeg's ``h2v2_downsample``), takes the orthonormal 2-D DCT-II of every 8x8
block (JPEG's FDCT is exactly ``scipy.fft.dctn(norm="ortho")`` on a block) and keeps
``k = round(F / Q)``. Every image the encoder maps to the file's ``k`` has, per component,
``F`` in the cell ``[(k - 1/2) Q, (k + 1/2) Q]``: a convex set C (Bredies & Holler 2012 and the
consistency constraints of JPEG decoders since Zakhor 1992, "Iterative procedures for reduction of
blocking effects").

:class:`JpegCells` projects onto C. Per component: the plane's block DCT is clipped to the cells
and the change is brought back by the inverse DCT; for a subsampled chroma plane the change of the
small plane is spread over each box by replication, the least-norm full-resolution change with
that box average. What is exact (in real arithmetic): the result lies in C, and it is the
Euclidean projection onto C in (Y, Cb, Cr) coordinates with chroma at full resolution (the DCT is
orthonormal, the cells are a box, and replication is the least-norm inverse of box averaging); in
RGB it is the oblique projection through the JFIF matrix, which is not orthogonal. What is
approximate: the real encoder rounds the input to 8 bits and works in fixed point (colour
conversion, the ``islow`` integer DCT, biased integer box averages), so coefficients that the
projection leaves on a cell's edge can re-encode one step away; at an image size that is not a
multiple of the MCU (8 x h_max by 8 x v_max pixels) the edge blocks are padded by replicating the
last row and column, as libjpeg pads, and corrected only on the pixels that exist, which is not the
projection for those blocks. The image is ``(..., C, H, W)`` in ``[0, 255]`` (floats, leading batch
axes allowed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

from diffc.refine.jpeg_coefficients import JpegCoefficients, read_coefficients

__all__ = ["RGB_TO_YCBCR", "JpegCells", "from_ycbcr", "to_ycbcr"]

RGB_TO_YCBCR = np.array([[0.299, 0.587, 0.114],
                         [-0.168735892, -0.331264108, 0.5],
                         [0.5, -0.418687589, -0.081312411]])
"""JFIF's RGB to YCbCr matrix (libjpeg's ``jccolor.c`` constants); Cb and Cr are offset by 128."""
_YCBCR_TO_RGB = np.linalg.inv(RGB_TO_YCBCR)


def to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """``(..., 3, H, W)`` RGB to level-shifted YCbCr (each component minus 128, as the DCT sees it)."""
    return np.einsum("ij,...jhw->...ihw", RGB_TO_YCBCR, rgb) - np.array([128.0, 0.0, 0.0])[:, None, None]


def from_ycbcr(ycc: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_ycbcr`."""
    return np.einsum("ij,...jhw->...ihw", _YCBCR_TO_RGB, ycc + np.array([128.0, 0.0, 0.0])[:, None, None])


def _blocks(plane: np.ndarray) -> np.ndarray:
    """``(..., 8 by, 8 bx)`` to ``(..., by, bx, 8, 8)``."""
    *lead, h, w = plane.shape
    return np.moveaxis(plane.reshape(*lead, h // 8, 8, w // 8, 8), -3, -2)


def _unblocks(blocks: np.ndarray) -> np.ndarray:
    *lead, by, bx, _, _ = blocks.shape
    return np.moveaxis(blocks, -2, -3).reshape(*lead, by * 8, bx * 8)


@dataclass(frozen=True)
class JpegCells:
    """The convex set of images a JPEG file's coefficients allow, and the projection onto it."""

    coefficients: JpegCoefficients
    margin: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.margin < 0.5:
            raise ValueError(f"margin must be in [0, 0.5), got {self.margin!r}")

    @classmethod
    def from_jpeg(cls, data: bytes, margin: float = 0.0, max_pixels: int | None = None) -> JpegCells:
        """The cells of a JPEG file whose frame has at most ``max_pixels`` pixels (None: any)."""
        return cls(read_coefficients(data, max_pixels), margin)

    @property
    def channels(self) -> int:
        return 1 if len(self.coefficients.components) == 1 else 3

    def block_coefficients(self, image: np.ndarray) -> list[np.ndarray]:
        """Each component's block DCT ``F`` of ``image`` ``(..., C, H, W)`` in [0, 255], on the file's
        block grid (the encoder's view, in real arithmetic)."""
        planes = self._planes(image)
        return [scipy.fft.dctn(_blocks(self._down(p, c)), axes=(-2, -1), norm="ortho")
                for p, c in zip(planes, self.coefficients.components, strict=True)]

    def cells(self, image: np.ndarray) -> list[np.ndarray]:
        """``round(F / Q)`` of ``image`` per component: its cells for an encoder in real arithmetic."""
        return [np.rint(f / c.table) for f, c in
                zip(self.block_coefficients(image), self.coefficients.components, strict=True)]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """The projection of ``image`` ``(..., C, H, W)`` (values in [0, 255]) onto the set."""
        image = np.asarray(image, dtype=np.float64)
        self._check(image)
        planes = self._planes(image)
        out = []
        for plane, comp in zip(planes, self.coefficients.components, strict=True):
            f = scipy.fft.dctn(_blocks(self._down(plane, comp)), axes=(-2, -1), norm="ortho")
            k = comp.blocks
            half = 0.5 - self.margin
            change = np.clip(f, (k - half) * comp.table, (k + half) * comp.table) - f
            small = _unblocks(scipy.fft.idctn(change, axes=(-2, -1), norm="ortho"))
            fv, fh = self.coefficients.v_max // comp.v, self.coefficients.h_max // comp.h
            full = np.repeat(np.repeat(small, fv, axis=-2), fh, axis=-1)
            out.append(plane + full[..., :image.shape[-2], :image.shape[-1]])
        stacked = np.stack(out, axis=-3)
        return stacked + 128.0 if self.channels == 1 else from_ycbcr(stacked)

    def _check(self, image: np.ndarray) -> None:
        size = self.coefficients.size
        if image.ndim < 3 or image.shape[-3] != self.channels or tuple(image.shape[-2:]) != size:
            raise ValueError(f"the JPEG file holds a {self.channels}-channel {self.coefficients.size} image, "
                             f"got an array of shape {image.shape}")

    def _planes(self, image: np.ndarray) -> list[np.ndarray]:
        ycc = image - 128.0 if self.channels == 1 else to_ycbcr(image)
        return [ycc[..., c, :, :] for c in range(ycc.shape[-3])]

    def _down(self, plane: np.ndarray, comp: object) -> np.ndarray:
        """The plane padded by edge replication to its blocks' extent, then box-averaged to the
        component's sampling (the encoder's view of it)."""
        fv, fh = self.coefficients.v_max // comp.v, self.coefficients.h_max // comp.h
        by, bx = comp.blocks.shape[:2]
        h, w = plane.shape[-2:]
        pad = [(0, 0)] * (plane.ndim - 2) + [(0, by * 8 * fv - h), (0, bx * 8 * fh - w)]
        padded = np.pad(plane, pad, mode="edge")
        *lead, hh, ww = padded.shape
        return padded.reshape(*lead, hh // fv, fv, ww // fh, fh).mean(axis=(-3, -1))

