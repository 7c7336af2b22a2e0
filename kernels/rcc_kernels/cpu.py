"""Numba CPU backend of the shared randomness: parallel bulk generators.

Each row (candidate) is generated independently from its Philox4x32-10 counters (Salmon et al.
2011; the frozen mapping of ``docs/randomness.md``), so rows are spread over threads with
``prange`` and the result does not depend on the thread count. The scalar rules come from
:func:`rcc_kernels.variates.build_scalar_ops`, the same source the CUDA backend compiles. Rows are
produced in two passes so that LLVM vectorises them: first the Philox words and uniforms of the row,
then the transform. For normals (:func:`normals_from_uniforms`) the branch-free central formula of
AS 241 runs on every value, the indices of the (15%) tail values are compacted without branches,
and only those are recomputed, which keeps branch mispredictions out of the hot loop.

Words and uniforms are exact (bit-identical to :mod:`rcc_kernels.reference`), and so are central
normals; tail normals and exponentials go through the CPU's ``log`` and agree with the reference
to ``FLOAT_TOLERANCE``.
"""

from __future__ import annotations

import types

import numpy as np
from numba import njit, prange

from rcc_kernels.variates import EXPONENTIAL, NORMAL, SPLIT_CENTRAL, UNIFORM, build_scalar_ops

__all__ = ["JIT_OPTIONS", "PARALLEL_MIN_WORK", "DualKernel", "fill", "fill_bits",
           "normals_from_uniforms", "ops", "row_uniforms"]

JIT_OPTIONS = {"cache": True, "error_model": "numpy"}
"""Options of every CPU kernel: cached on disk, numpy semantics for floating-point errors."""
ops = build_scalar_ops(njit(inline="always", **JIT_OPTIONS))
_block_uniforms = ops.block_uniforms
_ndtri_central = ops.ndtri_central
_ndtri_tail = ops.ndtri_tail
_philox = ops.philox
_counter_words = ops.counter_words


ROW_GROUP_VALUES = 256
"""Values per thread task of :func:`fill` (at least one row): amortises the per-task buffers."""

PARALLEL_MIN_WORK = 1 << 15
"""Below this many values a call runs serially: waking the thread pool costs more than it saves."""


class DualKernel:
    """One kernel source compiled twice, parallel (``prange`` over threads) and serial; a call
    picks by the amount of work, so tiny requests do not pay the thread pool's wake-up."""

    def __init__(self, fn) -> None:  # noqa: ANN001
        self.parallel = njit(parallel=True, **JIT_OPTIONS)(fn)
        # Numba's on-disk cache keys entries by qualified name and signature, not by the parallel
        # flag: the serial twin needs a name of its own or it would load the parallel build.
        twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial",
                                  fn.__defaults__, fn.__closure__)
        twin.__qualname__ = fn.__qualname__ + "_serial"
        self.serial = njit(**JIT_OPTIONS)(twin)
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__

    def __call__(self, *args, work: int):  # noqa: ANN002, ANN204
        return (self.parallel if work >= PARALLEL_MIN_WORK else self.serial)(*args)


@njit(**JIT_OPTIONS)
def row_uniforms(key0: np.uint32, key1: np.uint32, candidate: np.uint64, first_block: np.uint64,
                 u: np.ndarray) -> None:
    """Uniforms of blocks ``first_block, first_block + 1, ...`` of one candidate into ``u``."""
    for b in range(u.size // 2):
        u0, u1 = _block_uniforms(key0, key1, first_block + np.uint64(b), candidate)
        u[2 * b] = u0
        u[2 * b + 1] = u1


@njit(**JIT_OPTIONS)
def normals_from_uniforms(u: np.ndarray, z: np.ndarray, scratch: np.ndarray) -> None:
    """z[j] = Phi^-1(u[j]) by AS 241 for j < z.size; ``scratch`` is an int64 work array as long."""
    d = z.size
    for j in range(d):
        z[j] = _ndtri_central(u[j])
    m = 0
    for j in range(d):
        scratch[m] = j
        m += abs(u[j] - 0.5) > SPLIT_CENTRAL
    for i in range(m):
        j = scratch[i]
        z[j] = _ndtri_tail(u[j])


@DualKernel
def fill(kind: int, key0: np.uint32, key1: np.uint32, start: np.uint64, coord_start: np.uint64,
         out: np.ndarray) -> None:
    """Fill ``out`` (rows, dim) with the values of candidates ``start + row`` at coordinates
    ``coord_start + column`` of the stream with key ``(key0, key1)``."""
    rows, dim = out.shape
    if dim == 0:
        return
    first_block = coord_start >> np.uint64(1)
    n_blocks = np.int64(((coord_start + np.uint64(dim - 1)) >> np.uint64(1)) - first_block) + 1
    off = np.int64(coord_start & np.uint64(1))
    # Rows are handed to threads in groups of about ROW_GROUP_VALUES values, so that narrow rows
    # (dim 1 is the common case of scalar candidates) do not pay two allocations per row.
    group = max(1, min(rows, ROW_GROUP_VALUES // dim))
    for g in prange((rows + group - 1) // group):
        u = np.empty(2 * n_blocks)
        scratch = np.empty(dim, dtype=np.int64)
        for r in range(g * group, min(rows, (g + 1) * group)):
            row_uniforms(key0, key1, start + np.uint64(r), first_block, u)
            v = u[off:off + dim]
            o = out[r]
            if kind == UNIFORM:
                for j in range(dim):
                    o[j] = v[j]
            elif kind == NORMAL:
                normals_from_uniforms(v, o, scratch)
            elif kind == EXPONENTIAL:
                for j in range(dim):
                    o[j] = -np.log(v[j])


@DualKernel
def fill_bits(key0: np.uint32, key1: np.uint32, start: np.uint64, block_start: np.uint64,
              out: np.ndarray) -> None:
    """Fill ``out`` (rows, blocks, 4) uint32 with the raw Philox words of each block."""
    rows, blocks, _ = out.shape
    for r in prange(rows):
        cand = start + np.uint64(r)
        for b in range(blocks):
            c0, c1, c2, c3 = _counter_words(block_start + np.uint64(b), cand)
            w0, w1, w2, w3 = _philox(c0, c1, c2, c3, key0, key1)
            out[r, b, 0] = w0
            out[r, b, 1] = w1
            out[r, b, 2] = w2
            out[r, b, 3] = w3
