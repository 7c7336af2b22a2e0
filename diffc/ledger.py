"""The bit ledger of a DiffC file: where every bit goes, per step and in total.

A file's bits split exactly into ``header + sum over steps of (framing + side + index)``:

* **header**: the container header (:func:`diffc.container.encode_header`), of which
  ``conditioning_bits`` are the conditioning's options (the prompt's text, the guidance scale, the
  class label: :func:`diffc.container.conditioning_record`);
* **framing**: a record's length varint and check (:func:`diffc.container.framing_bytes`);
* **side**: the channel's side information at the start of each message (index-code budget,
  heavy dimensions, chunk count, partition trial, mean chunk KL:
  :class:`rcc.gaussian.SideInfo`);
* **index**: the rest of the message, the coded chunk indices (with the code's final padding).

Beside the real bits, what the step should have cost and how well it was packed:

* ``kl_bits``, the sum of the step's chunk KLs: the index bits' ideal; ``index_overhead_bits``
  is their difference;
* ``slack``, the mean chunk KL over the channel's ``chunk_bits`` (1: every chunk filled to it; a
  low slack means more chunks than the KL needs, each with its own index overhead of about
  ``log2(chunk KL) / 2 + 2`` bits -- a fixed-length index costs the budget plus the headroom
  whatever its chunk's KL);
* ``shortfall_bits``, the KL minus the realized log-ratio ``log2 q(z)/p(z)`` at the sample sent:
  near zero (noisy) for an unbiased channel, positive where truncation bites.

Two sources, one ledger. The encoder's (:func:`step_from_channel`) takes the exact KLs and the
realized log-ratios from the channel's statistics. A file's (:func:`file_ledger`, what ``diffc
info`` prints, no model needed) reads each message's side information
(:meth:`rcc.gaussian.GaussianChannel.side_info`): the real bits, chunk counts and budgets
are all there, but the KL, and with it the index overhead, the slack and the shortfall, are
unknown (``None``): the channel does not send the KL (its index model depends on the budget only)
and only the encoder knows the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from diffc.container import Container, ContainerError, conditioning_record
from rcc.gaussian import GaussianChannel, GaussianChannelStats

__all__ = ["Ledger", "StepBits", "file_ledger", "step_from_channel"]


@dataclass(frozen=True)
class StepBits:
    """One step's line of the ledger (see the module docstring)."""

    step: int
    framing_bits: int
    side_bits: int
    index_bits: int
    n_chunks: int
    target_bits: int
    budget_bits: int
    kl_bits: float | None
    log_ratio_bits: float | None = None
    n_heavy: int = 0

    @property
    def record_bits(self) -> int:
        return self.framing_bits + self.side_bits + self.index_bits

    @property
    def index_overhead_bits(self) -> float | None:
        return None if self.kl_bits is None else self.index_bits - self.kl_bits

    @property
    def slack(self) -> float | None:
        return None if self.kl_bits is None else self.kl_bits / (self.n_chunks * self.target_bits)

    @property
    def shortfall_bits(self) -> float | None:
        return None if self.log_ratio_bits is None else self.kl_bits - self.log_ratio_bits


def step_from_channel(step: int, framing_bits: int, stats: GaussianChannelStats) -> StepBits:
    """The encoder's line for a step: the channel's own statistics, nothing recomputed."""
    return StepBits(step, framing_bits, stats.side_bits, stats.bits - stats.side_bits, stats.n_chunks,
                    stats.target_bits, stats.chunk_budget_bits, stats.kl_bits, stats.log_ratio_bits,
                    stats.n_heavy)


def _total(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else float(sum(values))


@dataclass(frozen=True)
class Ledger:
    """A file's ledger: the header and one :class:`StepBits` per record; totals as properties.
    ``conditioning_bits``: the part of the header that records the conditioning's options."""

    header_bits: int
    steps: tuple[StepBits, ...]
    conditioning_bits: int = 0

    @property
    def framing_bits(self) -> int:
        return sum(s.framing_bits for s in self.steps)

    @property
    def side_bits(self) -> int:
        return sum(s.side_bits for s in self.steps)

    @property
    def index_bits(self) -> int:
        return sum(s.index_bits for s in self.steps)

    @property
    def file_bits(self) -> int:
        return self.header_bits + self.framing_bits + self.side_bits + self.index_bits

    @property
    def kl_bits(self) -> float | None:
        return _total([s.kl_bits for s in self.steps])

    @property
    def index_overhead_bits(self) -> float | None:
        kl = self.kl_bits
        return None if kl is None else self.index_bits - kl

    @property
    def slack(self) -> float | None:
        """Total KL over the chunks' total target (the chunk-weighted mean of the steps' slacks)."""
        kl = self.kl_bits
        return None if kl is None else kl / sum(s.n_chunks * s.target_bits for s in self.steps)

    @property
    def shortfall_bits(self) -> float | None:
        return _total([s.shortfall_bits for s in self.steps])

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: the totals and the per-step lines, with the derived columns."""
        derived = ("record_bits", "index_overhead_bits", "slack", "shortfall_bits")
        steps = [{**vars(s), **{name: getattr(s, name) for name in derived}} for s in self.steps]
        totals = {name: getattr(self, name) for name in ("header_bits", "conditioning_bits", "framing_bits",
                                                         "side_bits", "index_bits", "file_bits", "kl_bits",
                                                         "index_overhead_bits", "slack", "shortfall_bits")}
        return {"total": totals, "steps": steps}

    def format(self) -> str:
        """A fixed-width table, one line per step, then the totals ("-" where a value is unknown)."""
        def cells(kl: float | None, overhead: float | None, slack: float | None,
                  shortfall: float | None) -> str:
            return " ".join("-".rjust(width) if v is None else f"{v:{width}.2f}"
                            for v, width in ((kl, 9), (overhead, 8), (slack, 5), (shortfall, 9)))

        lines = [f"{'step':>4} {'record':>7} {'framing':>7} {'side':>5} {'index':>7} {'chunks':>6} "
                 f"{'heavy':>5} {'budget':>6} {'KL':>9} {'index-KL':>8} {'slack':>5} {'shortfall':>9}"]
        for s in self.steps:
            lines.append(f"{s.step:>4} {s.record_bits:>7} {s.framing_bits:>7} {s.side_bits:>5} "
                         f"{s.index_bits:>7} {s.n_chunks:>6} {s.n_heavy:>5} {s.budget_bits:>6} "
                         + cells(s.kl_bits, s.index_overhead_bits, s.slack, s.shortfall_bits))
        lines.append(f"{'all':>4} {self.file_bits - self.header_bits:>7} {self.framing_bits:>7} "
                     f"{self.side_bits:>5} {self.index_bits:>7} {sum(s.n_chunks for s in self.steps):>6} "
                     f"{sum(s.n_heavy for s in self.steps):>5} "
                     f"{'':>6} " + cells(self.kl_bits, self.index_overhead_bits, self.slack,
                                          self.shortfall_bits))
        options = f" (conditioning options {self.conditioning_bits})" if self.conditioning_bits else ""
        lines.append(f"header {self.header_bits} bits{options}; file {self.file_bits} bits = header + "
                     f"framing {self.framing_bits} + side {self.side_bits} + index {self.index_bits}")
        return "\n".join(lines)


def file_ledger(container: Container) -> Ledger:
    """The ledger of a parsed file, from its bytes alone (the channel named by its header); a
    :class:`~diffc.container.ContainerError` if a message's side information does not parse."""
    try:
        channel = GaussianChannel(container.header.channel)
    except ValueError as err:  # the settings in range one by one, not together
        raise ContainerError(f"the file's coder is not a channel this version builds: {err}") from None
    dim = math.prod(container.header.shape)
    steps = []
    for k, (message, framing) in enumerate(zip(container.messages, container.framing_bytes, strict=True)):
        try:
            side = channel.side_info(message, dim)
        except ValueError as err:
            raise ContainerError(f"step {k}: the side information does not parse: {err}") from None
        steps.append(StepBits(k, 8 * framing, side.side_bits, 8 * len(message) - side.side_bits,
                              side.n_chunks, channel.spec.chunk_bits, side.budget_bits, kl_bits=None,
                              n_heavy=len(side.heavy)))
    return Ledger(8 * container.header_bytes, tuple(steps), 8 * len(conditioning_record(container.header)))
