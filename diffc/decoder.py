"""The DiffC decoder: rebuild Z_t from a file, or from any prefix of one that ends at a step boundary.

:func:`decode_states` checks the file's model fingerprint, rebuilds the encoding schedule from the
step-time codes the header writes (:func:`file_schedule`: exact, no search), then replays the
encoder's priors (:func:`diffc.diffusion.reverse.step_prior`) and the channel's decoder step by
step (Theis et al. 2022, "Lossy compression with Gaussian diffusion"); the reverse model is the one
the header names (:func:`diffc.encoder.reverse_model`). From ``Z_t`` the samplers of
:mod:`diffc.diffusion.samplers` reconstruct X; :func:`decode` does both.

Limits, checked before anything is allocated: a file's shape must be the model's (its channel
count, or its whole shape for a model of fixed shape such as the Gaussian oracle) and hold at most
``max_values`` values. A file cut short at a step boundary decodes to its last step and says so
(:attr:`DecompressOutput.truncated`).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from diffc.container import (
    Container,
    ContainerError,
    Header,
    check_model,
    code_range,
    grid_time,
    read_container,
)
from diffc.diffusion.checks import checked_int
from diffc.diffusion.denoisers import Denoiser
from diffc.diffusion.reverse import ReverseModel, step_prior
from diffc.diffusion.samplers import reconstruct
from diffc.diffusion.schedules import EncodingSchedule, VPSchedule
from diffc.encoder import Channel, reverse_model

__all__ = ["DEFAULT_MAX_VALUES", "DecodedState", "DecompressOutput", "decode", "decode_state",
           "decode_states", "file_schedule"]

DEFAULT_MAX_VALUES = 2**26
"""Values per file a decoder accepts unless told otherwise (a 4096 x 4096 RGB image is 2^25.6)."""


@dataclass(frozen=True, eq=False)
class DecodedState:
    """``Z_t`` in the model's coding coordinates, with the model and file it came from."""

    z: np.ndarray
    t: float
    model: ReverseModel
    container: Container


@dataclass(frozen=True, eq=False)
class DecompressOutput:
    """A reconstruction, the time ``t`` of the state it came from, and what the file cost.

    ``image``: a ``uint8`` image from :class:`diffc.codec.DiffCCodec`, X in data coordinates from
    :func:`decode`. ``file_bits`` counts every byte of the decoded prefix; ``size`` is the grid the
    rate is counted per point of (:attr:`bpp`), as in :class:`diffc.encoder.CompressOutput`.
    """

    image: np.ndarray
    t: float
    n_steps: int
    stop_step: int
    file_bits: int
    size: tuple[int, ...]
    seconds: float

    @property
    def bpp(self) -> float:
        return self.file_bits / math.prod(self.size)

    @property
    def truncated(self) -> bool:
        """Whether the file was a progressive prefix (fewer steps than the encoder wrote)."""
        return self.n_steps < self.stop_step


def _default_channel(container: Container) -> Channel:
    from rcc.gaussian import GaussianChannel

    try:
        return GaussianChannel(container.header.channel)
    except ValueError as err:  # the settings in range one by one, not together
        raise ContainerError(f"the file's coder is not a channel this version builds: {err}") from err


def file_schedule(header: Header, vp: VPSchedule) -> EncodingSchedule:
    """The encoding schedule a header writes, on the model's ``vp``: its integer time codes turned
    into times exactly (:func:`diffc.container.grid_time`), after checking that they are times of
    ``vp``. A :class:`ContainerError` names what does not fit."""
    grid = "index" if vp.discrete else "dyadic"
    if header.time_grid != grid:
        raise ContainerError(f"the file's step times are on the {header.time_grid} grid, this model's "
                             f"schedule needs the {grid} grid (a file of another model)")
    low, high = code_range(vp.t_min, vp.t_max, grid)
    codes = header.time_codes(high)
    if not low <= codes[-1] <= codes[0] <= high:
        raise ContainerError(f"the file's step times (codes {codes[0]} down to {codes[-1]}) lie outside this "
                             f"model's schedule (codes {low} to {high} on the {grid} grid)")
    try:
        return EncodingSchedule(vp, tuple(grid_time(q, grid) for q in codes))
    except ValueError as err:
        raise ContainerError(f"the file's step times are not a schedule of this model: {err}") from None


def _reverse_model(denoiser: Denoiser, header: Header) -> ReverseModel:
    try:
        return reverse_model(denoiser, header)
    except ValueError as err:  # e.g. the exact variance for a model that has no posterior variance
        raise ContainerError(f"the file's reverse process is not one this model has: {err}") from None


def _check_shape(shape: tuple[int, ...], denoiser: Denoiser, channels: int | None, max_values: int) -> None:
    fixed = getattr(denoiser, "shape", None)
    if fixed is not None and tuple(fixed) != shape:
        raise ContainerError(f"the file's shape {shape} is not the model's {tuple(fixed)}")
    if channels is not None and shape[0] != channels:
        raise ContainerError(f"the file holds {shape[0]}-channel data (shape {shape}), the model codes "
                             f"{channels} channels")
    if math.prod(shape) > max_values:
        raise ContainerError(f"the file's shape {shape} has more than max_values={max_values} values")


def decode_state(data: bytes, denoiser: Denoiser, *, channel: Channel | None = None,
                 channels: int | None = None, max_values: int = DEFAULT_MAX_VALUES) -> DecodedState:
    """Rebuild ``Z_t`` (t: the last step present) from a file or a progressive prefix of one.

    ``channels``: the model's channel count, which the file's first axis must match; ``max_values``:
    the most values a file may hold (see the module docstring).
    """
    states = decode_states(data, denoiser, channel=channel, channels=channels, max_values=max_values)
    return deque(states, maxlen=1).pop()  # the last state, without keeping the others


def decode_states(data: bytes, denoiser: Denoiser, *, channel: Channel | None = None,
                  channels: int | None = None,
                  max_values: int = DEFAULT_MAX_VALUES) -> Iterator[DecodedState]:
    """The state after each step of the file in turn (what every prefix decodes to, in one pass);
    arguments as for :func:`decode_state`. The file is checked before the first state."""
    max_values = checked_int(max_values, "max_values", 1, 2**62)
    container = read_container(data)
    h = container.header
    check_model(h, denoiser.fingerprint())
    _check_shape(h.shape, denoiser, channels, max_values)
    schedule = file_schedule(h, denoiser.schedule)
    channel = _default_channel(container) if channel is None else channel
    if channel.spec != h.channel:
        raise ValueError(f"channel parameters differ from the file's {h.channel}")
    model = _reverse_model(denoiser, h)
    z = None
    for k, message in enumerate(container.messages):
        p = step_prior(model, schedule.times, k, z)
        mu, std = p.flat(h.shape)
        try:
            z = channel.decode(message, mu, std, seed=h.seed, stream=(k,)).reshape(h.shape)
        except ValueError as err:  # a message that passed its check but does not parse
            raise ContainerError(f"step {k} does not decode: {err}") from err
        yield DecodedState(z, schedule.times[k], model, container)


def decode(data: bytes, denoiser: Denoiser, *, method: str = "ancestral",
           steps: int = 50, eta: float | None = None, noise_seed: int | None = None,
           channel: Channel | None = None, channels: int | None = None,
           max_values: int = DEFAULT_MAX_VALUES) -> DecompressOutput:
    """Decode a file (or a progressive prefix): ``Z_t`` from the file, then
    :func:`diffc.diffusion.samplers.reconstruct` by ``method`` with at most ``steps`` times.

    The ancestral noise uses the file's seed unless ``noise_seed`` is given; ``channels`` and
    ``max_values`` as for :func:`decode_state`.
    """
    started = time.perf_counter()
    state = decode_state(data, denoiser, channel=channel, channels=channels, max_values=max_values)
    h = state.container.header
    x = reconstruct(state.model, state.z, state.t, method=method, steps=steps, eta=eta,
                    seed=h.seed if noise_seed is None else noise_seed)
    return DecompressOutput(x, state.t, state.container.n_steps, h.stop_step, 8 * len(data), h.shape,
                            time.perf_counter() - started)
