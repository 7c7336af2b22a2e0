"""DiffC decoders: rebuild Z_t from any prefix of a file, then reconstruct X by one of four methods.

:func:`decode_state` replays the encoder's priors (:func:`diffc.encoder.step_prior`) and the
channel's decoder, step by step, after checking the file's model fingerprint and schedule digest.
From ``Z_t`` (Theis et al. 2022, "Lossy compression with Gaussian diffusion"):

* ``"ancestral"`` -- DiffC-A: ancestral sampling of the reverse process (Ho et al. 2020) with the
  decoder's own seeded noise (stream ``(DIFFC_NOISE, j)`` for decoding step j, row 0, coordinates
  in C order). With the exact reverse conditionals of a Gaussian model it samples ``X | Z_t``
  exactly for any step count; with DDPM's posterior variance it is exact only as steps -> infinity.
* ``"ddim"`` -- DiffC-F with DDIM at eta = 0 (Song et al. 2021, "Denoising diffusion implicit
  models"): the first-order exponential-integrator solution of the probability-flow ODE.
* ``"heun"`` -- DiffC-F with Heun's second-order method on the same ODE written as
  ``d(z / alpha) / d(sigma / alpha) = eps_hat`` (Song et al. 2021, eq. 14; Karras et al. 2022).
  Both solvers converge to the exact ODE map as the step count grows; neither is exact.
* ``"eta"`` -- the DDIM family between them: ``eta = 0`` is ``"ddim"``, ``eta = 1`` is
  ``"ancestral"``; the noise variance is ``eta^2`` times the ancestral one.
* ``"mmse"`` -- the denoiser's ``x_hat_0(Z_t)`` (exact posterior mean for the Gaussian oracle).

Decoding grids run from t down to the schedule's least noisy time, uniformly in log-SNR (rounded to
table indices for a discrete schedule), then jump to the data endpoint with the last ``x_hat_0``
(plus, for ancestral sampling with exact variances, a sample of ``Var(X | Z)``).

Limits, checked before anything is allocated: a file's shape must be the model's (its channel
count, or its whole shape for a model of fixed shape such as the Gaussian oracle) and hold at most
``max_values`` values; the decoding grid has at most :data:`MAX_SOLVER_STEPS` steps. A file cut
short at a step boundary decodes to its last step and says so (:attr:`Decoded.truncated`).
"""

from __future__ import annotations

import math
import numbers
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

import kernels
from diffc.container import MAX_SEED, Container, ContainerError, check_compatible, checked_int, read_container
from diffc.diffusion.denoisers import Denoiser
from diffc.diffusion.reverse import ReverseModel, step_prior
from diffc.diffusion.schedules import EncodingSchedule, alpha_sigma
from diffc.encoder import Channel, reverse_model
from rcc.randomness import Domain, key_for

__all__ = ["DEFAULT_MAX_VALUES", "MAX_SOLVER_STEPS", "METHODS", "Decoded", "DecodedState", "decode",
           "decode_state", "decode_states", "reconstruct"]

METHODS = ("ancestral", "ddim", "heun", "eta", "mmse")
DEFAULT_MAX_VALUES = 2**26
"""Values per file a decoder accepts unless told otherwise (a 4096 x 4096 RGB image is 2^25.6)."""
MAX_SOLVER_STEPS = 10_000


@dataclass(frozen=True, eq=False)
class DecodedState:
    """``Z_t`` in the model's coding coordinates, with the model and file it came from."""

    z: np.ndarray
    t: float
    model: ReverseModel
    container: Container


@dataclass(frozen=True, eq=False)
class Decoded:
    """A reconstruction and what it cost: ``file_bits`` counts every byte of the decoded prefix."""

    x: np.ndarray
    t: float
    n_steps: int
    file_bits: int
    stop_step: int

    @property
    def truncated(self) -> bool:
        """Whether the file was a progressive prefix (fewer steps than the encoder wrote)."""
        return self.n_steps < self.stop_step


def _default_channel(container: Container) -> Channel:
    from rcc.gaussian_channel import GaussianChannel

    try:
        return GaussianChannel(**container.header.channel_params)
    except ValueError as err:  # coder fields in range one by one, not together
        raise ContainerError(f"the file's coder is not a channel this version builds: {err}") from err


def _check_shape(shape: tuple[int, ...], denoiser: Denoiser, channels: int | None, max_values: int) -> None:
    fixed = getattr(denoiser, "shape", None)
    if fixed is not None and tuple(fixed) != shape:
        raise ContainerError(f"the file's shape {shape} is not the model's {tuple(fixed)}")
    if channels is not None and shape[0] != channels:
        raise ContainerError(f"the file holds {shape[0]}-channel data (shape {shape}), the model codes "
                             f"{channels} channels")
    if math.prod(shape) > max_values:
        raise ContainerError(f"the file's shape {shape} has more than max_values={max_values} values")


def decode_state(data: bytes, denoiser: Denoiser, schedule: EncodingSchedule, *,
                 channel: Channel | None = None, channels: int | None = None,
                 max_values: int = DEFAULT_MAX_VALUES) -> DecodedState:
    """Rebuild ``Z_t`` (t: the last step present) from a file or a progressive prefix of one.

    ``channels``: the model's channel count, which the file's first axis must match; ``max_values``:
    the most values a file may hold (see the module docstring).
    """
    states = decode_states(data, denoiser, schedule, channel=channel, channels=channels,
                           max_values=max_values)
    return deque(states, maxlen=1).pop()  # the last state, without keeping the others


def decode_states(data: bytes, denoiser: Denoiser, schedule: EncodingSchedule, *,
                  channel: Channel | None = None, channels: int | None = None,
                  max_values: int = DEFAULT_MAX_VALUES) -> Iterator[DecodedState]:
    """The state after each step of the file in turn (what every prefix decodes to, in one pass);
    arguments as for :func:`decode_state`. The file is checked before the first state."""
    max_values = checked_int(max_values, "max_values", 1, 2**62)
    container = read_container(data)
    h = container.header
    check_compatible(h, denoiser.fingerprint(), schedule.digest())
    _check_shape(h.shape, denoiser, channels, max_values)
    if container.n_steps > len(schedule):
        raise ContainerError(f"the file holds {container.n_steps} steps, the schedule only {len(schedule)}")
    channel = _default_channel(container) if channel is None else channel
    if {k: getattr(channel, k) for k in h.channel_params} != h.channel_params:
        raise ValueError(f"channel parameters differ from the file's {h.channel_params}")
    model = reverse_model(denoiser, h)
    z = None
    for k, message in enumerate(container.messages):
        p = step_prior(model, schedule.times, k, z)
        mu, std = p.flat(h.shape)
        try:
            z = channel.decode(message, mu, std, seed=h.seed, stream=(k,)).reshape(h.shape)
        except ValueError as err:  # a message that passed its check but does not parse
            raise ContainerError(f"step {k} does not decode: {err}") from err
        yield DecodedState(z, schedule.times[k], model, container)


def _grid(model: ReverseModel, t: float, steps: int) -> list[float]:
    """Times from t down to the least noisy time, uniform in log-SNR, at most ``steps`` of them."""
    vp = model.schedule
    lams = np.linspace(vp.log_snr(t), vp.log_snr(vp.t_min), steps) if steps > 1 else [vp.log_snr(t)]
    times = [float(t)] + [vp.t_from_log_snr(lam) for lam in lams[1:]]
    return [a for i, a in enumerate(times) if i == 0 or a < times[i - 1]]


def _noise(seed: int, j: int, like: np.ndarray) -> np.ndarray:
    return kernels.normal(key_for(seed, Domain.DIFFC_NOISE, j), 0, 1, like.size)[0].reshape(like.shape)


def _eta_sample(model: ReverseModel, z: np.ndarray, grid: list[float], eta: float, seed: int) -> np.ndarray:
    """Generalized DDIM (Song et al. 2021, eq. 12) along ``grid``, then the jump to data."""
    for j, (u, s) in enumerate(zip(grid[:-1], grid[1:], strict=True)):
        eps, x0 = model.predict(z, u)
        alpha_s, sigma_s = alpha_sigma(model.schedule, s)
        _, _, r = model.coefficients(u, s)
        z = alpha_s * x0 + math.sqrt(sigma_s**2 * (1.0 - eta**2 * r)) * eps
        if eta > 0:
            z = z + eta * model.ancestral_std(u, s) * _noise(seed, j, z)
    _, x0 = model.predict(z, grid[-1])
    if eta > 0 and model.variance == "exact":
        x0 = x0 + eta * np.sqrt(model.denoiser.x0_variance(grid[-1])) * _noise(seed, len(grid) - 1, x0)
    return x0


def _heun(model: ReverseModel, z: np.ndarray, grid: list[float]) -> np.ndarray:
    """Heun's method on ``dy / d(nsr) = eps_hat`` with ``y = z / alpha``, ``nsr = sigma / alpha``."""
    def nsr(t: float) -> tuple[float, float]:
        alpha, sigma = alpha_sigma(model.schedule, t)
        return alpha, sigma / alpha

    for u, s in zip(grid[:-1], grid[1:], strict=True):
        (alpha_u, nsr_u), (alpha_s, nsr_s) = nsr(u), nsr(s)
        eps_u, _ = model.predict(z, u)
        y = z / alpha_u
        y_euler = y + (nsr_s - nsr_u) * eps_u
        eps_s, _ = model.predict(alpha_s * y_euler, s)
        z = alpha_s * (y + (nsr_s - nsr_u) * 0.5 * (eps_u + eps_s))
    return model.predict(z, grid[-1])[1]


def reconstruct(model: ReverseModel, z: np.ndarray, t: float, *, method: str = "ancestral", steps: int = 50,
                eta: float | None = None, seed: int = 0) -> np.ndarray:
    """Reconstruction in data coordinates from ``z`` (coding coordinates, leading batch axes allowed).

    ``steps`` (1 .. :data:`MAX_SOLVER_STEPS`) bounds the decoding grid (denoiser calls: ``steps`` for
    the DDIM family, about twice that for Heun); ``eta`` is required by, and only accepted for,
    ``method="eta"``.
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    steps = checked_int(steps, "steps", 1, MAX_SOLVER_STEPS)
    seed = checked_int(seed, "seed", 0, MAX_SEED)
    valid_eta = eta is None or (isinstance(eta, numbers.Real) and not isinstance(eta, bool) and 0 <= eta <= 1)
    if (eta is not None) != (method == "eta") or not valid_eta:
        raise ValueError('give eta in [0, 1] exactly when method="eta"')
    if method == "mmse":
        return model.from_coords(model.predict(z, t)[1])
    grid = _grid(model, t, steps)
    if method == "heun":
        return model.from_coords(_heun(model, z, grid))
    eta = {"ancestral": 1.0, "ddim": 0.0}.get(method, eta)
    return model.from_coords(_eta_sample(model, z, grid, eta, seed))


def decode(data: bytes, denoiser: Denoiser, schedule: EncodingSchedule, *, method: str = "ancestral",
           steps: int = 50, eta: float | None = None, noise_seed: int | None = None,
           channel: Channel | None = None, channels: int | None = None,
           max_values: int = DEFAULT_MAX_VALUES) -> Decoded:
    """Decode a file (or a progressive prefix): ``Z_t`` from the file, then :func:`reconstruct`.

    The ancestral noise uses the file's seed unless ``noise_seed`` is given; ``channels`` and
    ``max_values`` as for :func:`decode_state`.
    """
    state = decode_state(data, denoiser, schedule, channel=channel, channels=channels, max_values=max_values)
    h = state.container.header
    x = reconstruct(state.model, state.z, state.t, method=method, steps=steps, eta=eta,
                    seed=h.seed if noise_seed is None else noise_seed)
    return Decoded(x, state.t, state.container.n_steps, 8 * len(data), h.stop_step)
