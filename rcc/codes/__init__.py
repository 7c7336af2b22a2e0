"""Index codes: how a coder's candidate index becomes bits.

* :class:`FixedLengthCode` — ``ceil(log2 N)`` bits for an index below ``N``;
* :class:`EliasGammaCode`, :class:`EliasDeltaCode` — universal codes of ``k + 1`` (Elias 1975),
  written with :class:`BitWriter` / read with :class:`BitReader` (:mod:`rcc.codes.prefix`);
* :class:`ZipfCode` — the Zipf law ``P(k) ∝ (k + 1)^-λ`` with ``λ = 1 + 1/α``,
  ``α = D + log2(e)/e + 1`` (Li & El Gamal 2018), optionally truncated to ``N`` indices, entropy
  coded with constriction's range coder (:mod:`rcc.codes.zipf`);
* :class:`PFRIndexCode` — PFR's log-normal index law on a Gaussian chunk (:mod:`rcc.codes.lognormal`);
  both range codes share the octave code of :mod:`rcc.codes.octave`.

Every code maps a *sequence* of 0-based indices to bytes and back, so benchmarks can write many
messages into one stream and count real bits from its bytes. ``ideal_bits`` gives the code's ideal
length of one index (its information content under the code's model) to print beside them.
:mod:`rcc.codes.vectorized` writes and reads the one-index messages of a whole batch at once.
"""

from rcc.codes.base import IndexCode
from rcc.codes.bitstream import BitReader, BitWriter
from rcc.codes.lognormal import PFRIndexCode
from rcc.codes.prefix import (
    EliasDeltaCode,
    EliasGammaCode,
    FixedLengthCode,
    elias_delta_read,
    elias_delta_write,
    elias_gamma_read,
    elias_gamma_write,
)
from rcc.codes.range_coding import pad_words, trim
from rcc.codes.zipf import ZipfCode
from rcc.codes.zipf_law import zipf_alpha

__all__ = [
    "BitReader",
    "BitWriter",
    "EliasDeltaCode",
    "EliasGammaCode",
    "FixedLengthCode",
    "IndexCode",
    "PFRIndexCode",
    "ZipfCode",
    "elias_delta_read",
    "elias_delta_write",
    "elias_gamma_read",
    "elias_gamma_write",
    "pad_words",
    "trim",
    "zipf_alpha",
]
