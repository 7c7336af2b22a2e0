"""Bulk generators of shared randomness on every backend, with one signature.

``normal(key, start, stop, dim)`` returns the (stop - start, dim) standard normals of candidates
``start .. stop - 1`` at coordinates ``coord_start .. coord_start + dim - 1`` of the stream with
``key`` (from :func:`rcc_kernels.stream_key`). Backends:

* ``"numpy"``: the plain reference (:mod:`rcc_kernels.reference`), slow and obviously right;
* ``"cpu"``: parallel Numba (:mod:`rcc_kernels.cpu`), the default; threads from ``numba.set_num_threads``;
* ``"gpu"``: numba-cuda kernels (:mod:`rcc_kernels.gpu`); returns a CuPy array on a real GPU and a
  numpy array under the CUDA simulator.

All backends return identical integers (Philox4x32-10 words, Salmon et al. 2011, under the frozen
mapping of ``docs/randomness.md``) and floats within ``FLOAT_TOLERANCE``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from rcc_kernels import cpu, reference
from rcc_kernels.errors import InvalidTypeError
from rcc_kernels.variates import KINDS

__all__ = ["BACKENDS", "MAX_VALUES", "bits", "exponential", "generate", "normal", "to_numpy", "uniform"]

Backend = Literal["numpy", "cpu", "gpu"]
BACKENDS: tuple[str, ...] = ("numpy", "cpu", "gpu")
_U64 = 1 << 64
MAX_VALUES = 1 << 30
"""Most values (8-byte floats, or 4-byte words counted in pairs) one call may return: 8 GiB, checked
before allocating, so that a count read from a corrupt file or a mistaken argument cannot ask for
terabytes."""
_REFERENCE = {
    "uniform": reference.uniform_at,
    "normal": reference.normal_at,
    "exponential": reference.exponential_at,
}


def _check_key(key: object) -> tuple[np.uint32, np.uint32]:
    k = np.asarray(key)
    if k.shape != (2,) or k.dtype != np.uint32:
        raise ValueError(f"key must be two uint32 words from rcc_kernels.stream_key, got {k!r}")
    return k[0], k[1]


def _check_range(start: int, stop: int, count: int, offset: int, what: str, per_value: int) -> None:
    """Integers in the 64-bit index range, and a request of at most MAX_VALUES values, checked before
    anything is allocated."""
    for name, v in (("start", start), ("stop", stop), (what, count), ("offset", offset)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise InvalidTypeError(f"{name} must be an integer, got {type(v).__name__}")
    if not 0 <= int(start) < _U64 or not int(start) <= int(stop) <= _U64:
        raise ValueError(f"need 0 <= start < 2**64 and start <= stop <= 2**64, got {start}, {stop}")
    if int(count) < 0 or not 0 <= int(offset) < _U64 or int(offset) + int(count) > _U64:
        raise ValueError(f"{what}={count} at offset {offset} leaves the 64-bit index range")
    if (int(stop) - int(start)) * int(count) * per_value > MAX_VALUES:
        raise ValueError(f"{int(stop) - int(start)} x {count} values exceed the limit of {MAX_VALUES} per "
                         f"call ({8 * MAX_VALUES >> 30} GiB); request them in blocks")


def to_numpy(values: object) -> np.ndarray:
    """Host copy of a backend's output: numpy arrays pass through, CuPy arrays are fetched."""
    get = getattr(values, "get", None)
    return np.asarray(get() if callable(get) else values)


def generate(kind: str, key: object, start: int, stop: int, dim: int, *, coord_start: int = 0,
             backend: Backend = "cpu") -> np.ndarray:
    """Values of ``kind`` ("uniform", "normal", "exponential") for a block of candidates."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    key0, key1 = _check_key(key)
    _check_range(start, stop, dim, coord_start, "dim", 1)
    rows = int(stop) - int(start)
    if backend == "numpy":
        cand, coord = reference.grid(int(start), int(stop), int(dim), int(coord_start))
        return np.broadcast_to(_REFERENCE[kind](key, cand, coord), (rows, int(dim))).copy()
    args = (KINDS[kind], key0, key1, np.uint64(start), np.uint64(coord_start))
    if backend == "cpu":
        out = np.empty((rows, int(dim)), dtype=np.float64)
        cpu.fill(*args, out, work=out.size)
        return out
    if backend == "gpu":
        from rcc_kernels import gpu

        out = gpu.array_module().empty((rows, int(dim)), dtype=np.float64)
        gpu.fill(*args, out)
        return out
    raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")


def uniform(key: object, start: int, stop: int, dim: int, *, coord_start: int = 0,
            backend: Backend = "cpu") -> np.ndarray:
    """Uniform(0, 1) values, shape (stop - start, dim)."""
    return generate("uniform", key, start, stop, dim, coord_start=coord_start, backend=backend)


def normal(key: object, start: int, stop: int, dim: int, *, coord_start: int = 0,
           backend: Backend = "cpu") -> np.ndarray:
    """Standard normal values, shape (stop - start, dim)."""
    return generate("normal", key, start, stop, dim, coord_start=coord_start, backend=backend)


def exponential(key: object, start: int, stop: int, dim: int, *, coord_start: int = 0,
                backend: Backend = "cpu") -> np.ndarray:
    """Exp(1) values, shape (stop - start, dim)."""
    return generate("exponential", key, start, stop, dim, coord_start=coord_start, backend=backend)


def bits(key: object, start: int, stop: int, blocks: int, *, block_start: int = 0,
         backend: Backend = "cpu") -> np.ndarray:
    """Raw Philox output words, shape (stop - start, blocks, 4), dtype uint32."""
    key0, key1 = _check_key(key)
    _check_range(start, stop, blocks, block_start, "blocks", 2)
    rows = int(stop) - int(start)
    if backend == "numpy":
        cand = np.arange(rows, dtype=np.uint64)[:, None] + np.uint64(start)
        blk = np.arange(int(blocks), dtype=np.uint64)[None, :] + np.uint64(block_start)
        return reference.bits_at(key, cand, blk)
    if backend == "cpu":
        out = np.empty((rows, int(blocks), 4), dtype=np.uint32)
        cpu.fill_bits(key0, key1, np.uint64(start), np.uint64(block_start), out, work=out.size)
        return out
    if backend == "gpu":
        from rcc_kernels import gpu

        out = gpu.array_module().empty((rows, int(blocks), 4), dtype=np.uint32)
        gpu.fill_bits(key0, key1, np.uint64(start), np.uint64(block_start), out)
        return out
    raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
