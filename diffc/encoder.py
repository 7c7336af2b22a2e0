"""DiffC progressive encoder: send Z_T, then Z at every step of the schedule, by channel simulation.

Theis et al. (2022), "Lossy compression with Gaussian diffusion": the encoder communicates a sample
of the noisy diffusion state ``Z_t = alpha_t X + sigma_t U`` rather than a quantized X. Step 0 sends
``Z_{t_0} ~ q(z | x) = N(alpha x, sigma^2 I)`` against the model's marginal of ``Z_{t_0}``; step
k >= 1 sends ``Z_{t_k} ~ q(z_{t_k} | z_{t_{k-1}}, x)`` against the model's ``p(z_{t_k} |
z_{t_{k-1}})`` (:mod:`diffc.diffusion.reverse`), each with the Gaussian channel simulator in the model's
coding coordinates and stream ``(k,)`` of the shared seed. The encoder continues from the sample
the *decoder* rebuilds from the message, so both sides always hold the same state.

The caller stops after a given step, within a bit budget (counted on the real file), or at the
first step whose MMSE reconstruction reaches a target PSNR (the decoder's MMSE output, computed by
the encoder from the same state). Per-step statistics (:class:`StepStats`): the step's line of the
bit ledger (:mod:`diffc.ledger`: framing, side information and index bits of its record, chunk
count and budget, the KL -- the ideal cost -- and the realized log-ratio ``log2 q(z)/p(z)`` at the
sample sent), taken from the channel's own statistics; :attr:`CompressOutput.ledger` adds the header.

Exactness is that of the channel: with an exact channel simulator ``Z_t`` would follow
``q(z_t | x)`` exactly; the chunked Gaussian channel is approximate (see its docstring).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from diffc.container import (
    Header,
    code_range,
    conditioning_record,
    encode_header,
    fingerprint_id,
    framing_bytes,
    grid_time,
    max_message_bytes,
    quantize_times,
    read_container,
    write_container,
)
from diffc.diffusion.checks import MAX_SEED, checked_int, checked_real
from diffc.diffusion.denoisers import Denoiser
from diffc.diffusion.reverse import Box, ReverseModel, step_prior, step_target
from diffc.diffusion.schedules import EncodingSchedule
from diffc.ledger import Ledger, StepBits, step_from_channel
from diffc.models.base import Conditioning
from rcc.gaussian import ChannelPlan, ChannelSpec, GaussianChannelStats

__all__ = ["Channel", "CompressOutput", "StepStats", "encode", "quantized", "reverse_model"]


class Channel(Protocol):
    """The Gaussian channel simulator interface (:class:`rcc.gaussian.GaussianChannel`): a call is
    planned (partition and side information), then sent (searched), with a byte limit that lets
    it give up once its message is proven too long."""

    spec: ChannelSpec

    def plan(self, mu_q: np.ndarray, s_q: np.ndarray, mu_p: np.ndarray, s_p: np.ndarray, *,
             seed: int, stream: tuple[int, ...]) -> ChannelPlan: ...
    def send(self, plan: ChannelPlan, *, max_bytes: int | None = None
             ) -> tuple[object, GaussianChannelStats] | None: ...
    def decode(self, message: bytes, mu_p: np.ndarray, s_p: np.ndarray, *, seed: int,
               stream: tuple[int, ...]) -> np.ndarray: ...


@dataclass(frozen=True)
class StepStats:
    """One step: its time, its line of the bit ledger, and the seconds spent."""

    step: int
    t: float
    bits: StepBits
    seconds: float

    @property
    def kl_bits(self) -> float:
        """The step's KL: the ideal cost of its sample."""
        return self.bits.kl_bits

    @property
    def record_bits(self) -> int:
        """Real bits of the step's file record: framing, side information and indices."""
        return self.bits.record_bits

    @property
    def log_ratio_bits(self) -> float:
        """Realized ``log2 q(z)/p(z)`` at the sample sent."""
        return self.bits.log_ratio_bits


@dataclass(frozen=True)
class CompressOutput:
    """A DiffC file and what it cost. Bits are counted on ``data``, header included.

    ``size`` is the grid whose points the rate is counted per (:attr:`bpp`): the original image's
    ``(H, W)`` when :func:`encode` is given one (the codec always does), else the array's shape.
    """

    data: bytes
    steps: tuple[StepStats, ...]
    header_bits: int
    size: tuple[int, ...]
    seconds: float

    @property
    def file_bits(self) -> int:
        return 8 * len(self.data)

    @property
    def ideal_bits(self) -> float:
        """Sum of the sent steps' KLs: the rate of ideal channel simulation."""
        return float(sum(s.kl_bits for s in self.steps))

    @property
    def bpp(self) -> float:
        return self.file_bits / math.prod(self.size)

    @property
    def ideal_bpp(self) -> float:
        return self.ideal_bits / math.prod(self.size)

    @property
    def ledger(self) -> Ledger:
        """Where the file's bits go, per step and in total (:mod:`diffc.ledger`)."""
        options = conditioning_record(read_container(self.data).header)
        return Ledger(self.header_bits, tuple(s.bits for s in self.steps), 8 * len(options))

    def bits_through(self, n_steps: int) -> int:
        """Bits of the file truncated after ``n_steps`` steps."""
        n_steps = checked_int(n_steps, "n_steps", 1, len(self.steps))
        return self.header_bits + sum(s.record_bits for s in self.steps[:n_steps])


def reverse_model(denoiser: Denoiser, header: Header) -> ReverseModel:
    """The reverse process a file's header names: its variance, and x0 clipped to its value range
    when it clips. The encoder and every decoder build it here, so both sides project alike."""
    return ReverseModel(denoiser, header.variance, Box(*header.value_range) if header.clip else None)


def quantized(schedule: EncodingSchedule) -> EncodingSchedule:
    """``schedule`` at the times a file can name (:func:`diffc.container.quantize_times`): the times
    the encoder sends Z at and every decoder rebuilds exactly from the header's integer codes."""
    vp = schedule.vp
    grid, codes = quantize_times(schedule.times, vp.discrete, vp.t_min, vp.t_max)
    return EncodingSchedule(vp, tuple(grid_time(q, grid) for q in codes))


def _step_times(schedule: EncodingSchedule) -> dict[str, object]:
    """The header's time fields for a schedule already on its grid."""
    vp = schedule.vp
    grid, codes = quantize_times(schedule.times, vp.discrete, vp.t_min, vp.t_max)
    first = None if codes[0] == code_range(vp.t_min, vp.t_max, grid)[1] else codes[0]
    return {"time_grid": grid, "first_time": first,
            "time_gaps": tuple(a - b for a, b in zip(codes[:-1], codes[1:], strict=True))}


def _psnr(x_hat: np.ndarray, x: np.ndarray, value_range: tuple[float, float]) -> float:
    mse = float(np.mean((x_hat - x) ** 2))
    return math.inf if mse == 0 else 10 * math.log10((value_range[1] - value_range[0]) ** 2 / mse)


def _value_range(value_range: object) -> tuple[float, float]:
    if not isinstance(value_range, Sequence) or len(value_range) != 2:
        raise ValueError(f"value_range must be a pair (low, high), got {value_range!r}")
    low, high = (checked_real(v, "each bound of value_range") for v in value_range)
    if not low < high:
        raise ValueError(f"value_range must have low < high, got {value_range!r}")
    return low, high


def _stop_after(n_steps: int, stop_step: object, max_bits: object, target_psnr: object) -> int:
    if sum(v is not None for v in (stop_step, max_bits, target_psnr)) > 1:
        raise ValueError("give at most one of stop_step, max_bits, target_psnr")
    for value, name in ((max_bits, "max_bits"), (target_psnr, "target_psnr")):
        if value is not None:
            checked_real(value, name)
    return n_steps if stop_step is None else checked_int(stop_step, "stop_step", 1, n_steps)


def encode(x: np.ndarray, denoiser: Denoiser, schedule: EncodingSchedule, channel: Channel, *, seed: int,
           value_range: tuple[float, float], variance: str = "posterior", clip: bool = False,
           stop_step: int | None = None, max_bits: float | None = None, target_psnr: float | None = None,
           family: str = "array", conditioning: Conditioning | None = None,
           size: tuple[int, int] | None = None,
           psnr_of: Callable[[np.ndarray], float] | None = None) -> CompressOutput:
    """Encode ``x`` into a DiffC file (see the module docstring for the stop rules).

    Z is sent at the :func:`quantized` times of ``schedule``, which the header writes. ``family``,
    ``conditioning`` (default: unconditional) and ``size`` (the original image's ``(H, W)``) go
    into the header for the decoder to check and use; ``size`` is also what :attr:`CompressOutput.bpp`
    counts per. ``psnr_of``: the PSNR of an x0 estimate (an array like ``x``) that ``target_psnr``
    is compared with (the image codec's: of the image decoded from it); default: against ``x`` in
    ``value_range``. ``max_bits`` is checked against the file as if it held the schedule's (or
    ``stop_step``'s) step count in its header; the final header is never longer.
    """
    began = time.perf_counter()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0 or not np.all(np.isfinite(x)):
        raise ValueError("x must be a finite array with at least one axis")
    if schedule.vp != denoiser.schedule:
        raise ValueError("the encoding schedule is built on a different VP schedule than the denoiser's")
    if not isinstance(clip, bool):
        raise ValueError(f"clip must be a bool, got {clip!r}")
    last = _stop_after(len(schedule), stop_step, max_bits, target_psnr)
    schedule = quantized(schedule).prefix(last)
    conditioning = Conditioning() if conditioning is None else conditioning
    header = Header(fingerprint_id(denoiser.fingerprint()), x.shape, _value_range(value_range),
                    checked_int(seed, "seed", 0, MAX_SEED), channel.spec, variance, clip,
                    **_step_times(schedule), family=family, conditioning=conditioning.kind,
                    conditioning_id=fingerprint_id(conditioning.digest) if conditioning.conditional else b"",
                    size=None if size is None else tuple(size), **conditioning.options)
    model = reverse_model(denoiser, header)
    planned_header_bits = 8 * len(encode_header(header))
    x_c = model.to_coords(x)
    z, x0, messages, stats = None, None, [], []
    for k in range(last):
        started = time.perf_counter()
        q = step_target(model, schedule.times, k, z, x_c).flat(x.shape)
        p = step_prior(model, schedule.times, k, z, x0).flat(x.shape)
        spent = planned_header_bits + sum(s.record_bits for s in stats)
        room = None if max_bits is None else max_message_bytes(max_bits - spent)
        # The channel gives up on a message proven longer than the room left, before or during
        # its search; one it returns may still be too long.
        sent = channel.send(channel.plan(*q, *p, seed=seed, stream=(k,)), max_bytes=room)
        message = None if sent is None else bytes(getattr(sent[0], "data", sent[0]))
        if message is None or (room is not None and len(message) > room):
            if k == 0:
                raise ValueError(f"max_bits={max_bits} is below the first step's file size")
            break
        bits = step_from_channel(k, 8 * framing_bytes(len(message)), sent[1])
        z_flat = channel.decode(message, *p, seed=seed, stream=(k,))
        step = StepStats(k, schedule.times[k], bits, time.perf_counter() - started)
        messages.append(message)
        stats.append(step)
        z = z_flat.reshape(x.shape)
        if target_psnr is not None:
            # The next step's prior needs this x0 too: predict once.
            _, x0 = model.predict(z, schedule.times[k])
            x0_hat = model.from_coords(x0)
            reached = _psnr(x0_hat, x, header.value_range) if psnr_of is None else psnr_of(x0_hat)
            if reached >= target_psnr:
                break
    header = replace(header, time_gaps=header.time_gaps[:len(messages) - 1])
    return CompressOutput(write_container(header, messages), tuple(stats), 8 * len(encode_header(header)),
                          x.shape if size is None else header.size, time.perf_counter() - began)
