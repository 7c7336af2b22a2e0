"""CUDA kernels of :mod:`rcc_kernels.gpu`, and the device functions (``ops``) that they share with
:mod:`rcc_kernels.search_cuda`; importing this module imports ``numba.cuda``.

``cuda`` must be a module global here: Numba's CUDA simulator swaps the global named ``cuda`` of a
kernel's module for its fake, so kernels defined in a closure would not run under the simulator.
"""

import numpy as np
from numba import cuda

from rcc_kernels.variates import build_scalar_ops

ops = build_scalar_ops(cuda.jit(device=True))
_block_uniforms = ops.block_uniforms
_transform = ops.transform
_philox = ops.philox
_counter_words = ops.counter_words


@cuda.jit
def fill_kernel(kind, key0, key1, start, coord_start, out):  # noqa: ANN001, ANN201
    """One thread per (row, block): the two values of a Philox block."""
    r, b = cuda.grid(2)
    rows, dim = out.shape
    off = np.int64(coord_start & np.uint64(1))
    j = 2 * b - off
    if r >= rows or j >= dim:
        return
    block = (coord_start >> np.uint64(1)) + np.uint64(b)
    u0, u1 = _block_uniforms(key0, key1, block, start + np.uint64(r))
    if j >= 0:
        out[r, j] = _transform(kind, u0)
    if j + 1 < dim:
        out[r, j + 1] = _transform(kind, u1)


@cuda.jit
def bits_kernel(key0, key1, start, block_start, out):  # noqa: ANN001, ANN201
    """One thread per (row, block): the raw Philox words."""
    r, b = cuda.grid(2)
    if r >= out.shape[0] or b >= out.shape[1]:
        return
    c0, c1, c2, c3 = _counter_words(block_start + np.uint64(b), start + np.uint64(r))
    w0, w1, w2, w3 = _philox(c0, c1, c2, c3, key0, key1)
    out[r, b, 0] = w0
    out[r, b, 1] = w1
    out[r, b, 2] = w2
    out[r, b, 3] = w3
