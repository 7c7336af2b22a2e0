"""Channel simulation (reverse channel coding): communicate a *sample* of a target Q using a
proposal P that encoder and decoder share, with shared randomness from :mod:`rcc_kernels`.

See ``docs/architecture.md`` for the layers and the vocabulary: target, proposal, shared randomness,
message, sample, statistics (:mod:`rcc.core`). Coders live in :mod:`rcc.coders`, index codes in
:mod:`rcc.codes`, the theory printed beside measurements in :mod:`rcc.bounds`.
"""

__version__ = "0.1.0"

from rcc.coders import (
    GreedyRejectionSampling,
    MinimalRandomCoding,
    OrderedRandomCoding,
    PoissonFunctionalRepresentation,
)
from rcc.codes import EliasDeltaCode, EliasGammaCode, FixedLengthCode, ZipfCode
from rcc.core import Coder, Distribution, Divergences, Message, Proposal, Stats, Target
from rcc.distributions import Categorical, Custom, Normal, ScipyContinuous, Uniform

__all__ = [
    "Categorical",
    "Coder",
    "Custom",
    "Distribution",
    "Divergences",
    "EliasDeltaCode",
    "EliasGammaCode",
    "FixedLengthCode",
    "GreedyRejectionSampling",
    "MinimalRandomCoding",
    "Message",
    "Normal",
    "OrderedRandomCoding",
    "PoissonFunctionalRepresentation",
    "Proposal",
    "ScipyContinuous",
    "Stats",
    "Target",
    "Uniform",
    "ZipfCode",
    "__version__",
]
