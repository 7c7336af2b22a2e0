"""The settings of the chunked Gaussian channel that its messages depend on: :class:`ChannelSpec`.

A spec holds the five settings that encoder and decoder must share to read each other's messages
(``docs/channel.md``): the candidate selection rule, the index code, the KL a chunk is filled to,
the headroom of each chunk's search and the number of partition trials. Their valid ranges live
here and nowhere else; :meth:`ChannelSpec.to_word` is their encoding in a DiffC file's header
(``docs/container.md``). Options that never change a message (the search backend, the largest
search) are the channel's own (:class:`rcc.gaussian.channel.GaussianChannel`).

Presets (:data:`PRESETS`): ``"default"`` is the setting that measured the fewest real bits at equal
distortion within the encode-time budget on the DiffC benchmarks (README, "Choosing the channel");
``"exact"`` keeps enough headroom that the tests cannot tell its samples from the target;
``"fast"`` searches 2^(7+2) candidates per dimension instead of 2^(8+3), for CPU users who trade a
little rate and bias for a search about 4x shorter (the model card measures both).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, replace

from rcc_kernels.errors import InvalidTypeError

__all__ = ["INDEX_CODES", "PRESETS", "RULES", "ChannelSpec", "preset"]

RULES = ("pfr", "orc", "mrc")
"""Candidate selection rules (:mod:`rcc_kernels.search`). A rule's position is its code in the header
word (frozen by the golden files: append only)."""
INDEX_CODES = ("fixed", "zipf", "zipf_truncated", "pfr_lognormal")
"""Index codes (:mod:`rcc.gaussian.message`). A code's position is its code in the header word
(frozen by the golden files: append only)."""
CHUNK_BITS = range(1, 31)
HEADROOM_BITS = range(17)
PARTITION_TRIAL_BITS = range(9)


@dataclass(frozen=True)
class ChannelSpec:
    """What a message of the chunked Gaussian channel depends on (module docstring).

    ``rule``: one of :data:`RULES`; ``index_code``: one of :data:`INDEX_CODES`; ``chunk_bits``: the
    KL a chunk is filled to (a chunk's own budget may be more or less); ``headroom_bits``: extra
    candidates, ``N_c = 2^(b_c + headroom_bits)`` for a chunk of budget ``b_c``;
    ``partition_trial_bits``: the encoder tries ``2^partition_trial_bits`` shuffles. The defaults
    are :data:`PRESETS` ``["default"]``. The information density of a chunk of c bits has a
    standard deviation of sqrt(2 c / ln 2) bits; the headroom must cover a few of those for the
    sample to be unbiased.
    """

    rule: str = "pfr"
    index_code: str = "pfr_lognormal"
    chunk_bits: int = 8
    headroom_bits: int = 3
    partition_trial_bits: int = 3

    def __post_init__(self) -> None:
        for name in ("chunk_bits", "headroom_bits", "partition_trial_bits"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise InvalidTypeError(f"{name} must be an integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        for name in ("rule", "index_code"):
            if not isinstance(getattr(self, name), str):
                raise InvalidTypeError(f"{name} must be a string, got {getattr(self, name)!r}")
        if self.chunk_bits not in CHUNK_BITS or self.headroom_bits not in HEADROOM_BITS:
            raise ValueError(f"need {CHUNK_BITS.start} <= chunk_bits <= {CHUNK_BITS.stop - 1} and "
                             f"0 <= headroom_bits <= {HEADROOM_BITS.stop - 1}")
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {sorted(RULES)}, got {self.rule!r}")
        if self.index_code not in INDEX_CODES:
            raise ValueError(f"index_code must be one of {INDEX_CODES}, got {self.index_code!r}")
        if self.partition_trial_bits not in PARTITION_TRIAL_BITS:
            raise ValueError(f"partition_trial_bits must be in [0, {PARTITION_TRIAL_BITS.stop - 1}]")

    def to_word(self) -> int:
        """The 24-bit header word: rule (2 bits), index code (2), chunk_bits - 1 (5), headroom_bits
        (5), partition_trial_bits (4), then 6 zero bits."""
        return (RULES.index(self.rule) << 22 | INDEX_CODES.index(self.index_code) << 20
                | (self.chunk_bits - 1) << 15 | self.headroom_bits << 10 | self.partition_trial_bits << 6)

    @classmethod
    def from_word(cls, word: int) -> ChannelSpec:
        """The spec a header word holds; a ValueError for a code or a value out of range. The 6
        low bits are not read: a reader that wants canonical words compares ``to_word()``."""
        if not 0 <= word < 1 << 24 or word >> 22 >= len(RULES):
            raise ValueError(f"{word:#x} is not a 24-bit word with a known rule code")
        return cls(RULES[word >> 22], INDEX_CODES[word >> 20 & 3], (word >> 15 & 31) + 1, word >> 10 & 31,
                   word >> 6 & 15)

    def describe(self) -> str:
        """One line for people: rule, chunk, headroom and index code."""
        return (f"{self.rule}, {self.chunk_bits}-bit chunks, {self.headroom_bits} bits of headroom, "
                f"{self.index_code} index code")


PRESETS = {"default": ChannelSpec(), "exact": ChannelSpec(chunk_bits=4, headroom_bits=8),
           "fast": ChannelSpec(chunk_bits=7, headroom_bits=2)}
"""Named settings (module docstring)."""


def preset(name: str = "default", **overrides: object) -> ChannelSpec:
    """``PRESETS[name]`` with ``overrides`` on top (a None override keeps the preset's value): the
    one place the tools turn a preset name and options into a spec."""
    if name not in PRESETS:
        raise ValueError(f"unknown channel preset {name!r}; the presets are {sorted(PRESETS)}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})
