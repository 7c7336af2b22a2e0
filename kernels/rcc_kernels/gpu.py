"""CUDA backend of the shared randomness (numba-cuda kernels on CuPy or Numba device arrays).

The device functions are compiled from the same scalar source as the CPU kernels
(:func:`rcc_kernels.variates.build_scalar_ops`: Philox4x32-10, Salmon et al. 2011, under the frozen
mapping of ``docs/randomness.md``), so integer outputs are bit-identical; floats may differ by an ulp
(within ``FLOAT_TOLERANCE``) because CUDA's ``log`` differs from the CPU's and the compiler fuses
multiply-adds.

This module imports ``numba.cuda`` on first use only. With ``NUMBA_ENABLE_CUDASIM=1`` the same
kernels run in Numba's CUDA simulator on numpy arrays, which is how the ordinary (GPU-less) test
suite exercises them.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from types import SimpleNamespace

import numpy as np

__all__ = ["array_module", "available", "compiled", "fill", "fill_bits", "simulator", "unavailable"]

THREADS_ROWS = 8
THREADS_BLOCKS = 32


def simulator() -> bool:
    """True when Numba's CUDA simulator is active (``NUMBA_ENABLE_CUDASIM=1``)."""
    from numba import config

    return bool(config.ENABLE_CUDASIM)


def array_module():  # noqa: ANN201 - numpy or the cupy module
    """The array module of device arrays: numpy under the simulator, CuPy on a real GPU."""
    if simulator():
        return np
    import cupy

    return cupy


def unavailable() -> str | None:
    """Why the CUDA kernels cannot run here, in a few words; None when they can (a real GPU with
    CuPy for its arrays, or the simulator)."""
    try:
        from numba import cuda
    except ImportError:
        return "numba-cuda is not installed"
    try:
        found = bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - a broken driver means "not available", never a crash
        found = False
    if not found:
        return "numba-cuda finds no CUDA GPU"
    if not simulator() and importlib.util.find_spec("cupy") is None:
        return "CuPy is not installed"
    return None


def available() -> bool:
    """True when CUDA kernels can run: a real GPU with CuPy, or the simulator."""
    return unavailable() is None


@lru_cache(maxsize=1)
def compiled() -> SimpleNamespace:
    """The CUDA kernels, compiled on first use (importing numba.cuda only then)."""
    from rcc_kernels import _cuda_kernels

    return SimpleNamespace(fill=_cuda_kernels.fill_kernel, bits=_cuda_kernels.bits_kernel)


def _grid(rows: int, blocks: int) -> tuple[tuple[int, int], tuple[int, int]]:
    grid = (-(-rows // THREADS_ROWS), -(-blocks // THREADS_BLOCKS))
    return grid, (THREADS_ROWS, THREADS_BLOCKS)


def fill(kind: int, key0: np.uint32, key1: np.uint32, start: np.uint64, coord_start: np.uint64,
         out: object) -> None:
    """Fill the device array ``out`` (rows, dim); same contract as :func:`rcc_kernels.cpu.fill`."""
    rows, dim = out.shape
    if rows == 0 or dim == 0:
        return
    n_blocks = int(((int(coord_start) + dim - 1) >> 1) - (int(coord_start) >> 1) + 1)
    grid, block = _grid(rows, n_blocks)
    compiled().fill[grid, block](kind, key0, key1, start, coord_start, out)


def fill_bits(key0: np.uint32, key1: np.uint32, start: np.uint64, block_start: np.uint64,
              out: object) -> None:
    """Fill the device array ``out`` (rows, blocks, 4) uint32 with raw Philox words."""
    rows, blocks, _ = out.shape
    if rows == 0 or blocks == 0:
        return
    grid, block = _grid(rows, blocks)
    compiled().bits[grid, block](key0, key1, start, block_start, out)
