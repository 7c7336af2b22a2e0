"""Entropy coding of dithered-quantization indices K given the shared dither U.

Universal quantization (Zamir & Feder 1992; Agustsson & Theis 2020, "Universally quantized neural
compression") sends ``K = round(x / step - U)``. The decoder knows U, the step and a prior on x, so
the model of K given U is the prior integrated over the shifted cells
``step * (k + U - 1/2, k + U + 1/2)``: the prior convolved with Uniform(-step/2, step/2), evaluated on
the grid shifted by the dither. With this model, the expected code length is H[K | U] =
h(X + step U') - log2 step (Zamir & Feder), which :func:`dithered_rate_bits` evaluates.

The coder is constriction's range coder (``constriction.stream.queue``), 24-bit precision.

How a symbol is modelled
------------------------
Every prior here is a location-scale family ``F((x - loc) / scale)`` from scipy.stats (with optional
shape parameters), one law per element. Per element the coder centres the index at
``c = round(median / step - U)`` and codes the *relative* symbol ``r = K - c``, whose law is the
family with location ``mu = loc / step - U - c`` and scale ``sigma = scale / step`` in index units,
put on unit cells ``(r - 1/2, r + 1/2)`` for ``|r| <= R``. ``R`` covers all but ``TAIL = 2^-24`` of
the prior's mass on each side (cells beyond it would sit below the coder's 24-bit resolution
anyway). The two symbols ``r = +-(R + 1)`` are *escapes* and carry the whole tail beyond the
alphabet: a value past them is sent as the escape followed by its excess in an Elias-gamma code, so
no representable index ever fails to encode. Constriction gives every symbol of the alphabet at least
the smallest representable probability (2^-24), so no in-range symbol has zero mass even where the
prior has none. Elements are grouped by ``R`` rounded up to a quarter octave, so that one very wide
element does not widen (and leak mass from) the alphabet of all the others.

Gaussian priors use constriction's ``QuantizedGaussian`` (it clips the law to the alphabet instead
of lumping the tails into the escapes, a difference below 2^-24 in every probability). Other
families are coded by bisection of the alphabet with constriction ``Bernoulli`` models whose
probabilities are ratios of scipy cdf differences: the product over the O(log R) halvings is the
cell probability, so any scipy.stats family costs O(log R) cdf evaluations per element (a table of
all cells, as a ``Categorical`` model needs, costs O(R) and was too slow for wide heavy-tailed
priors). ``R`` is capped at ``RADIUS_MAX``; the rest of the mass goes through the escapes.

What is exact and what is approximate: the round trip is exact (bit-identical indices). The code
length is within the coder's overhead of ``CodingStats.model_bits``, the information content under
the floating-point model with every probability floored at 2^-24 (as constriction's leaky models do);
the fixed-point model differs from it by at most the leakage of 2^-24 per alphabet symbol.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import constriction
import numpy as np
from scipy import integrate, stats

from rcc.codes import pad_words, trim
from rcc.core import finite_array
from rcc_kernels.errors import InvalidTypeError

__all__ = ["MAX_INDEX", "CodingStats", "Prior", "decode", "dithered_rate_bits", "encode"]

MAX_INDEX = 2**52
"""Bound on ``|index|`` (and on ``|x / step - U|``): beyond it float64 cannot represent every index."""
PRECISION = 24
"""Fixed-point precision of constriction's default models (bits)."""
TAIL = 2.0**-PRECISION
"""Prior mass left outside the regular alphabet on each side (it goes through the escapes)."""
SIGMA_MIN = 1e-6
"""Smallest prior scale in index units; a narrower prior is widened to it on both sides."""
RADIUS_MAX = 2**16
"""Largest alphabet radius (QuantizedGaussian leaks at most 2^17 / 2^24 of the mass at this width);
the prior's mass beyond goes through the escapes."""
TRIM_ELEMENTS = 64
"""Messages of at most this many elements get their final word trimmed (a few bytes matter there)."""
_CHUNK_BITS = 16
"""Width of the uniform chunks that carry an escape's excess."""


@dataclass(frozen=True)
class Prior:
    """A prior on x that encoder and decoder share: a scipy.stats location-scale family, with
    per-element ``loc``, ``scale`` and shape parameters broadcast against the data.

    Build one with :meth:`gaussian`, :meth:`logistic` or :meth:`from_scipy`.
    """

    family: stats.rv_continuous
    loc: np.ndarray
    scale: np.ndarray
    shapes: tuple[np.ndarray, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.family, stats.rv_continuous):
            raise InvalidTypeError(
                f"family must be a continuous scipy.stats distribution, got {self.family!r}")
        loc = finite_array(self.loc, "prior loc")
        scale = finite_array(self.scale, "prior scale")
        if np.any(scale <= 0):
            raise ValueError("prior scale must be positive")
        shapes = tuple(finite_array(s, "prior shape parameter") for s in self.shapes)
        if not np.all(self.family._argcheck(*shapes)):
            raise ValueError(f"invalid shape parameters {self.shapes} for {self.family.name}")
        object.__setattr__(self, "loc", loc)
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "shapes", shapes)

    @classmethod
    def gaussian(cls, loc: object = 0.0, scale: object = 1.0) -> Prior:
        """N(loc, scale^2) per element."""
        return cls(stats.norm, loc, scale)

    @classmethod
    def logistic(cls, loc: object = 0.0, scale: object = 1.0) -> Prior:
        """Logistic(loc, scale) per element (CDF ``expit((x - loc) / scale)``)."""
        return cls(stats.logistic, loc, scale)

    @classmethod
    def from_scipy(cls, dist: object) -> Prior:
        """Any frozen continuous scipy.stats distribution, e.g. ``scipy.stats.t(3, loc, scale)``."""
        family = getattr(dist, "dist", None)
        if not isinstance(family, stats.rv_continuous):
            raise InvalidTypeError(f"expected a frozen continuous scipy.stats distribution, got {dist!r}")
        # scipy's own argument parser splits positional/keyword arguments into shapes, loc, scale.
        shapes, loc, scale = family._parse_args(*dist.args, **dist.kwds)
        return cls(family, loc, scale, tuple(shapes))

    @property
    def is_gaussian(self) -> bool:
        return self.family is stats.norm

    def frozen(self) -> object:
        """The scipy.stats frozen law (for densities and theory)."""
        return self.family(*self.shapes, loc=self.loc, scale=self.scale)


@dataclass(frozen=True)
class CodingStats:
    """What one call to :func:`encode` produced.

    ``bits``: real bits of the bitstream (8 per byte); ``model_bits``: information content of the
    symbols under the floating-point model (the model's own estimate); ``escapes``: elements sent
    through the escape; ``elements``: elements coded.
    """

    bits: int
    model_bits: float
    escapes: int
    elements: int


@dataclass(frozen=True)
class _SymbolModel:
    """Per-element model of the relative symbol, flattened (see the module docstring)."""

    center: np.ndarray  # int64
    mu: np.ndarray
    sigma: np.ndarray
    radius: np.ndarray  # int64, a power of two
    shapes: tuple[np.ndarray, ...]


def check_step(step: object) -> np.ndarray:
    arr = finite_array(step, "step")
    if np.any(arr <= 0):
        raise ValueError("step must be positive")
    return arr


def _symbol_model(u: np.ndarray, step: np.ndarray, prior: Prior) -> _SymbolModel:
    shape = u.shape
    try:
        loc, scale, step, *shapes = (np.broadcast_to(a, shape).ravel()
                                     for a in (prior.loc, prior.scale, step, *prior.shapes))
    except ValueError as err:
        raise ValueError(f"prior and step must broadcast to the data shape {shape}") from err
    fam = prior.family
    u = u.ravel()
    median = loc + scale * fam.ppf(0.5, *shapes)
    centre_f = np.rint(median / step - u)
    if not np.all(np.abs(centre_f) < MAX_INDEX):
        raise ValueError("prior median / step is too large to index (|median / step| >= 2^52)")
    center = centre_f.astype(np.int64)
    offset = u + center  # index-unit position of the cell of r = 0
    mu = loc / step - offset
    sigma = np.maximum(scale / step, SIGMA_MIN)
    with np.errstate(over="ignore", invalid="ignore"):
        lo = mu + sigma * fam.ppf(TAIL, *shapes)
        hi = mu + sigma * fam.isf(TAIL, *shapes)
        reach = np.nan_to_num(np.maximum(-lo, hi), nan=np.inf, posinf=np.inf)
    need = np.clip(np.ceil(reach - 0.5), 1, RADIUS_MAX).astype(np.int64)
    # Round up to a quarter octave: few distinct alphabets, at most 25% wider than needed. The
    # octave floor(log2 need) is read off the exponent (exact) rather than from log2, whose last
    # bit depends on the CPU and would move a power of two to the octave below.
    octave = np.frexp(need.astype(np.float64))[1].astype(np.int64) - 1
    grain = np.left_shift(1, np.maximum(octave - 2, 0))
    radius = -(-need // grain) * grain
    return _SymbolModel(center, mu, sigma, radius, tuple(shapes))


def _probabilities(prior: Prior, m: _SymbolModel, idx: np.ndarray, radius: int,
                   symbols: np.ndarray) -> np.ndarray:
    """Float model probability of the relative ``symbols`` (one per element of ``idx``): unit cells
    for ``|r| <= radius``, the tails beyond for the escapes ``+-(radius + 1)``. Tiny masses lose
    relative precision to the cdf difference, which is harmless: the coder floors every probability
    at 2^-24."""
    mu, sigma = m.mu[idx], m.sigma[idx]
    shapes = tuple(s[idx] for s in m.shapes)
    lower = np.where(symbols <= -radius - 1, -np.inf, (symbols - 0.5 - mu) / sigma)
    upper = np.where(symbols >= radius + 1, np.inf, (symbols + 0.5 - mu) / sigma)
    cdf = prior.family.cdf
    return np.maximum(cdf(upper, *shapes) - cdf(lower, *shapes), 0.0)


def _escape_payload_bits(excess: np.ndarray) -> float:
    """Bits of the Elias-gamma-style payload of each escape (see :func:`_encode_excess`)."""
    if excess.size == 0:
        return 0.0
    nbits = np.array([int(e + 1).bit_length() for e in excess])
    return float(np.sum(math.log2(64) + nbits - 1))


def _buckets(m: _SymbolModel) -> list[tuple[int, np.ndarray]]:
    return [(int(r), np.flatnonzero(m.radius == r)) for r in np.unique(m.radius)]


def _code_gaussian(coder: object, m: _SymbolModel, idx: np.ndarray, radius: int,
                   symbols: np.ndarray | None) -> np.ndarray | None:
    model = constriction.stream.model.QuantizedGaussian(-radius - 1, radius + 1)
    if symbols is None:
        return coder.decode(model, m.mu[idx], m.sigma[idx]).astype(np.int64)
    coder.encode(symbols.astype(np.int32), model, m.mu[idx], m.sigma[idx])
    return None


def _code_bisection(coder: object, prior: Prior, m: _SymbolModel, idx: np.ndarray, radius: int,
                    symbols: np.ndarray | None) -> np.ndarray | None:
    """Code alphabet positions by halving the interval of candidates: each halving is a Bernoulli
    whose probability is the prior mass of the upper half over the mass of the interval, so the
    product over halvings is the cell probability, at O(log R) cdf evaluations per symbol."""
    width = 2 * radius + 3
    mu, sigma = m.mu[idx], m.sigma[idx]
    shapes = tuple(s[idx] for s in m.shapes)
    lo, hi = np.zeros(idx.size, dtype=np.int64), np.full(idx.size, width, dtype=np.int64)
    f_lo, f_hi = np.zeros(idx.size), np.ones(idx.size)
    position = None if symbols is None else symbols + radius + 1
    bernoulli = constriction.stream.model.Bernoulli(perfect=False)
    while np.any(active := hi - lo > 1):
        a = np.flatnonzero(active)
        mid = (lo[a] + hi[a]) // 2
        # Boundary j separates alphabet positions j - 1 and j, i.e. relative symbols j - radius - 2
        # and j - radius - 1: it sits at j - radius - 1.5 in index units.
        f_mid = prior.family.cdf((mid - radius - 1.5 - mu[a]) / sigma[a], *(s[a] for s in shapes))
        with np.errstate(divide="ignore", invalid="ignore"):
            p_upper = np.nan_to_num(np.clip((f_hi[a] - f_mid) / (f_hi[a] - f_lo[a]), 0.0, 1.0), nan=0.5)
        if position is None:
            upper = coder.decode(bernoulli, p_upper).astype(bool)
        else:
            upper = position[a] >= mid
            coder.encode(upper.astype(np.int32), bernoulli, p_upper)
        lo[a], f_lo[a] = np.where(upper, mid, lo[a]), np.where(upper, f_mid, f_lo[a])
        hi[a], f_hi[a] = np.where(upper, hi[a], mid), np.where(upper, f_hi[a], f_mid)
    return None if symbols is not None else lo - radius - 1


def _code_bucket(coder: object, prior: Prior, m: _SymbolModel, idx: np.ndarray, radius: int,
                 symbols: np.ndarray | None) -> np.ndarray | None:
    """Encode ``symbols`` (relative, in [-radius-1, radius+1]) of elements ``idx`` with ``coder``,
    or decode them when ``symbols`` is None."""
    if prior.is_gaussian:
        return _code_gaussian(coder, m, idx, radius, symbols)
    return _code_bisection(coder, prior, m, idx, radius, symbols)


def _encode_excess(coder: object, excess: int) -> None:
    """Elias-gamma-style code of ``excess >= 0`` with uniform models: the bit length of
    ``excess + 1`` (6 bits), then its bits below the leading one in chunks of 16."""
    value = excess + 1
    nbits = value.bit_length()
    coder.encode(np.array([nbits - 1], dtype=np.int32), constriction.stream.model.Uniform(64))
    rest = nbits - 1
    while rest > 0:
        width = min(rest, _CHUNK_BITS)
        rest -= width
        chunk = (value >> rest) & ((1 << width) - 1)
        coder.encode(np.array([chunk], dtype=np.int32), constriction.stream.model.Uniform(1 << width))


def _decode_excess(decoder: object) -> int:
    nbits = int(decoder.decode(constriction.stream.model.Uniform(64), 1)[0]) + 1
    value, rest = 1, nbits - 1
    while rest > 0:
        width = min(rest, _CHUNK_BITS)
        rest -= width
        chunk = int(decoder.decode(constriction.stream.model.Uniform(1 << width), 1)[0])
        value = (value << width) | chunk
    return value - 1


def _prepare(u: object, step: object, prior: Prior) -> tuple[np.ndarray, _SymbolModel]:
    if not isinstance(prior, Prior):
        raise InvalidTypeError(f"prior must be an rcc.quantization.Prior, got {type(prior).__name__}")
    u_arr = finite_array(u, "dither")
    return u_arr, _symbol_model(u_arr, check_step(step), prior)


def _relative(k: object, u: np.ndarray, m: _SymbolModel) -> np.ndarray:
    k_arr = np.asarray(k)
    if k_arr.shape != u.shape:
        raise ValueError(f"indices of shape {k_arr.shape} do not match the dither's {u.shape}")
    if not np.issubdtype(k_arr.dtype, np.integer):
        raise InvalidTypeError(f"indices must be integers, got {k_arr.dtype}")
    k_arr = k_arr.ravel().astype(np.int64)
    if np.any(np.abs(k_arr) >= MAX_INDEX):
        raise ValueError("indices must satisfy |k| < 2^52")
    return k_arr - m.center


def _information_bits(prior: Prior, m: _SymbolModel, rel: np.ndarray) -> float:
    total = 0.0
    for radius, idx in _buckets(m):
        r = rel[idx]
        p = _probabilities(prior, m, idx, radius, np.clip(r, -radius - 1, radius + 1).astype(np.float64))
        total += float(-np.sum(np.log2(np.maximum(p, 2.0**-PRECISION))))
        total += _escape_payload_bits(np.abs(r[np.abs(r) > radius]) - radius - 1)
    return total


def encode(k: object, u: object, step: object, prior: Prior) -> tuple[bytes, CodingStats]:
    """Bitstream of the integer indices ``k`` given the dither ``u`` (same shape, in index units),
    the quantization step (broadcast) and the ``prior`` on x that the decoder knows."""
    u_arr, m = _prepare(u, step, prior)
    rel = _relative(k, u_arr, m)
    coder = constriction.stream.queue.RangeEncoder()
    escapes: list[int] = []
    for radius, idx in _buckets(m):
        r = rel[idx]
        far = np.abs(r) > radius
        _code_bucket(coder, prior, m, idx, radius, np.where(far, np.sign(r) * (radius + 1), r))
        escapes.extend(int(e) for e in np.abs(r[far]) - radius - 1)
    for excess in escapes:
        _encode_excess(coder, excess)
    data = coder.get_compressed().astype(">u4").tobytes()
    if u_arr.size <= TRIM_ELEMENTS:
        data = trim(data, lambda d: np.array_equal(_decode_relative(d, prior, m), rel), max_cut=3)
    return data, CodingStats(bits=8 * len(data), model_bits=_information_bits(prior, m, rel),
                             escapes=len(escapes), elements=int(u_arr.size))


def decode(data: bytes, u: object, step: object, prior: Prior) -> np.ndarray:
    """Indices (int64, the dither's shape) from the bitstream of :func:`encode`.

    Raises ``ValueError`` on a bitstream that cannot be one of :func:`encode`'s (corrupted so that
    the coder rejects it or an index leaves the representable range); other corruptions decode to
    some indices, as with any entropy coder.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidTypeError(f"data must be bytes, got {type(data).__name__}")
    u_arr, m = _prepare(u, step, prior)
    return (_decode_relative(bytes(data), prior, m) + m.center).reshape(u_arr.shape)


def _decode_relative(data: bytes, prior: Prior, m: _SymbolModel) -> np.ndarray:
    """Indices relative to the model's centres, under a model already prepared."""
    decoder = constriction.stream.queue.RangeDecoder(pad_words(data))  # the encoder may have trimmed it
    try:
        return _decode_symbols(decoder, prior, m)
    except AssertionError as err:  # constriction's report of data no model could have produced
        raise ValueError(f"corrupted bitstream: {err}") from err


def _decode_symbols(decoder: object, prior: Prior, m: _SymbolModel) -> np.ndarray:
    rel = np.zeros(m.center.size, dtype=np.int64)
    escaped: list[tuple[int, int]] = []
    for radius, idx in _buckets(m):
        sym = _code_bucket(decoder, prior, m, idx, radius, None)
        rel[idx] = sym
        escaped.extend((int(i), radius) for i in idx[np.abs(sym) > radius])
    for i, radius in escaped:
        magnitude = radius + 1 + _decode_excess(decoder)
        value = int(m.center[i]) + int(np.sign(rel[i])) * magnitude
        if abs(value) >= MAX_INDEX:
            raise ValueError("corrupted bitstream: decoded index out of range")
        rel[i] = value - int(m.center[i])
    return rel


def dithered_rate_bits(prior: object, step: float, points: int = 2**14 + 1) -> float:
    """Zamir-Feder rate H[K | U] = I(X; X + N) = h(X + N) - log2(step) in bits, N ~ Uniform(-step/2,
    step/2), for a scalar prior given as a frozen scipy.stats law.

    The density of X + N is ``(F(y + step/2) - F(y - step/2)) / step``; its entropy is integrated by
    Simpson's rule on ``points`` nodes spanning the prior's 1e-12 quantiles widened by step/2
    (agrees with adaptive quadrature to about 1e-10 bits for Gaussian, logistic and Student-t priors
    with steps from 1e-3 to 350 prior scales).
    """
    step = float(check_step(step))
    y = np.linspace(prior.ppf(1e-12) - step / 2, prior.isf(1e-12) + step / 2, points)
    g = (prior.cdf(y + step / 2) - prior.cdf(y - step / 2)) / step
    with np.errstate(divide="ignore", invalid="ignore"):
        integrand = np.where(g > 0, -g * np.log2(g), 0.0)
    return float(integrate.simpson(integrand, x=y)) - math.log2(step)
