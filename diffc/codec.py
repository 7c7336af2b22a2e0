"""DiffC as an image codec: ``compress`` an 8-bit image to a file, ``decompress`` a file to an image.

CompressAI's codec contract (``compress`` returns the bitstream, ``decompress`` takes only the
bitstream and the model) on top of the DiffC core (Theis et al. 2022): the image is mapped to the
model's space by an :class:`~diffc.models.base.ImageModel`, sent step by step by
:func:`diffc.encoder.encode`, rebuilt by :func:`diffc.decoder.decode_states` and reconstructed by
the samplers of :mod:`diffc.diffusion.samplers`. Outputs are diffusers-style dataclasses
(:class:`~diffc.encoder.CompressOutput`, :class:`~diffc.decoder.DecompressOutput`), bits counted
on the real file over the image's pixels.

The encoding schedule is :func:`diffc.diffusion.spacing.image_schedule` for the model's table, the
coded shape and the step count, at the times a file can name (:func:`diffc.encoder.quantized`). The
file writes those times as integer codes, with the model's family, conditioning and fingerprint and
the original image size, so the decoder checks the model first and rebuilds the schedule exactly,
with no search. Rate control stops the progressive file early (``bpp``, ``psnr``, ``stop_t``);
decoding any prefix works. Rates are the file's bits over the original image's pixels.

Decoding methods: ``"ode"`` is DiffC-F (probability-flow ODE, by default DPM-Solver++(2M) (Lu et al.
2022) at 10 steps, or DDIM's first-order solver with ``solver="ddim"``, Heun with ``solver="heun"``,
20 steps each unless told), ``"sde"`` is DiffC-A (ancestral
sampling with the decoder's seeded noise), ``"mmse"`` the denoiser's posterior-mean estimate,
``"eta"`` the DDIM family between ODE and SDE. The image model rounds the result to 8 bits.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import deque
from collections.abc import Callable, Iterator

import numpy as np

from diffc.container import ContainerError, check_identity, read_container
from diffc.decoder import DecodedState, DecompressOutput, decode_states
from diffc.diffusion.checks import checked_int, checked_real
from diffc.diffusion.denoisers import Denoiser
from diffc.diffusion.samplers import MAX_SOLVER_STEPS, SOLVERS, reconstruct
from diffc.diffusion.schedules import EncodingSchedule, VPSchedule
from diffc.diffusion.spacing import DEFAULT_STEPS, image_schedule
from diffc.encoder import CompressOutput, encode, quantized
from diffc.imaging.io import MAX_PIXELS, match_channels
from diffc.models.base import ImageModel
from rcc.gaussian import GaussianChannel

__all__ = ["DEFAULT_SOLVER", "DEFAULT_SOLVER_STEPS", "DEFAULT_STEPS", "METHODS", "SOLVER_STEPS",
           "CompressOutput", "CountingDenoiser", "DecompressOutput", "DiffCCodec", "progress_bar",
           "sampler_for"]

DEFAULT_SOLVER = "dpmpp_2m"
"""DiffC-F's ODE solver when none is named."""
DEFAULT_SOLVER_STEPS = 20
"""Decoder steps when none are given, but for the samplers of :data:`SOLVER_STEPS`."""
SOLVER_STEPS = {"dpmpp_2m": 10}
"""Samplers with other default steps: DPM-Solver++(2M) at 10 steps matches DDIM at 20 (model card)."""
METHODS = {"ode": DEFAULT_SOLVER, "sde": "ancestral", "mmse": "mmse", "eta": "eta"}
"""The :func:`~diffc.diffusion.samplers.reconstruct` sampler of each decoding method (the ODE's is
the ``solver`` argument, this its default)."""


def sampler_for(method: str, solver: str, solver_steps: int | None) -> tuple[str, int, int]:
    """The :func:`diffc.diffusion.samplers.reconstruct` method name of a decoding ``method`` (see the
    module docstring) with ``solver``, its steps (``solver_steps``, None: the sampler's default,
    :data:`SOLVER_STEPS` or :data:`DEFAULT_SOLVER_STEPS`) and the model evaluations it makes.

    Checks the three arguments (``ValueError`` naming the bad one), so callers can refuse a bad
    decoder before any work."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    ode = method == "ode"
    name = solver if ode else METHODS[method]
    steps = SOLVER_STEPS.get(name, DEFAULT_SOLVER_STEPS) if solver_steps is None else \
        checked_int(solver_steps, "solver_steps", 1, MAX_SOLVER_STEPS)
    evals = 1 if method == "mmse" else steps * (2 if name == "heun" else 1)
    return name, steps, evals


class CountingDenoiser:
    """A denoiser that calls ``tick`` after every evaluation (to advance a progress bar); all else is
    the wrapped denoiser's: its schedule and fingerprint, and a Gaussian model's posterior."""

    def __init__(self, denoiser: Denoiser, tick: Callable[[], None]) -> None:
        self.denoiser, self.tick = denoiser, tick

    def predict_eps(self, z: np.ndarray, t: float) -> np.ndarray:
        eps = self.denoiser.predict_eps(z, t)
        self.tick()
        return eps

    def __getattr__(self, name: str) -> object:
        # Only names the wrapper lacks get here; before __init__ (copying) there is nothing to forward.
        if "denoiser" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.denoiser, name)


def progress_bar(total: int, desc: str, disable: bool) -> object:
    """A tqdm bar over ``total`` model evaluations, labelled ``desc``, cleared when done; ``disable``
    turns it off."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="eval", disable=disable, leave=False)


class DiffCCodec:
    """Compress and decompress images with one diffusion model (see the module docstring).

    ``channel``: the Gaussian channel simulator (its parameters go into every file); ``steps``: the
    number of encoding steps of the schedule; ``max_pixels``: the most pixels of an image to
    compress or of a file to decode; ``progress``: tqdm bars over model evaluations. The reverse
    variance is DDPM's posterior variance, the only one a network model has.
    """

    def __init__(self, model: ImageModel, channel: GaussianChannel | None = None, *,
                 steps: int = DEFAULT_STEPS, max_pixels: int = MAX_PIXELS, progress: bool = True) -> None:
        self.model = model
        self.channel = GaussianChannel() if channel is None else channel
        self.steps = steps
        self.max_pixels = max_pixels
        self.progress = progress

    @property
    def vp(self) -> VPSchedule:
        return self.model.denoiser.schedule

    def schedule(self, shape: tuple[int, ...]) -> EncodingSchedule:
        """The encoding schedule of a coded array of ``shape``, at the times its file writes."""
        return quantized(image_schedule(self.vp, tuple(shape), self.steps))

    def _denoiser(self, bar: object) -> Denoiser:
        return CountingDenoiser(self.model.denoiser, bar.update)

    def compress(self, image: np.ndarray, *, seed: int = 0, bpp: float | None = None,
                 stop_t: float | None = None, psnr: float | None = None) -> CompressOutput:
        """Encode ``image`` (``uint8``, ``(H, W[, C])``); stop at ``bpp`` bits per pixel (the whole
        file), at the first step whose MMSE estimate reaches ``psnr`` dB, or after the last step at
        time ``>= stop_t``; else send every step.

        The PSNR is the encoder's measure of what the decoder's ``"mmse"`` method outputs from that
        prefix: the x0 estimate mapped to the 8-bit image of the original size by the model (a latent
        model decodes it with its VAE and crops the padding), against ``image``."""
        image = match_channels(image, self.model.image_channels)
        size = image.shape[:2]
        self._check_size(size)
        if sum(v is not None for v in (bpp, stop_t, psnr)) > 1:
            raise ValueError("give at most one of bpp, stop_t, psnr")
        for name, value in (("bpp", bpp), ("stop_t", stop_t), ("psnr", psnr)):
            if value is not None:
                checked_real(value, name)
        x = self.model.to_model(image)
        schedule = self.schedule(x.shape)
        stop_step = None
        if stop_t is not None:
            stop_step = sum(t >= stop_t for t in schedule.times)
            if stop_step == 0:
                raise ValueError(f"stop_t={stop_t} is above the noisiest time {schedule.times[0]:g}")
        with progress_bar(stop_step or len(schedule), "encode", not self.progress) as bar:
            return encode(x, self._denoiser(bar), schedule, self.channel, seed=seed,
                          value_range=self.model.value_range, clip=self.model.clip, stop_step=stop_step,
                          max_bits=None if bpp is None else bpp * size[0] * size[1], target_psnr=psnr,
                          family=self.model.family, conditioning=self.model.conditioning, size=size,
                          psnr_of=None if psnr is None else self._psnr_of(image))

    def _psnr_of(self, image: np.ndarray) -> Callable[[np.ndarray], float]:
        """The PSNR of a model-space x0 estimate: of its 8-bit image against ``image``."""
        from diffc.imaging.metrics import psnr

        return lambda x0: psnr(image, self.model.from_model(x0, image.shape[:2]))

    def _check_size(self, size: tuple[int, ...]) -> None:
        if math.prod(size) > self.max_pixels:
            raise ValueError(f"{size[0]}x{size[1]} pixels is more than the limit of {self.max_pixels}")

    def _check_file(self, data: bytes) -> int:
        """Check a file against this codec's model before any model evaluation; its record count."""
        container = read_container(data)
        header, model = container.header, self.model
        check_identity(header, model.family, model.conditioning.kind, model.conditioning.digest,
                       model.fingerprint(), model.source)
        try:
            self._check_size(header.size)
            coded = tuple(model.coded_shape(header.size))
        except ValueError as err:
            raise ContainerError(f"the file's image size does not fit this codec: {err}") from None
        if tuple(header.shape) != coded:
            raise ContainerError(f"the file holds an array of shape {header.shape} for a {header.size[0]}x"
                                 f"{header.size[1]} image; this model codes such an image as {coded}")
        return container.n_steps

    def decode_state(self, data: bytes) -> DecodedState:
        """``Z_t`` of a file (or a progressive prefix of one): the part every decoding method shares."""
        return deque(self.decode_states(data), maxlen=1).pop()  # the last state only

    def decode_states(self, data: bytes) -> Iterator[DecodedState]:
        """The state after each step of the file, in one pass (what each of its prefixes decodes to)."""
        with progress_bar(self._check_file(data), "read", not self.progress) as bar:
            yield from decode_states(data, self._denoiser(bar), channels=self.model.channels,
                                     max_values=self.model.channels * self.max_pixels)

    def reconstruct(self, state: DecodedState, *, method: str = "ode", eta: float | None = None,
                    solver_steps: int | None = None, solver: str = DEFAULT_SOLVER,
                    seed: int | None = None) -> np.ndarray:
        """The ``uint8`` image that ``method`` makes from a decoded state (see :meth:`decompress`)."""
        name, steps, evals = sampler_for(method, solver, solver_steps)
        with progress_bar(evals, method, not self.progress) as bar:
            model = dataclasses.replace(state.model, denoiser=self._denoiser(bar))
            x = reconstruct(model, state.z, state.t, method=name, steps=steps, eta=eta,
                            seed=state.container.header.seed if seed is None else seed)
        return self.model.from_model(x, state.container.header.size)

    def decompress(self, data: bytes, *, method: str = "ode", eta: float | None = None,
                   solver_steps: int | None = None, solver: str = DEFAULT_SOLVER,
                   seed: int | None = None) -> DecompressOutput:
        """Decode a file (or a progressive prefix of one) into a ``uint8`` image.

        ``seed`` seeds DiffC-A's noise (default: the file's seed); ``solver_steps`` bounds the
        decoder's model evaluations (about twice that for Heun; None: the sampler's default,
        :func:`sampler_for`).
        """
        sampler_for(method, solver, solver_steps)
        started = time.perf_counter()
        state = self.decode_state(data)
        image = self.reconstruct(state, method=method, eta=eta, solver_steps=solver_steps, solver=solver,
                                 seed=seed)
        h = state.container.header
        return DecompressOutput(image, state.t, state.container.n_steps, h.stop_step, 8 * len(data), h.size,
                                time.perf_counter() - started)
