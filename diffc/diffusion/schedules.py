"""Noise schedules in variance-preserving coordinates, and the encoding schedules DiffC sends Z at.

Variance-preserving (VP) diffusion (Ho et al. 2020; Kingma et al. 2021, "Variational diffusion
models") writes the noisy state at time t as ``Z_t = alpha(t) X + sigma(t) U`` with
``alpha^2 + sigma^2 = 1`` and ``U ~ N(0, I)``; everything is a function of the log signal-to-noise
ratio ``lambda(t) = log(alpha^2 / sigma^2)``.

Time convention (one for the whole package)
-------------------------------------------
Time grows with noise: ``lambda`` strictly decreases in ``t``. Every time of a schedule has
``sigma > 0``; the clean data X is the *data endpoint*, not a time of any schedule, and decoders
reach it with a final jump to the denoiser's estimate. For a **continuous** schedule ``t`` is a
float in [0, 1]. For a **discrete** schedule (an alpha-bar table, e.g. a diffusers scheduler's
``alphas_cumprod``) ``t`` is an integer index ``i`` in ``0 .. N-1``: ``Z_i`` has
``alpha^2 = alphas_cumprod[i]`` and the network is called with timestep ``i``, exactly as the
diffusers schedulers do. :meth:`model_timestep` is the single place where a time becomes what the
network sees, so the schedule index and the network's timestep cannot drift apart.

:class:`VPSchedule` is the one schedule type that everything else takes. A process written with
another scaling (flow matching's ``Z = (1 - s) X + s U``) is the VP process of the same log-SNR with
its state rescaled (docs/theory.md), so it too is a :class:`VPSchedule`: :class:`RectifiedFlowVP`.

Encoding schedules
------------------
DiffC (Theis et al. 2022, "Lossy compression with Gaussian diffusion") sends Z at a decreasing
sequence of times. :class:`EncodingSchedule` is that sequence, a frozen hashable value with a
stable SHA-256 (:meth:`EncodingSchedule.digest`) that goes into the container (docs/container.md);
:mod:`diffc.diffusion.spacing` chooses the times. Everything here is exact up to floating point:
``alpha`` and ``sigma`` come from the log-SNR without cancellation.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["ContinuousVP", "DiscreteVP", "EncodingSchedule", "RectifiedFlowVP", "VPSchedule", "alpha_sigma",
           "snr"]


@runtime_checkable
class VPSchedule(Protocol):
    """A schedule in VP coordinates: time -> log-SNR, with the package's time convention.

    ``t_min`` and ``t_max`` are its least and most noisy times; ``t_from_log_snr`` inverts
    ``log_snr`` (to the nearest time of a discrete schedule); ``canonical_bytes`` identify it in
    schedule digests.
    """

    @property
    def discrete(self) -> bool: ...
    @property
    def t_min(self) -> float: ...
    @property
    def t_max(self) -> float: ...
    def log_snr(self, t: float) -> float: ...
    def t_from_log_snr(self, log_snr: float) -> float: ...
    def model_timestep(self, t: float) -> float: ...
    def canonical_bytes(self) -> bytes: ...


def alpha_sigma(schedule: VPSchedule, t: float) -> tuple[float, float]:
    """``(alpha, sigma)`` at time ``t``, computed from the log-SNR without cancellation."""
    lam = schedule.log_snr(t)
    # alpha^2 = sigmoid(lambda), sigma^2 = sigmoid(-lambda)
    return math.sqrt(_sigmoid(lam)), math.sqrt(_sigmoid(-lam))


def snr(schedule: VPSchedule, t: float) -> float:
    """Signal-to-noise ratio ``alpha_t^2 / sigma_t^2 = exp(log_snr(t))``."""
    return math.exp(schedule.log_snr(t))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _pack_floats(values: Sequence[float]) -> bytes:
    return struct.pack(f">{len(values)}d", *values)


_CONTINUOUS_KINDS = ("cosine", "linear_log_snr")


@dataclass(frozen=True)
class ContinuousVP:
    """Continuous VP schedule on t in [0, 1] with ``lambda(0) = log_snr_max``, ``lambda(1) = log_snr_min``.

    ``"linear_log_snr"``: lambda linear in t. ``"cosine"``: ``alpha = cos``-shaped as in Nichol &
    Dhariwal (2021), written as ``lambda(t) = -2 log tan(a t + b)`` (Kingma et al. 2021) with a, b
    chosen so that the endpoints are the given log-SNRs (the usual clipping of the cosine schedule).
    """

    kind: str = "cosine"
    log_snr_min: float = -15.0
    log_snr_max: float = 15.0

    def __post_init__(self) -> None:
        if self.kind not in _CONTINUOUS_KINDS:
            raise ValueError(f"kind must be one of {_CONTINUOUS_KINDS}, got {self.kind!r}")
        if not (math.isfinite(self.log_snr_min) and math.isfinite(self.log_snr_max)
                and self.log_snr_min < self.log_snr_max):
            raise ValueError("need finite log_snr_min < log_snr_max")

    discrete = False
    t_min = 0.0
    t_max = 1.0

    def _cosine_ab(self) -> tuple[float, float]:
        b = math.atan(math.exp(-0.5 * self.log_snr_max))
        return math.atan(math.exp(-0.5 * self.log_snr_min)) - b, b

    def _check_t(self, t: float) -> float:
        t = float(t)
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"continuous schedule time must be in [0, 1], got {t}")
        return t

    def log_snr(self, t: float) -> float:
        t = self._check_t(t)
        if self.kind == "linear_log_snr":
            return self.log_snr_max + (self.log_snr_min - self.log_snr_max) * t
        a, b = self._cosine_ab()
        return -2.0 * math.log(math.tan(a * t + b))

    def t_from_log_snr(self, log_snr: float) -> float:
        lam = min(max(float(log_snr), self.log_snr_min), self.log_snr_max)
        if self.kind == "linear_log_snr":
            t = (lam - self.log_snr_max) / (self.log_snr_min - self.log_snr_max)
        else:
            a, b = self._cosine_ab()
            t = (math.atan(math.exp(-0.5 * lam)) - b) / a
        return min(max(t, 0.0), 1.0)

    def model_timestep(self, t: float) -> float:
        return self._check_t(t)

    def canonical_bytes(self) -> bytes:
        return b"ContinuousVP:" + self.kind.encode() + _pack_floats((self.log_snr_min, self.log_snr_max))


@dataclass(frozen=True)
class DiscreteVP:
    """Discrete VP schedule given by its alpha-bar table (diffusers' ``alphas_cumprod``).

    Time ``i`` (an integer 0 .. N-1) has ``alpha^2 = alphas_cumprod[i]``; see the module docstring.
    """

    alphas_cumprod: tuple[float, ...]

    def __post_init__(self) -> None:
        a = np.asarray(self.alphas_cumprod, dtype=np.float64)
        if a.ndim != 1 or a.size < 2:
            raise ValueError("alphas_cumprod needs at least two entries")
        if not np.all((a > 0) & (a < 1)) or not np.all(np.diff(a) < 0):
            raise ValueError("alphas_cumprod must lie in (0, 1) and strictly decrease")
        object.__setattr__(self, "alphas_cumprod", tuple(float(v) for v in a))

    @classmethod
    def from_betas(cls, betas: Sequence[float]) -> DiscreteVP:
        b = np.asarray(betas, dtype=np.float64)
        if not np.all((b > 0) & (b < 1)):
            raise ValueError("betas must lie in (0, 1)")
        return cls(tuple(np.cumprod(1.0 - b)))

    @classmethod
    def linear(cls, n: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> DiscreteVP:
        """The DDPM schedule of Ho et al. (2020): betas linear in the index."""
        return cls.from_betas(np.linspace(beta_start, beta_end, n))

    @classmethod
    def from_diffusers(cls, scheduler: object) -> DiscreteVP:
        """The table of a diffusers scheduler (DDPM, DDIM, ...): its ``alphas_cumprod``, in float64.

        A zero-terminal-SNR table (``rescale_betas_zero_snr``) loses its last entry, where ``Z`` is
        pure noise and no Gaussian channel step exists. A scheduler without a table, or with one
        that is not a VP schedule, is a ``ValueError``.
        """
        table = getattr(scheduler, "alphas_cumprod", None)
        if table is None:
            raise ValueError(f"{type(scheduler).__name__} has no alphas_cumprod table (not a VP scheduler)")
        a = [float(v) for v in np.asarray(table, dtype=np.float64)]
        if a and a[-1] <= 0.0:
            a = a[:-1]  # zero terminal SNR
        try:
            return cls(tuple(a))
        except ValueError as err:
            raise ValueError(f"the scheduler's alpha-bar table is not a VP schedule: {err}") from err

    discrete = True
    t_min = 0.0

    @property
    def t_max(self) -> float:
        return float(len(self.alphas_cumprod) - 1)

    def _index(self, t: float) -> int:
        i = int(round(float(t)))
        if i != t or not 0 <= i < len(self.alphas_cumprod):
            raise ValueError(f"discrete schedule time must be an integer in [0, {self.t_max:.0f}], got {t}")
        return i

    def log_snr(self, t: float) -> float:
        a = self.alphas_cumprod[self._index(t)]
        return math.log(a) - math.log1p(-a)

    def t_from_log_snr(self, log_snr: float) -> float:
        lams = np.log(self.alphas_cumprod) - np.log1p(-np.asarray(self.alphas_cumprod))
        return float(np.argmin(np.abs(lams - float(log_snr))))

    def model_timestep(self, t: float) -> float:
        return float(self._index(t))

    def canonical_bytes(self) -> bytes:
        return b"DiscreteVP:" + _pack_floats(self.alphas_cumprod)


@dataclass(frozen=True)
class RectifiedFlowVP:
    """The rectified-flow (flow-matching) process of SD3 and Flux as a VP schedule.

    Flow matching (Lipman et al. 2023; Liu et al. 2023; Esser et al. 2024, "Scaling rectified flow
    transformers") writes ``Z^f_s = (1 - s) X + s U`` for ``s`` in (0, 1). Dividing by
    ``c(s) = sqrt((1 - s)^2 + s^2)`` gives the VP state ``Z_s = Z^f_s / c(s)`` with
    ``alpha = (1 - s) / c``, ``sigma = s / c``, i.e. ``alpha_bar = (1 - s)^2 / ((1 - s)^2 + s^2)`` and
    ``lambda(s) = 2 log((1 - s) / s)`` (exact). Conversely ``s = sigma / (alpha + sigma)`` and
    ``Z^f = Z / (alpha + sigma)`` (:mod:`diffc.diffusion.parametrizations`).

    Time is ``s`` itself, a float in ``[s_min, s_max]``; the network receives the timestep
    ``s * train_timesteps`` (diffusers' flow-matching schedulers: ``timestep = sigma * 1000``). This
    one rule ties the scheduler's sigma to the network's timestep, so the two cannot drift apart. A
    sampler's resolution-dependent shift only changes which ``s`` it visits, not this mapping.
    """

    s_min: float = 1e-3
    s_max: float = 1.0 - 1e-3
    train_timesteps: int = 1000

    def __post_init__(self) -> None:
        if not 0.0 < self.s_min < self.s_max < 1.0:
            raise ValueError(f"need 0 < s_min < s_max < 1, got {self.s_min}, {self.s_max}")
        if int(self.train_timesteps) != self.train_timesteps or self.train_timesteps < 1:
            raise ValueError(f"train_timesteps must be a positive integer, got {self.train_timesteps}")

    discrete = False

    @property
    def t_min(self) -> float:
        return self.s_min

    @property
    def t_max(self) -> float:
        return self.s_max

    def _check_t(self, t: float) -> float:
        t = float(t)
        if not self.s_min <= t <= self.s_max:
            raise ValueError(f"flow time must be in [{self.s_min}, {self.s_max}], got {t}")
        return t

    def log_snr(self, t: float) -> float:
        s = self._check_t(t)
        return 2.0 * (math.log1p(-s) - math.log(s))

    def t_from_log_snr(self, log_snr: float) -> float:
        # (1 - s) / s = exp(lambda / 2)  =>  s = sigmoid(-lambda / 2)
        return min(max(_sigmoid(-0.5 * float(log_snr)), self.s_min), self.s_max)

    def model_timestep(self, t: float) -> float:
        return self._check_t(t) * self.train_timesteps

    def canonical_bytes(self) -> bytes:
        return b"RectifiedFlowVP:" + _pack_floats((self.s_min, self.s_max, float(self.train_timesteps)))


@dataclass(frozen=True)
class EncodingSchedule:
    """The times DiffC sends Z at, noisiest first: ``times[0] > times[1] > ...`` on ``vp``."""

    vp: VPSchedule
    times: tuple[float, ...]

    def __post_init__(self) -> None:
        times = tuple(float(t) for t in self.times)
        if not times:
            raise ValueError("an encoding schedule needs at least one time")
        if any(b >= a for a, b in zip(times[:-1], times[1:], strict=True)):
            raise ValueError(f"times must strictly decrease (noisiest first), got {times}")
        for t in times:
            self.vp.log_snr(t)  # validates range / integrality
        object.__setattr__(self, "times", times)

    def __len__(self) -> int:
        return len(self.times)

    def log_snrs(self) -> np.ndarray:
        return np.array([self.vp.log_snr(t) for t in self.times])

    def digest(self) -> bytes:
        """Stable SHA-256 of the schedule (VP table and times), as written into the container."""
        payload = (b"diffc-encoding-schedule/1\x00" + self.vp.canonical_bytes() + b"\x00"
                   + _pack_floats(self.times))
        return hashlib.sha256(payload).digest()

    def prefix(self, n_steps: int) -> EncodingSchedule:
        """The first ``n_steps`` times (what a file truncated after ``n_steps`` steps reaches)."""
        if not 1 <= n_steps <= len(self.times):
            raise ValueError(f"n_steps must be in [1, {len(self.times)}], got {n_steps}")
        return EncodingSchedule(self.vp, self.times[:n_steps])
