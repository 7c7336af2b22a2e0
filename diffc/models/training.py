"""Training the default DiffC model: a small pixel-space diffusers ``UNet2DModel`` on photographs.

What is trained (every choice is written into the checkpoint and the saved configs)
-------------------------------------------------------------------------------------
- **Data**: random ``size`` x ``size`` RGB crops of the photos of a ``diffc data`` folder, each photo
  first shrunk to a short side of at most 448 px (octave 0 of
  :func:`diffc.models.data.training_pyramid`: the scale of the held-out photos), crop positions
  uniform over all pixels of the set (a photo is drawn with probability proportional to its crop
  positions), random horizontal flips, values ``x = 2 u / 255 - 1`` in ``[-1, 1]``. With more
  ``octaves`` (e.g. ``(-1, 0, 1)``: each photo also at half and, where its original allows, at twice
  that size) every octave gets an equal share of the crops, uniform over the positions within it,
  so the large, near-native octaves do not crowd out the scale DiffC is evaluated at.
- **Schedule**: the diffusers ``DDPMScheduler`` with 1000 steps and ``squaredcos_cap_v2`` (the
  cosine alpha-bar of Nichol & Dhariwal 2021, "Improved denoising diffusion probabilistic models").
  At 32-128 px the linear table of Ho et al. 2020 spends its last quarter of levels on nearly pure
  noise; the cosine table spreads the levels evenly in log-SNR over the moderate noise where DiffC
  encoders stop. ``clip_sample`` is off; DiffC clips x0 to the data range ``[-1, 1]`` on both sides
  anyway (:mod:`diffc.models.pixel`), and so does :mod:`diffc.models.nelbo`.
- **Prediction**: ``v_prediction`` (Salimans & Ho 2022): ``v = alpha eps - sigma x``. At high noise an
  epsilon network's x0 estimate ``(z - sigma eps_hat) / alpha`` amplifies its error by ``1/alpha``,
  and high noise is exactly where a DiffC encoder spends its first bits; v is well-scaled at every
  level.
- **Objective: the ELBO** (Ho et al. 2020 eq. 5; Kingma et al. 2021, "Variational diffusion models").
  The KL term of level ``i`` is ``1/2 (SNR_{i-1} - SNR_i) ||x - x_hat||^2``, which is exactly the
  number of nats a DiffC step from ``i`` to ``i-1`` costs (docs/theory.md). With
  ``x - x_hat = sigma_i (v - v_hat)`` it is ``1/2 (SNR_{i-1} - SNR_i) sigma_i^2 ||v - v_hat||^2``.
  Levels are drawn by importance sampling from ``q(i)``, proportional to the increment of the
  Gaussian rate ``log(1 + c SNR)`` over level ``i`` (``c``: the pixel variance of the training
  photos; for Gaussian data of that variance ``1/2 log(1 + c SNR)`` is ``I(X; Z)`` per dimension, so
  every draw costs about the same number of bits), and each draw is weighted by the ELBO term over
  ``q(i)``. The weights then lie between 1 and ``1/c`` (a few units) instead of spanning the 10^8 of
  the raw ELBO coefficients, and the loss is an unbiased estimate of the ELBO's KL terms per
  dimension up to a constant factor. Level 0 (the decoder term of the exact ELBO, not a KL) is
  approximated by the same form with ``SNR_{-1} = SNR_0^2 / SNR_1`` (the table's geometric
  extrapolation); :mod:`diffc.models.nelbo` evaluates the exact discrete ELBO.
- **The codec's own steps** (``codec_share``, off by default): the image codec sends Z at a few
  coarse times (:func:`diffc.diffusion.spacing.image_schedule`), and its step from ``t_k`` to
  ``t_{k+1}`` costs ``1/2 (SNR_{t_{k+1}} - SNR_{t_k}) ||x - x_hat(z_{t_k})||^2``, a coarse version of the
  ELBO's sum whose weights differ most at the first step: it rests on the prediction from pure noise
  (``t_0 = T - 1``), which the ELBO weighs by ``SNR_{T-2} - SNR_{T-1}`` (about 10^-5) and ``q`` almost
  never draws (about once in 10^6 draws), and which the codec weighs by ``SNR_{t_1}`` (about 0.05 at
  64 px; 0.5 before the steps were respaced, docs/image_schedule.md).
  With ``codec_share`` that fraction of each batch is drawn at the codec's times for the crop size
  (:data:`~diffc.diffusion.spacing.DEFAULT_STEPS` steps) in proportion to those coefficients, each
  draw of weight 1, so the loss estimates ``(1 - share)`` times the normalised ELBO plus ``share``
  times the codec's normalised rate. Both are minimised by the same ``x_hat = E[x | z_t]``; the share
  only decides where a network of finite capacity spends it.
- **Optimiser**: AdamW (Loshchilov & Hutter 2019), linear warm-up, an optional cosine decay of the
  learning rate to ``lr_final`` times its peak (Loshchilov & Hutter 2017), gradient clipping at 1, and
  an exponential moving average of the weights (decay ramping to ``ema_decay``), which is what is
  saved. ``init`` warm-starts a run from a pipeline folder's UNet (e.g. the shipped model).
- **Precision**: float32, or with ``bf16`` the forward pass under ``torch.autocast`` to bfloat16
  (Kalamkar et al. 2019, "A study of BFLOAT16 for deep learning training"): the weights, the
  optimiser state, the EMA and the loss stay float32, convolutions and matmuls run in bfloat16.

Recipes (:data:`RECIPES`): ``cpu``, the defaults of :class:`TrainConfig`; ``gpu``, the run sized in
the model card (``diffc/models/default/MODEL_CARD.md``, "GPU recipe") to finish within 8 minutes on
one H200: bf16, batch 128, warm-started from the shipped model (same architecture, so that the CPU
speed of decoding stays what it is), a cosine decay of the learning rate over its fixed steps, and
the shipped model's share of draws at the codec's steps.

Determinism: every random draw (photo, crop, flip, level, noise) comes from one seeded
``torch.Generator`` whose state is checkpointed with the model, EMA, optimiser and step, so a resumed
run continues the same stream and, with the same thread count, gives the same weights as an
uninterrupted one (tests/test_training.py checks this bit for bit).

The run writes to its ``out`` folder: ``checkpoint.pt`` (atomically, every ``checkpoint_minutes``, on
SIGTERM/SIGINT and at the end), ``loss.csv`` (one row per step), ``config.json`` and
``pipeline/`` (a ``DDPMPipeline`` folder: ``model_index.json``, ``unet/`` with the EMA weights,
``scheduler/``), the folder that :func:`diffc.models.load_model` reads.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from diffc.diffusion.schedules import DiscreteVP
from diffc.diffusion.spacing import DEFAULT_STEPS, SPACING_VARIANCE, image_schedule
from diffc.models.diffusers_folder import default_model_dir
from diffc.models.windowed_attention import CONFIG_NAME

if TYPE_CHECKING:  # torch is imported where it is used, so that `diffc --help` stays fast
    import torch

CHECKPOINT = "checkpoint.pt"
# The settings a run written before they existed was trained with (the behaviour before each was
# added), so that such a checkpoint still resumes and exports.
SETTINGS_BEFORE = {"octaves": [0], "codec_share": 0.0}
PIPELINE = "pipeline"
LOSS_LOG = "loss.csv"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (``steps`` may grow when a run is resumed)."""

    size: int = 64
    octaves: tuple[int, ...] = (0,)
    steps: int = 30000
    batch: int = 8
    lr: float = 3e-4
    warmup: int = 200
    weight_decay: float = 0.0
    ema_decay: float = 0.999
    seed: int = 0
    block_out_channels: tuple[int, ...] = (32, 64, 128, 128)
    layers_per_block: int = 1
    attention: bool = True
    norm_num_groups: int = 32
    num_train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    prediction_type: str = "v_prediction"
    lr_final: float = 1.0
    init: str = ""
    checkpoint_minutes: float = 5.0
    threads: int = 2
    device: str = "cpu"
    bf16: bool = False
    codec_share: float = 0.0

    def identity(self) -> dict:
        """The fields a resumed run must share with its checkpoint (all but the step budget, the
        checkpoint cadence, threads, device and precision: how the same arithmetic is carried out)."""
        d = asdict(self)
        for key in ("steps", "checkpoint_minutes", "threads", "device", "bf16"):
            d.pop(key)
        d["block_out_channels"] = list(d["block_out_channels"])
        d["octaves"] = list(d["octaves"])
        return d


# The sizing of the gpu recipe's steps: model card, "GPU recipe" (benchmarks/training_step.py).
GPU_RECIPE_STEPS = 5000
RECIPES: dict[str, TrainConfig] = {
    "cpu": TrainConfig(),
    "gpu": TrainConfig(steps=GPU_RECIPE_STEPS, batch=128, lr=6e-4, warmup=300, lr_final=0.1, bf16=True,
                       init=str(default_model_dir()), checkpoint_minutes=2.0, device="cuda",
                       codec_share=0.125),
}


def build_unet(config: TrainConfig):
    """A diffusers ``UNet2DModel`` for RGB; self-attention only at the lowest resolution."""
    from diffusers import UNet2DModel

    n = len(config.block_out_channels)
    lowest_down = "AttnDownBlock2D" if config.attention else "DownBlock2D"
    lowest_up = "AttnUpBlock2D" if config.attention else "UpBlock2D"
    return UNet2DModel(
        sample_size=config.size,
        in_channels=3,
        out_channels=3,
        layers_per_block=config.layers_per_block,
        block_out_channels=tuple(config.block_out_channels),
        down_block_types=("DownBlock2D",) * (n - 1) + (lowest_down,),
        up_block_types=(lowest_up,) + ("UpBlock2D",) * (n - 1),
        norm_num_groups=config.norm_num_groups,
    )


def build_scheduler(config: TrainConfig):
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=config.num_train_timesteps,
        beta_schedule=config.beta_schedule,
        prediction_type=config.prediction_type,
        clip_sample=False,
    )


def level_weights(alphas_cumprod: torch.Tensor, data_var: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The importance distribution ``q(i)`` over levels and the loss weight of each level.

    ``q`` is proportional to the increment of ``log(1 + c SNR)`` over each level, the weight is the
    ELBO coefficient of ``||v - v_hat||^2`` over ``q``, normalised to mean 1 under ``q`` (module doc).
    """
    import torch

    ab = alphas_cumprod.double()
    snr = ab / (1 - ab)
    snr_prev = torch.cat([snr[:1] ** 2 / snr[1:2], snr[:-1]])
    q = torch.log1p(data_var * snr_prev) - torch.log1p(data_var * snr)
    q = q / q.sum()
    elbo = 0.5 * (snr_prev - snr) * (1 - ab)  # sigma_i^2 = 1 - alpha-bar_i
    weight = elbo / q
    weight = weight / (q * weight).sum()
    return q.float(), weight.float()


def codec_times(alphas_cumprod: torch.Tensor, size: int, steps: int = DEFAULT_STEPS,
                variance: float = SPACING_VARIANCE) -> list[int]:
    """The levels at which the image codec sends Z for ``size`` x ``size`` RGB crops of this table,
    noisiest first (:func:`diffc.diffusion.spacing.image_schedule`, spaced for ``variance``)."""
    vp = DiscreteVP(tuple(float(a) for a in alphas_cumprod.double()))
    return [int(t) for t in image_schedule(vp, (3, size, size), steps, variance).times]


def codec_levels(alphas_cumprod: torch.Tensor, size: int, steps: int = DEFAULT_STEPS
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """The levels ``t_k`` of :func:`codec_times`, all but the last, and the distribution over them
    proportional to ``1/2 (SNR_{t_{k+1}} - SNR_{t_k}) sigma_{t_k}^2``, the coefficient of
    ``||v - v_hat(z_{t_k})||^2`` in the cost of step ``k`` (module doc)."""
    import torch

    ab = alphas_cumprod.double()
    times = torch.tensor(codec_times(ab, size, steps))
    snr = ab / (1 - ab)
    coef = 0.5 * (snr[times[1:]] - snr[times[:-1]]) * (1 - ab[times[:-1]])
    return times[:-1], (coef / coef.sum()).float()


class CropSampler:
    """Random crops with horizontal flips from a list of photos, drawn from one generator.

    A photo is drawn with probability proportional to its crop positions; with ``groups`` (one label
    per photo, e.g. its octave) each group first gets an equal share of the draws.
    """

    def __init__(self, photos: list[np.ndarray], size: int, groups: Sequence[int] | None = None):
        import torch

        small = [p.shape for p in photos if min(p.shape[:2]) < size]
        if small or not photos:
            raise ValueError(f"need photos of at least {size} px on each side, got {small or 'none'}")
        if groups is not None and len(groups) != len(photos):
            raise ValueError(f"{len(groups)} group labels for {len(photos)} photos")
        self.photos = [torch.from_numpy(np.array(p, dtype=np.uint8)).permute(2, 0, 1) for p in photos]
        self.size = size
        positions = torch.tensor([(p.shape[1] - size + 1) * (p.shape[2] - size + 1) for p in self.photos],
                                 dtype=torch.float64)
        if groups is None:
            self.prob = positions / positions.sum()
        else:
            labels = torch.tensor(list(groups))
            self.prob = torch.zeros_like(positions)
            for g in labels.unique():
                mask = labels == g
                self.prob[mask] = positions[mask] / positions[mask].sum()
            self.prob /= len(labels.unique())

    def __call__(self, batch: int, gen: torch.Generator) -> torch.Tensor:
        import torch

        idx = torch.multinomial(self.prob, batch, replacement=True, generator=gen)
        u = torch.rand(batch, 3, generator=gen, dtype=torch.float64)
        crops = []
        for k, i in enumerate(idx.tolist()):
            photo = self.photos[i]
            top = int(u[k, 0] * (photo.shape[1] - self.size + 1))
            left = int(u[k, 1] * (photo.shape[2] - self.size + 1))
            crop = photo[:, top:top + self.size, left:left + self.size]
            crops.append(crop.flip(-1) if u[k, 2] < 0.5 else crop)
        return torch.stack(crops).float() * (2 / 255) - 1


def pixel_variance(photos: list[np.ndarray]) -> float:
    """Mean per-channel variance of the photos in ``[-1, 1]`` (the ``c`` of :func:`level_weights`)."""
    values = np.concatenate([(p.reshape(-1, 3) * (2 / 255) - 1) for p in photos])
    return float(values.var(axis=0).mean())


@dataclass
class TrainState:
    """What a checkpoint restores: model, EMA weights, optimiser, step and the generator."""

    unet: torch.nn.Module
    ema: dict[str, torch.Tensor]
    optimizer: torch.optim.Optimizer
    gen: torch.Generator
    step: int = 0
    data_var: float = 0.0
    wall_s: float = 0.0
    extra: dict = field(default_factory=dict)


def _new_state(config: TrainConfig, data_var: float) -> TrainState:
    import torch

    torch.manual_seed(config.seed)  # the initial weights
    unet = build_unet(config)
    if config.init:
        _load_init(unet, Path(config.init))
    unet = unet.to(config.device)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(config.seed)
    ema = {k: v.detach().clone() for k, v in unet.state_dict().items()}
    return TrainState(unet, ema, optimizer, gen, 0, data_var)


def _load_init(unet, folder: Path) -> None:
    """Start from the UNet weights of a pipeline folder (a warm start: the shipped model's EMA
    weights are the checkpoint that survives a new machine). Its architecture must be the run's."""
    from diffusers import UNet2DModel

    source = UNet2DModel.from_pretrained(folder / "unet", local_files_only=True, low_cpu_mem_usage=False)
    mismatched = [k for k, v in unet.state_dict().items()
                  if k not in source.state_dict() or source.state_dict()[k].shape != v.shape]
    if mismatched or len(source.state_dict()) != len(unet.state_dict()):
        raise ValueError(f"--init {folder}: its UNet is not this run's architecture "
                         f"({len(mismatched)} tensor(s) differ, e.g. {mismatched[:1]})")
    unet.load_state_dict(source.state_dict())


def save_checkpoint(path: Path, state: TrainState, config: TrainConfig) -> None:
    """Write the checkpoint atomically (a crash mid-write leaves the previous one intact)."""
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save({
        "config": config.identity(),
        "unet": state.unet.state_dict(),
        "ema": state.ema,
        "optimizer": state.optimizer.state_dict(),
        "gen": state.gen.get_state(),
        "step": state.step,
        "data_var": state.data_var,
        "wall_s": state.wall_s,
    }, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, config: TrainConfig) -> TrainState:
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    old = {**SETTINGS_BEFORE, **ckpt["config"]}
    if old != config.identity():
        diff = {k: (old.get(k), v) for k, v in config.identity().items() if old.get(k) != v}
        raise ValueError(f"{path}: checkpoint was trained with other settings (checkpoint, now): {diff}")
    state = _new_state(config, ckpt["data_var"])
    state.unet.load_state_dict(ckpt["unet"])
    state.ema = {k: v.to(config.device) for k, v in ckpt["ema"].items()}
    state.optimizer.load_state_dict(ckpt["optimizer"])
    state.gen.set_state(ckpt["gen"])
    state.step = ckpt["step"]
    state.wall_s = ckpt["wall_s"]
    return state


def save_pipeline(path: Path, state: TrainState, config: TrainConfig) -> Path:
    """Save the EMA weights as a ``DDPMPipeline`` folder (``model_index.json``, ``unet/``,
    ``scheduler/``)."""
    from diffusers import DDPMPipeline

    unet = build_unet(config)
    unet.load_state_dict(state.ema)
    DDPMPipeline(unet=unet, scheduler=build_scheduler(config)).save_pretrained(path, safe_serialization=True)
    if config.attention:
        # Beyond the crops it was trained on, the network attends as it learned to: within windows of a
        # crop's tokens at its attention level (diffc.models.windowed_attention).
        window = config.size // 2 ** (len(config.block_out_channels) - 1)
        settings = json.dumps({"attention_window": window}, indent=2)
        (Path(path) / "unet" / CONFIG_NAME).write_text(settings + "\n")
    return path


def _lr(config: TrainConfig, step: int) -> float:
    """Linear warm-up, then a cosine from ``lr`` down to ``lr * lr_final`` at ``steps`` (a constant
    ``lr`` for the default ``lr_final = 1``; a run whose ``steps`` grow on resume stretches the cosine)."""
    warm = min(1.0, (step + 1) / max(1, config.warmup))
    progress = min(1.0, max(0.0, (step - config.warmup) / max(1, config.steps - config.warmup)))
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return config.lr * warm * (config.lr_final + (1.0 - config.lr_final) * cosine)


def codec_draws(config: TrainConfig) -> int:
    """How many draws of each batch are made at the codec's levels (``codec_share`` of it, rounded)."""
    return round(config.codec_share * config.batch)


def draw_levels(batch: int, q: torch.Tensor, weight: torch.Tensor, gen: torch.Generator, n_codec: int = 0,
                codec: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The levels of a batch and their loss weights: ``batch - n_codec`` from ``q`` with their ELBO
    weights, then ``n_codec`` from the codec's levels (``codec``: :func:`codec_levels`) with weight 1."""
    import torch

    t = torch.multinomial(q, batch - n_codec, replacement=True, generator=gen)
    w = weight[t]
    if n_codec:
        levels, prob = codec
        t = torch.cat([t, levels[torch.multinomial(prob, n_codec, replacement=True, generator=gen)]])
        w = torch.cat([w, torch.ones(n_codec, dtype=w.dtype, device=w.device)])
    return t, w


def train_step(state: TrainState, config: TrainConfig, sampler: CropSampler, alphas_cumprod: torch.Tensor,
               q: torch.Tensor, weight: torch.Tensor,
               codec: tuple[torch.Tensor, torch.Tensor] | None = None) -> float:
    """One optimiser step on the importance-sampled ELBO, with :func:`codec_draws` of the batch at the
    codec's levels (``codec``: :func:`codec_levels`) when ``codec_share`` is set (module doc); returns
    the batch loss."""
    import torch

    # Every draw is made on the CPU generator and then moved, so a run's random stream is the same
    # on any device.
    gen, dev = state.gen, config.device
    x = sampler(config.batch, gen)
    t, w = draw_levels(config.batch, q, weight, gen, codec_draws(config), codec)
    eps = torch.randn(x.shape, generator=gen)
    x, t, w, eps = x.to(dev), t.to(dev), w.to(dev), eps.to(dev)
    ab = alphas_cumprod[t].view(-1, 1, 1, 1)
    alpha, sigma = ab.sqrt(), (1 - ab).sqrt()
    z = alpha * x + sigma * eps
    target = alpha * eps - sigma * x if config.prediction_type == "v_prediction" else eps
    with torch.autocast(torch.device(dev).type, dtype=torch.bfloat16, enabled=config.bf16):
        pred = state.unet(z, t).sample
    loss = (w * (pred.float() - target).pow(2).mean(dim=(1, 2, 3))).mean()
    for group in state.optimizer.param_groups:
        group["lr"] = _lr(config, state.step)
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(state.unet.parameters(), 1.0)
    state.optimizer.step()
    state.step += 1
    _update_ema(state, config)
    return float(loss.detach())


def _update_ema(state: TrainState, config: TrainConfig) -> None:
    # The warm-up of the decay (as diffusers' EMAModel) keeps the average from remembering the
    # random initial weights for thousands of steps in a short run.
    import torch

    decay = min(config.ema_decay, (1 + state.step) / (10 + state.step))
    floats, averages = [], []
    for name, value in state.unet.state_dict().items():
        value = value.detach()
        if value.dtype.is_floating_point:
            floats.append(value)
            averages.append(state.ema[name])
        else:
            state.ema[name].copy_(value)
    # One multi-tensor update (a few kernel launches on a GPU instead of one per tensor; on the CPU
    # the same lerp_ per tensor).
    torch._foreach_lerp_(averages, floats, 1 - decay)


class _StopRequest:
    """Turns SIGTERM into a clean stop at the next step boundary (a checkpoint is written)."""

    def __init__(self) -> None:
        self.requested = False

    def __enter__(self) -> _StopRequest:
        self._old = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGTERM, self._old)


def train(photos: list[np.ndarray] | Mapping[str, np.ndarray], out: Path, config: TrainConfig,
          resume: bool = False, progress: bool = True, octaves: Sequence[int] | None = None) -> TrainState:
    """Train (or resume) a run in ``out`` up to ``config.steps`` steps; save checkpoint and pipeline.

    ``octaves`` labels each photo with its octave (:func:`diffc.models.data.training_pyramid`), one
    of ``config.octaves``; each octave then gets an equal share of the crops (module doc). Without
    it all photos are one group, which is right only for a single octave.
    ``resume=True`` continues from ``out/checkpoint.pt`` (a :class:`ValueError` if it was made with
    other settings); without it an existing checkpoint is an error rather than silently overwritten.
    """
    import torch
    from tqdm.auto import tqdm

    if octaves is None and len(config.octaves) > 1:
        raise ValueError(f"octaves {config.octaves}: label each photo with its octave")
    if octaves is not None and not set(octaves) <= set(config.octaves):
        raise ValueError(f"photos of octaves {sorted(set(octaves) - set(config.octaves))} are not in "
                         f"the run's octaves {config.octaves}")
    if not 0 <= config.codec_share <= 1 or codec_draws(config) >= config.batch:
        raise ValueError(f"codec_share {config.codec_share} must lie in [0, 1] and leave draws of a batch "
                         f"of {config.batch} for the ELBO")
    torch.set_num_threads(config.threads)
    if torch.device(config.device).type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: pick the fastest convolutions once
    photos = list(photos.values()) if isinstance(photos, Mapping) else list(photos)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / CHECKPOINT
    if resume:
        if not ckpt_path.is_file():
            raise OSError(f"{ckpt_path}: no checkpoint to resume from")
        state = load_checkpoint(ckpt_path, config)
    elif ckpt_path.exists():
        raise ValueError(f"{ckpt_path} exists: pass resume to continue it, or choose another folder")
    else:
        state = _new_state(config, pixel_variance(photos))
    run_config = {**asdict(config), "data_var": state.data_var}
    (out / "config.json").write_text(json.dumps(run_config, indent=1) + "\n")
    sampler = CropSampler(photos, config.size, octaves)
    alphas_cumprod = build_scheduler(config).alphas_cumprod.float()
    q, weight = level_weights(alphas_cumprod, state.data_var)
    codec = codec_levels(alphas_cumprod, config.size) if codec_draws(config) else None
    alphas_cumprod = alphas_cumprod.to(config.device)
    state.unet.train()
    log_exists = (out / LOSS_LOG).is_file()
    with open(out / LOSS_LOG, "a", newline="", buffering=1) as log, _StopRequest() as stop, \
            tqdm(total=config.steps, initial=state.step, disable=not progress, desc="train") as bar:
        writer = csv.writer(log)
        if not log_exists:
            writer.writerow(["step", "loss", "lr", "wall_s"])
        started, last_ckpt = time.monotonic(), time.monotonic()
        wall0 = state.wall_s
        try:
            while state.step < config.steps and not stop.requested:
                loss = train_step(state, config, sampler, alphas_cumprod, q, weight, codec)
                if not math.isfinite(loss):
                    raise RuntimeError(f"loss became {loss} at step {state.step}")
                state.wall_s = wall0 + time.monotonic() - started
                writer.writerow([state.step, f"{loss:.6f}", f"{_lr(config, state.step - 1):.3g}",
                                 f"{state.wall_s:.1f}"])
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}")
                if time.monotonic() - last_ckpt > 60 * config.checkpoint_minutes:
                    log.flush()
                    save_checkpoint(ckpt_path, state, config)
                    last_ckpt = time.monotonic()
        finally:
            log.flush()
            save_checkpoint(ckpt_path, state, config)
    save_pipeline(out / PIPELINE, state, config)
    return state


def export_pipeline(run: Path, dest: Path) -> TrainState:
    """Save the EMA pipeline of a run's latest checkpoint to ``dest`` (the run may still be going:
    the checkpoint is replaced atomically)."""
    saved = {**SETTINGS_BEFORE, **json.loads((Path(run) / "config.json").read_text())}
    saved.pop("data_var")
    saved["block_out_channels"] = tuple(saved["block_out_channels"])
    saved["octaves"] = tuple(saved["octaves"])
    config = TrainConfig(**saved)
    state = load_checkpoint(Path(run) / CHECKPOINT, config)
    save_pipeline(Path(dest), state, config)
    return state
