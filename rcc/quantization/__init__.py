"""Dithered quantization: exact additive-noise channels at O(1) work per element.

* :mod:`~rcc.quantization.universal` — universal (subtractive dithered) quantization: exact
  Uniform(-step/2, step/2) noise, independent of the input (Zamir & Feder 1992).
* :mod:`~rcc.quantization.layered` — the layered quantizer: exact Gaussian noise from a random step
  (Hegazy & Li 2022).
* :mod:`~rcc.quantization.entropy` — entropy coding of the indices given the dither with
  constriction, for Gaussian, logistic or any scipy.stats prior, with escapes for outliers.
* :mod:`~rcc.quantization.hybrid` — hybrid coding (Theis & Yosri 2022): universal-quantization
  candidates inside the Poisson functional representation.

>>> import numpy as np
>>> from rcc.quantization import Prior, UniversalQuantizer
>>> q = UniversalQuantizer(step=0.5)
>>> data, stats = q.compress(np.array([0.3, -1.2]), Prior.gaussian(0.0, 1.0), seed=1)
>>> y = q.decompress(data, Prior.gaussian(0.0, 1.0), shape=2, seed=1)
"""

from rcc.quantization.entropy import CodingStats, Prior, dithered_rate_bits
from rcc.quantization.hybrid import HybridCoding
from rcc.quantization.layered import LayeredQuantizer, layered_rate_bits
from rcc.quantization.universal import DitheredQuantizer, UniversalQuantizer, dither, quantize, reconstruct

__all__ = [
    "CodingStats",
    "DitheredQuantizer",
    "HybridCoding",
    "LayeredQuantizer",
    "Prior",
    "UniversalQuantizer",
    "dither",
    "dithered_rate_bits",
    "layered_rate_bits",
    "quantize",
    "reconstruct",
]
