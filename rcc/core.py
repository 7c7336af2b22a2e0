"""The one vocabulary of the toolkit: target, proposal, shared randomness, message, sample,
statistics.

A *coder* communicates one sample of a **target** Q to a decoder that knows only the **proposal**
(prior) P, a **seed** and a **stream** path (the shared randomness), and the **message**:

>>> message, stats = coder.encode(target, proposal, seed=7, stream=(0,))     # doctest: +SKIP
>>> sample = coder.decode(message, proposal, seed=7, stream=(0,))           # doctest: +SKIP

The decoder rebuilds candidate ``k`` of the proposal directly from the shared randomness, in O(1),
without replaying candidates ``0 .. k-1`` (:meth:`Proposal.candidates`). Randomness used only by
the encoder (arrival times, acceptance or selection variates) is seeded too, so the same input and
seed always give the same message.

Conventions
-----------
* Samples are numpy arrays of shape ``(n, *event_shape)``: a batch of ``n`` points. Categorical
  samples are integer symbols of event shape ``()``.
* Log-densities and log-ratios are in nats (what numpy computes); divergences, code lengths and
  rates are in bits (what information theorists report).
* Candidate indices are 0-based, 64-bit Python ints.
* Every coder says whether it is ``exact`` (the decoded sample follows Q exactly) or approximate
  (a finite budget of candidates, with a bias bounded in :mod:`rcc.bounds`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from rcc_kernels.errors import InvalidTypeError

__all__ = [
    "Coder",
    "Distribution",
    "Divergences",
    "InvalidTypeError",
    "Message",
    "Proposal",
    "Stats",
    "Target",
    "check_implements",
    "check_message",
    "finite_array",
    "log_ratio",
    "real_scalar",
]

Stream = tuple[int, ...]


@runtime_checkable
class Distribution(Protocol):
    """A law with a log-density (nats) with respect to a base measure shared with its partners:
    Lebesgue measure for continuous laws, counting measure for categorical ones."""

    @property
    def event_shape(self) -> tuple[int, ...]:
        """Shape of one sample (``()`` for scalars and categorical symbols)."""
        ...

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """Log-density of each point of the batch ``x`` (shape ``(n, *event_shape)``) -> ``(n,)``;
        ``-inf`` outside the support."""
        ...


@runtime_checkable
class Proposal(Distribution, Protocol):
    """The prior P that encoder and decoder share, able to draw candidates from shared randomness."""

    def candidates(self, key: np.ndarray, start: int, stop: int) -> np.ndarray:
        """Candidates ``start .. stop-1`` of the stream with Philox ``key``: ``(stop - start,
        *event_shape)``. Candidate ``k`` depends only on ``(key, k)``, so any one is O(1)."""
        ...


@dataclass(frozen=True)
class Divergences:
    """D_KL[Q || P] and D_inf[Q || P] = log2 sup dQ/dP, in bits.

    ``None`` means "no closed form is known"; ``math.inf`` means "the divergence is infinite"
    (for D_inf: the density ratio is unbounded).
    """

    kl_bits: float | None
    dinf_bits: float | None

    @property
    def ratio_bounded(self) -> bool:
        """True when dQ/dP is known to be bounded (D_inf finite)."""
        return self.dinf_bits is not None and math.isfinite(self.dinf_bits)


@runtime_checkable
class Target(Distribution, Protocol):
    """The law Q the decoder's sample must follow."""

    def divergences(self, proposal: Distribution) -> Divergences:
        """D_KL and D_inf against ``proposal`` (closed form where one exists).

        Raises ``ValueError`` when Q is not absolutely continuous with respect to P (some of Q's
        mass lies outside P's support), since no channel simulator can then reach Q.
        """
        ...


def finite_array(value: object, name: str) -> np.ndarray:
    """``value`` as a float64 array; :class:`InvalidTypeError` when it is not real numbers (complex
    values would silently lose their imaginary part), ValueError when not finite."""
    if np.iscomplexobj(value):
        raise InvalidTypeError(f"{name} must be real, got complex values")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as err:
        raise InvalidTypeError(f"{name} must be real numbers, got {_short(value)}") from err
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (got NaN or inf)")
    return arr


def real_scalar(value: object, name: str) -> float:
    """``value`` as a float; :class:`InvalidTypeError` unless it is one real number (NaN and inf
    pass: callers check their ranges)."""
    if isinstance(value, (bool, np.bool_, str, bytes)) or np.iscomplexobj(value):
        raise InvalidTypeError(f"{name} must be a real number, got {_short(value)}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as err:
        raise InvalidTypeError(f"{name} must be a real number, got {_short(value)}") from err
    if arr.ndim:
        raise InvalidTypeError(f"{name} must be one number, got an array of shape {arr.shape}")
    return float(arr)


ROLE_METHODS = {"target": ("log_prob", "divergences"), "proposal": ("log_prob", "candidates")}
"""What a coder calls on each argument: the duck-typed :class:`Target` and :class:`Proposal`."""


def check_implements(obj: object, role: str) -> None:
    """:class:`InvalidTypeError` unless ``obj`` has the methods its ``role`` needs."""
    # Duck-typed rather than isinstance(..., Protocol), which is slow on a coder's hot path.
    methods = ROLE_METHODS[role]
    if not all(callable(getattr(obj, m, None)) for m in methods):
        raise InvalidTypeError(f"the {role} must implement rcc.core.{role.title()} "
                               f"({', '.join(methods)}), got {type(obj).__name__}")


def check_message(message: object) -> Message:
    """``message`` itself; :class:`InvalidTypeError` unless it is a :class:`Message`."""
    if not isinstance(message, Message):
        raise InvalidTypeError(f"message must be an rcc.core.Message, got {type(message).__name__}")
    return message


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def log_ratio(target: Distribution, proposal: Distribution, x: np.ndarray) -> np.ndarray:
    """log dQ/dP (nats) at points ``x`` drawn from P: ``-inf`` where Q has no density."""
    log_q = np.asarray(target.log_prob(x), dtype=np.float64)
    log_p = np.asarray(proposal.log_prob(x), dtype=np.float64)
    with np.errstate(invalid="ignore"):
        out = log_q - log_p
    # Points outside Q's support carry no target mass, whatever P says there.
    return np.where(np.isneginf(log_q), -np.inf, out)


@dataclass(frozen=True)
class Message:
    """What the encoder sends: the coded candidate index, as bytes.

    ``bits`` counts real bits (eight per byte), which is what benchmarks report.
    """

    data: bytes

    @property
    def bits(self) -> int:
        return 8 * len(self.data)


@dataclass(frozen=True)
class Stats:
    """Statistics of one encoder call.

    ``index``: the candidate sent (0-based); ``bits``: real bits of the message; ``ideal_bits``:
    the index code's ideal length for this index (information content under its model);
    ``proposals``: candidates the encoder examined (what a sequential encoder would draw, early
    stopping included); ``log_ratio_bits``: log2 dQ/dP at the chosen candidate (averages to
    D_KL for an exact coder).
    """

    index: int
    bits: int
    ideal_bits: float
    proposals: int
    log_ratio_bits: float


@runtime_checkable
class Coder(Protocol):
    """A channel simulator: sends a sample of a target through shared randomness and an index."""

    exact: bool
    """True when the decoded sample follows the target exactly; False for fixed-budget coders."""

    def encode(self, target: Target, proposal: Proposal, seed: int,
               stream: Stream = ()) -> tuple[Message, Stats]:
        """Message and statistics for one sample of ``target``."""
        ...

    def decode(self, message: Message, proposal: Proposal, seed: int,
               stream: Stream = ()) -> np.ndarray:
        """The encoder's sample (shape ``event_shape``), rebuilt from the message and the seed."""
        ...
