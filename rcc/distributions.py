"""Targets and proposals: Gaussians (univariate and diagonal), uniform, categorical, and generic laws
built from scipy.stats or from a user's log-density and sampler.

Every class here is both a :class:`rcc.core.Target` and a :class:`rcc.core.Proposal`. Candidates are
drawn from the shared randomness by inverse transforms of the Philox uniforms (normals for
Gaussians), so candidate ``k`` costs O(1) and depends only on ``(key, k)``.

Divergences are closed-form where one exists (all in bits):

* Normal || Normal (diagonal): D_KL summed over coordinates; D_inf = sum over coordinates of
  [ln(s_p/s_q) + (m_q - m_p)^2 / (2 (s_p^2 - s_q^2))] / ln 2 when every s_q < s_p (a coordinate
  with s_q = s_p contributes 0 if the means agree); infinite otherwise.
* Uniform || Uniform, Uniform || Normal, Categorical || Categorical.

Pairs without a closed form report ``None`` (unknown), after checking supports where they can.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import special, stats

import rcc_kernels
from rcc.bounds import LN2, gaussian_divergences_bits
from rcc.core import Distribution, Divergences, finite_array, real_scalar
from rcc_kernels.errors import InvalidTypeError

__all__ = ["Categorical", "Custom", "Normal", "ScipyContinuous", "Uniform"]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


_UNKNOWN = Divergences(kl_bits=None, dinf_bits=None)
"""Divergences of a pair without a closed form."""


def _check_interval_support(target_support: tuple[float, float], proposal: Distribution) -> None:
    support = getattr(proposal, "support", None)
    if support is None:
        return
    lo, hi = support()
    if target_support[0] < lo or target_support[1] > hi:
        raise ValueError(
            f"target support {target_support} is not contained in the proposal's support "
            f"{(lo, hi)}: the target is not absolutely continuous with respect to the proposal")


@dataclass(frozen=True)
class Normal:
    """Gaussian N(loc, diag(scale^2)). Scalars give a univariate law (event shape ``()``), arrays
    a diagonal multivariate one (event shape ``loc.shape``)."""

    loc: np.ndarray
    scale: np.ndarray

    def __init__(self, loc: object = 0.0, scale: object = 1.0) -> None:
        loc_a, scale_a = np.broadcast_arrays(finite_array(loc, "loc"),
                                             finite_array(scale, "scale"))
        if np.any(scale_a <= 0):
            raise ValueError(f"scale must be positive, got {scale!r}")
        if loc_a.ndim > 1:
            raise ValueError(f"loc and scale must be scalars or vectors, got shape {loc_a.shape}")
        object.__setattr__(self, "loc", loc_a.copy())
        object.__setattr__(self, "scale", scale_a.copy())

    @property
    def event_shape(self) -> tuple[int, ...]:
        return self.loc.shape

    @property
    def dim(self) -> int:
        return int(self.loc.size)

    def support(self) -> tuple[float, float]:
        return (-math.inf, math.inf)

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, dtype=np.float64) - self.loc) / self.scale
        per_coord = -0.5 * z**2 - np.log(self.scale) - _LOG_SQRT_2PI
        return per_coord if self.loc.ndim == 0 else per_coord.sum(axis=-1)

    def candidates(self, key: np.ndarray, start: int, stop: int) -> np.ndarray:
        noise = rcc_kernels.normal(key, start, stop, self.dim)
        return self.loc + self.scale * noise.reshape((stop - start, *self.event_shape))

    def cdf(self, x: np.ndarray) -> np.ndarray:
        return special.ndtr((np.asarray(x) - self.loc) / self.scale)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self.loc + self.scale * special.ndtri(np.asarray(u))

    def divergences(self, proposal: Distribution) -> Divergences:
        if isinstance(proposal, Normal):
            if proposal.event_shape != self.event_shape:
                raise ValueError(f"target shape {self.event_shape} and proposal shape "
                                 f"{proposal.event_shape} differ")
            kl, dinf = gaussian_divergences_bits(self.loc, self.scale, proposal.loc, proposal.scale)
            return Divergences(kl_bits=kl, dinf_bits=dinf)
        _check_interval_support(self.support(), proposal)
        return _UNKNOWN


@dataclass(frozen=True)
class Uniform:
    """Continuous uniform law on the interval (low, high)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        low, high = real_scalar(self.low, "low"), real_scalar(self.high, "high")
        if not low < high or not math.isfinite(high - low):
            raise ValueError(f"need finite low < high, got low={low}, high={high}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    @property
    def event_shape(self) -> tuple[int, ...]:
        return ()

    @property
    def width(self) -> float:
        return self.high - self.low

    def support(self) -> tuple[float, float]:
        return (self.low, self.high)

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        inside = (x >= self.low) & (x <= self.high)
        return np.where(inside, -math.log(self.width), -np.inf)

    def candidates(self, key: np.ndarray, start: int, stop: int) -> np.ndarray:
        return self.low + self.width * rcc_kernels.uniform(key, start, stop, 1)[:, 0]

    def cdf(self, x: np.ndarray) -> np.ndarray:
        return np.clip((np.asarray(x) - self.low) / self.width, 0.0, 1.0)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self.low + self.width * np.asarray(u)

    def divergences(self, proposal: Distribution) -> Divergences:
        _check_interval_support(self.support(), proposal)
        if isinstance(proposal, Uniform):
            bits = math.log2(proposal.width / self.width)
            return Divergences(kl_bits=bits, dinf_bits=bits)
        if isinstance(proposal, Normal) and proposal.event_shape == ():
            m, s = float(proposal.loc), float(proposal.scale)
            a, b = self.low - m, self.high - m
            mean_sq = (b**3 - a**3) / (3 * self.width)  # E_Q[(x - m)^2]
            base = math.log(s) + _LOG_SQRT_2PI - math.log(self.width)
            farthest = max(a * a, b * b)
            return Divergences(kl_bits=(base + mean_sq / (2 * s * s)) / LN2,
                               dinf_bits=(base + farthest / (2 * s * s)) / LN2)
        return _UNKNOWN


@dataclass(frozen=True)
class Categorical:
    """Law on the finite alphabet ``0 .. n-1`` with probabilities ``probs`` (normalised here)."""

    probs: np.ndarray
    _cdf: np.ndarray = field(init=False, repr=False, compare=False)
    _log_probs: np.ndarray = field(init=False, repr=False, compare=False)

    def __init__(self, probs: object) -> None:
        p = finite_array(probs, "probs")
        if p.ndim != 1 or p.size == 0:
            raise ValueError(f"probs must be a non-empty vector, got shape {p.shape}")
        if np.any(p < 0) or p.sum() <= 0:
            raise ValueError("probs must be non-negative with a positive sum")
        p = p / p.sum()
        cdf = np.cumsum(p)
        # Symbols past the last positive probability must never be drawn, whatever the rounding.
        cdf[int(np.flatnonzero(p)[-1]):] = 1.0
        object.__setattr__(self, "probs", p)
        object.__setattr__(self, "_cdf", cdf)
        with np.errstate(divide="ignore"):
            object.__setattr__(self, "_log_probs", np.log(p))

    @property
    def event_shape(self) -> tuple[int, ...]:
        return ()

    @property
    def size(self) -> int:
        return int(self.probs.size)

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        inside = (x >= 0) & (x < self.size)
        return np.where(inside, self._log_probs[np.where(inside, x, 0).astype(np.int64)], -np.inf)

    def candidates(self, key: np.ndarray, start: int, stop: int) -> np.ndarray:
        u = rcc_kernels.uniform(key, start, stop, 1)[:, 0]
        return np.searchsorted(self._cdf, u, side="right").astype(np.int64)

    def divergences(self, proposal: Distribution) -> Divergences:
        if not isinstance(proposal, Categorical):
            raise InvalidTypeError("a categorical target needs a categorical proposal, got "
                            f"{type(proposal).__name__}")
        if proposal.size != self.size:
            raise ValueError(f"alphabet sizes differ: target {self.size}, proposal {proposal.size}")
        q, p = self.probs, proposal.probs
        mass = q > 0
        if np.any(p[mass] == 0):
            raise ValueError("the target puts mass on symbols the proposal never draws "
                             f"({np.flatnonzero(mass & (p == 0))[:5].tolist()} ...)")
        log_ratio = np.log(q[mass] / p[mass])
        return Divergences(kl_bits=float(np.sum(q[mass] * log_ratio) / LN2),
                           dinf_bits=float(log_ratio.max() / LN2))


@dataclass(frozen=True)
class ScipyContinuous:
    """A univariate continuous law from a frozen scipy.stats distribution, e.g.
    ``ScipyContinuous(scipy.stats.laplace(0, 2))``. Candidates are ``dist.ppf(u)``."""

    dist: object

    def __post_init__(self) -> None:
        if not isinstance(getattr(self.dist, "dist", None), stats.rv_continuous):
            raise InvalidTypeError("expected a frozen continuous scipy.stats distribution, got "
                            f"{self.dist!r}; use Categorical for finite alphabets")

    @property
    def event_shape(self) -> tuple[int, ...]:
        return ()

    def support(self) -> tuple[float, float]:
        lo, hi = self.dist.support()
        return float(lo), float(hi)

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.dist.logpdf(np.asarray(x, dtype=np.float64)), dtype=np.float64)

    def candidates(self, key: np.ndarray, start: int, stop: int) -> np.ndarray:
        return np.asarray(self.dist.ppf(rcc_kernels.uniform(key, start, stop, 1)[:, 0]),
                          dtype=np.float64)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        return self.dist.cdf(x)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self.dist.ppf(u)

    def divergences(self, proposal: Distribution) -> Divergences:
        _check_interval_support(self.support(), proposal)
        return _UNKNOWN


@dataclass(frozen=True)
class Custom:
    """A law from a user's log-density and, for use as a proposal, a sampler.

    ``sampler(u)`` maps uniforms ``u`` of shape ``(n, n_uniforms)`` (from the shared randomness) to
    ``n`` samples; it must be deterministic, so that the decoder rebuilds the encoder's candidate.
    ``kl_bits`` / ``dinf_bits``: the divergences against the proposal the target will be coded
    with, when the user knows them (exact PFR needs ``dinf_bits``). ``support``: an interval, for
    support checks and univariate coders.
    """

    log_density: Callable[[np.ndarray], np.ndarray]
    sampler: Callable[[np.ndarray], np.ndarray] | None = None
    event_shape: tuple[int, ...] = ()
    n_uniforms: int = 1
    kl_bits: float | None = None
    dinf_bits: float | None = None
    interval: tuple[float, float] = (-math.inf, math.inf)

    def __post_init__(self) -> None:
        if not callable(self.log_density):
            raise InvalidTypeError("log_density must be callable")
        if self.sampler is not None and not callable(self.sampler):
            raise InvalidTypeError("sampler must be callable or None")
        if self.n_uniforms < 1:
            raise ValueError(f"n_uniforms must be at least 1, got {self.n_uniforms}")
        for name in ("kl_bits", "dinf_bits"):
            value = getattr(self, name)
            if value is not None and (math.isnan(value) or value < 0):
                raise ValueError(f"{name} must be a non-negative number or None, got {value}")

    def support(self) -> tuple[float, float]:
        return self.interval

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.log_density(np.asarray(x)), dtype=np.float64)

    def candidates(self, key: np.ndarray, start: int, stop: int) -> np.ndarray:
        if self.sampler is None:
            raise InvalidTypeError("this Custom distribution has no sampler and cannot be a proposal")
        out = np.asarray(self.sampler(rcc_kernels.uniform(key, start, stop, self.n_uniforms)))
        if out.shape != (stop - start, *self.event_shape):
            raise ValueError(f"sampler returned shape {out.shape}, expected "
                             f"{(stop - start, *self.event_shape)}")
        return out

    def divergences(self, proposal: Distribution) -> Divergences:
        if self.event_shape == ():
            _check_interval_support(self.interval, proposal)
        return Divergences(kl_bits=self.kl_bits, dinf_bits=self.dinf_bits)
