"""Channel simulation (reverse channel coding): communicate a *sample* of a target Q using a
proposal P that encoder and decoder share, with shared randomness from :mod:`kernels`.

See ``docs/`` and ``../shared/DESIGN.md`` for the vocabulary: target, proposal, shared randomness,
message, sample, statistics.
"""

__version__ = "0.1.0"
