"""Chunked channel simulation of high-dimensional diagonal Gaussians, the engine of DiffC
(``docs/channel.md``): the channel (:mod:`rcc.gaussian.channel`), its settings and presets
(:mod:`rcc.gaussian.spec`), the partition policy (:mod:`rcc.gaussian.partition`) and the message
format (:mod:`rcc.gaussian.message`)."""

from rcc.gaussian.channel import ChannelPlan, GaussianChannel, GaussianChannelStats
from rcc.gaussian.message import MEAN_KL_BITS, SideInfo
from rcc.gaussian.spec import INDEX_CODES, PRESETS, RULES, ChannelSpec, preset

__all__ = ["INDEX_CODES", "MEAN_KL_BITS", "PRESETS", "RULES", "ChannelPlan", "ChannelSpec", "GaussianChannel",
           "GaussianChannelStats", "SideInfo", "preset"]
