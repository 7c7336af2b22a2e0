"""DiffC as an image codec: ``compress`` an 8-bit image to a file, ``decompress`` a file to an image.

CompressAI's codec contract (``compress`` returns the bitstream, ``decompress`` takes only the
bitstream and the model) on top of the DiffC core (Theis et al. 2022): the image is mapped to the
model's space by its :class:`~diffc.models.unet.PixelModel`, sent step by step by
:func:`diffc.encoder.encode`, and rebuilt by :func:`diffc.decoders.decode_state` and
:func:`diffc.decoders.reconstruct`. Outputs are small dataclasses, as in diffusers.

The encoding schedule
---------------------
The file names its schedule by digest only, so the decoder must be able to build it from what it
knows: the model's VP table, the image shape (in the header) and the number of steps, which
:func:`find_schedule` recovers by trying step counts until the digest matches (the default first,
so this costs one try for files written with the defaults). :func:`image_schedule` sends the
noisiest ``Z`` of the table first (almost free), then spaces the remaining steps so that each
costs the same expected number of bits under a 1/f^2 Gaussian model of photographs
(:func:`diffc.denoisers.power_law_spectrum`, per-pixel variance 0.25 in [-1, 1]), up to log-SNR
``LAST_LOG_SNR``. With the posterior variance on both sides a step from SNR ``g`` to ``g'`` costs
``(g' - g) mmse(g) / (2 ln 2)`` bits per value (:mod:`diffc.gaussian_theory`), so the SNRs follow
``g' = g + c / mmse(g)`` with ``c`` set by bisection to land on the last SNR: small steps while
the estimate is poor, larger ones later. Equal steps keep every step's largest per-value KL small
(a value heavier than a chunk is sent alone, its position costing ``log2`` of the pixel count),
and they come within about 1.1x of ``I(X; Z_t)`` at 16 steps on that model, where equal-information
spacing pays about 3x in its first step. The model is only a spacing rule: the learned model decides
the real cost of every step. Rate control stops the progressive file early (``bpp``, ``psnr``,
``stop_t``); decoding any prefix works.

Decoding methods: ``"ode"`` is DiffC-F (probability-flow ODE, DDIM's first-order solver, or Heun
with ``solver="heun"``), ``"sde"`` is DiffC-A (ancestral sampling with the decoder's seeded
noise), ``"mmse"`` the denoiser's posterior-mean estimate, ``"eta"`` the DDIM family between ODE
and SDE. The decoded image is rounded to 8 bits by :func:`diffc.models.unet.unit_to_pixels`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from diffc.container import ContainerError, read_container
from diffc.decoder import DecodedState, decode_states
from diffc.diffusion.samplers import MAX_SOLVER_STEPS, reconstruct
from diffc.diffusion.schedules import DiscreteVP, EncodingSchedule
from diffc.diffusion.spacing import MAX_IMAGE_STEPS, image_schedule
from diffc.encoder import StepStats, encode
from diffc.models.unet import PixelModel
from diffc.tools.images import as_image
from rcc.gaussian_channel import GaussianChannel

__all__ = ["DEFAULT_STEPS", "METHODS", "CompressOutput", "DecompressOutput", "DiffCCodec", "find_schedule"]

DEFAULT_STEPS = 16
DEFAULT_SOLVER_STEPS = 20
MAX_PIXELS = 4096 * 4096
METHODS = {"ode": "ddim", "sde": "ancestral", "mmse": "mmse", "eta": "eta"}


def find_schedule(vp: DiscreteVP, shape: tuple[int, ...], matches: Callable[[EncodingSchedule], bool],
                  preferred: int = DEFAULT_STEPS) -> EncodingSchedule:
    """The :func:`image_schedule` whose digest the file names (``matches``), trying ``preferred`` first."""
    for steps in (preferred, *(n for n in range(1, MAX_IMAGE_STEPS + 1) if n != preferred)):
        try:
            schedule = image_schedule(vp, shape, steps)
        except ValueError:
            continue  # too many steps for this table
        if matches(schedule):
            return schedule
    raise ContainerError("the file's encoding schedule is not one this codec builds for this model and "
                         "image size (another model, or a file from another tool)")


@dataclass(frozen=True)
class CompressOutput:
    """A compressed image: the file's bytes and what they cost (bits counted on ``data``)."""

    data: bytes
    size: tuple[int, int]
    steps: tuple[StepStats, ...]
    seconds: float

    @property
    def bpp(self) -> float:
        return 8 * len(self.data) / (self.size[0] * self.size[1])

    @property
    def ideal_bpp(self) -> float:
        """Sum of the sent steps' KLs (the rate of ideal channel simulation) per pixel."""
        return sum(s.kl_bits for s in self.steps) / (self.size[0] * self.size[1])


@dataclass(frozen=True)
class DecompressOutput:
    """A decoded image and where it came from."""

    image: np.ndarray
    bpp: float
    n_steps: int
    stop_step: int
    t: float
    seconds: float

    @property
    def truncated(self) -> bool:
        """The file is a progressive prefix: fewer steps than the encoder announced."""
        return self.n_steps < self.stop_step


def _decoder(method: str, solver: str, solver_steps: int) -> tuple[str, int]:
    """The :func:`diffc.decoders.reconstruct` method name and the model evaluations it makes."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    if solver not in ("ddim", "heun"):
        raise ValueError(f"solver must be 'ddim' or 'heun', got {solver!r}")
    if isinstance(solver_steps, bool) or not isinstance(solver_steps, int) \
            or not 1 <= solver_steps <= MAX_SOLVER_STEPS:
        raise ValueError(f"solver_steps must be an integer in [1, {MAX_SOLVER_STEPS}]")
    evals = 1 if method == "mmse" else solver_steps * (2 if solver == "heun" else 1)
    return ("heun" if (method == "ode" and solver == "heun") else METHODS[method]), evals


class _Counted:
    """Calls ``fn`` and ticks ``tick`` once per model evaluation (progress bars)."""

    def __init__(self, fn: Callable[[np.ndarray, float], np.ndarray], tick: Callable[[], None]) -> None:
        self.fn, self.tick = fn, tick

    def __call__(self, z: np.ndarray, timestep: float) -> np.ndarray:
        out = self.fn(z, timestep)
        self.tick()
        return out


def _bar(total: int, desc: str, disable: bool) -> object:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="eval", disable=disable, leave=False)


class DiffCCodec:
    """Compress and decompress images with one diffusion model (see the module docstring).

    ``channel``: the Gaussian channel simulator (its parameters go into every file); ``steps``: the
    number of encoding steps of the schedule; ``variance``: the reverse variance ("posterior", the
    only one a network model has); ``progress``: tqdm bars over model evaluations.
    """

    def __init__(self, model: PixelModel, channel: GaussianChannel | None = None, *,
                 steps: int = DEFAULT_STEPS, max_pixels: int = MAX_PIXELS, progress: bool = True) -> None:
        self.model = model
        self.channel = GaussianChannel() if channel is None else channel
        self.steps = steps
        self.max_pixels = max_pixels
        self.progress = progress

    @property
    def vp(self) -> DiscreteVP:
        return self.model.denoiser.schedule

    def schedule(self, shape: tuple[int, ...]) -> EncodingSchedule:
        return image_schedule(self.vp, tuple(shape), self.steps)

    def _denoiser(self, bar: object) -> object:
        return dataclasses.replace(self.model.denoiser, fn=_Counted(self.model.denoiser.fn, bar.update))

    def compress(self, image: np.ndarray, *, seed: int = 0, bpp: float | None = None,
                 stop_t: float | None = None, psnr: float | None = None) -> CompressOutput:
        """Encode ``image`` (``uint8``, ``(H, W[, C])``); stop at ``bpp`` bits per pixel (the whole
        file), at the first step whose MMSE estimate reaches ``psnr`` dB (measured by the encoder in
        the model's range), or after the last step at time ``>= stop_t``; else send every step."""
        image = as_image(image)
        size = image.shape[:2]
        self._check_size(size)
        if sum(v is not None for v in (bpp, stop_t, psnr)) > 1:
            raise ValueError("give at most one of bpp, stop_t, psnr")
        for name, value in (("bpp", bpp), ("stop_t", stop_t), ("psnr", psnr)):
            if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        x = self.model.to_model(image)
        schedule = self.schedule(x.shape)
        stop_step = None
        if stop_t is not None:
            stop_step = sum(t >= stop_t for t in schedule.times)
            if stop_step == 0:
                raise ValueError(f"stop_t={stop_t} is above the noisiest time {schedule.times[0]:g}")
        started = time.perf_counter()
        with _bar(stop_step or len(schedule), "encode", not self.progress) as bar:
            encoded = encode(x, self._denoiser(bar), schedule, self.channel, seed=seed,
                             value_range=self.model.value_range, clip=self.model.clip, stop_step=stop_step,
                             max_bits=None if bpp is None else bpp * size[0] * size[1], target_psnr=psnr)
        return CompressOutput(encoded.data, size, encoded.steps, time.perf_counter() - started)

    def _check_size(self, size: tuple[int, ...]) -> None:
        if math.prod(size) > self.max_pixels:
            raise ValueError(f"{size[0]}x{size[1]} pixels is more than the limit of {self.max_pixels}")

    def _schedule_of(self, data: bytes) -> EncodingSchedule:
        header = read_container(data).header
        shape = tuple(header.shape)
        if len(shape) != 3 or shape[0] != self.model.channels:
            raise ContainerError(f"the file holds an array of shape {shape}, not a {self.model.channels}-"
                                 f"channel image of this model")
        self._check_size(shape[1:])
        theirs, ours = bytes(header.model_fingerprint), self.model.fingerprint()
        if ours[:len(theirs)] != theirs:
            raise ContainerError(f"wrong model: the file was encoded with model {theirs.hex()[:16]}, "
                                 f"this model ({self.model.source}) is {ours.hex()[:16]}")
        digest = bytes(header.schedule_digest)
        return find_schedule(self.vp, shape, lambda s: s.digest()[:len(digest)] == digest, self.steps)

    def decode_state(self, data: bytes) -> DecodedState:
        """``Z_t`` of a file (or a progressive prefix of one): the part every decoding method shares."""
        return deque(self.decode_states(data), maxlen=1).pop()  # the last state only

    def decode_states(self, data: bytes) -> Iterator[DecodedState]:
        """The state after each step of the file, in one pass (what each of its prefixes decodes to)."""
        schedule = self._schedule_of(data)
        with _bar(read_container(data).n_steps, "read", not self.progress) as bar:
            yield from decode_states(data, self._denoiser(bar), schedule, channels=self.model.channels,
                                     max_values=self.model.channels * self.max_pixels)

    def reconstruct(self, state: DecodedState, *, method: str = "ode", eta: float | None = None,
                    solver_steps: int = DEFAULT_SOLVER_STEPS, solver: str = "ddim",
                    seed: int | None = None) -> np.ndarray:
        """The ``uint8`` image that ``method`` makes from a decoded state (see :meth:`decompress`)."""
        name, evals = _decoder(method, solver, solver_steps)
        with _bar(evals, method, not self.progress) as bar:
            model = dataclasses.replace(state.model, denoiser=self._denoiser(bar))
            x = reconstruct(model, state.z, state.t, method=name, steps=solver_steps, eta=eta,
                            seed=state.container.header.seed if seed is None else seed)
        return self.model.from_model(x)

    def decompress(self, data: bytes, *, method: str = "ode", eta: float | None = None,
                   solver_steps: int = DEFAULT_SOLVER_STEPS, solver: str = "ddim",
                   seed: int | None = None) -> DecompressOutput:
        """Decode a file (or a progressive prefix of one) into a ``uint8`` image.

        ``seed`` seeds DiffC-A's noise (default: the file's seed); ``solver_steps`` bounds the
        decoder's model evaluations (about twice that for Heun).
        """
        _decoder(method, solver, solver_steps)
        started = time.perf_counter()
        state = self.decode_state(data)
        image = self.reconstruct(state, method=method, eta=eta, solver_steps=solver_steps, solver=solver,
                                 seed=seed)
        h = state.container.header
        return DecompressOutput(image, 8 * len(data) / math.prod(h.shape[1:]), state.container.n_steps,
                                h.stop_step, state.t, time.perf_counter() - started)
