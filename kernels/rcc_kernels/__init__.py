"""Counter-based shared randomness (Philox4x32-10) and fused candidate-search kernels.

Encoder and decoder share only a seed; every value the decoder must reproduce is addressed by
``(seed, stream path, candidate, coordinate)`` and computed in O(1) on the CPU (Numba) or the GPU
(numba-cuda) by Philox4x32-10 (Salmon et al. 2011), with identical integers on every backend and
floats within ``FLOAT_TOLERANCE``. The frozen mapping is documented in ``docs/randomness.md`` and in
:mod:`rcc_kernels.streams` and :mod:`rcc_kernels.variates`. The fused Gaussian candidate search is
:mod:`rcc_kernels.search`.

>>> import rcc_kernels
>>> key = rcc_kernels.stream_key(seed=2024, stream=(0, 7))
>>> rcc_kernels.normal(key, start=0, stop=3, dim=4).shape
(3, 4)
"""

from rcc_kernels.generators import BACKENDS, bits, exponential, generate, normal, uniform
from rcc_kernels.ordering import stable_order
from rcc_kernels.philox import philox4x32_10, philox4x32_10_numpy
from rcc_kernels.streams import stream_key, stream_keys
from rcc_kernels.variates import FLOAT_TOLERANCE

__all__ = [
    "BACKENDS",
    "FLOAT_TOLERANCE",
    "bits",
    "exponential",
    "generate",
    "normal",
    "philox4x32_10",
    "philox4x32_10_numpy",
    "stable_order",
    "stream_key",
    "stream_keys",
    "uniform",
]
