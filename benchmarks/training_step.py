"""The cost of one training step of the default model, and the gpu recipe's steps sized from it.

Measured here, in the same run: the FLOPs of one step per crop (forward and backward of the
recipe's UNet at its crop size, counted by ``torch.utils.flop_counter``: convolutions, matmuls and
attention; GroupNorm and pointwise work is not counted), the operators the forward and backward
dispatch (the profiler's leaf ``aten::`` events: each is about one kernel launch on a GPU), and the
CPU seconds per ``train_step`` at batch 8 (the baseline; the model card's CPU runs), whose FLOP
rate checks the count.

Stated, not measured (no GPU was lent when this was sized): an H200 SXM's dense bfloat16 tensor
throughput (:data:`H200_BF16_FLOPS`, NVIDIA's data sheet), the fraction of it that an eager
PyTorch step of a 4 M-parameter UNet on 64 px crops reaches (:data:`UTILIZATION`), the host cost
of launching one operator (:data:`LAUNCH_S`), the launches of the optimiser, clipping and EMA
(:data:`UPDATE_LAUNCHES`: multi-tensor kernels on a GPU), a start-up and export allowance, and a
safety factor on the step time. The estimate of an H200 step is ``SAFETY * (FLOPs / (UTILIZATION *
H200_BF16_FLOPS) + (operators + UPDATE_LAUNCHES) * LAUNCH_S)`` and the recipe's wall time is its
steps times that plus the allowance; the GPU check's training part measures the real seconds per
step (benchmarks/gpu/training.py) to replace the guess.
"""

from __future__ import annotations

import os
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_meta, parse_args, timings, write_json  # noqa: E402

H200_BF16_FLOPS = 989e12
"""NVIDIA H200 SXM, dense BF16 tensor-core peak (the same as the H100 SXM's; 1979e12 with sparsity)."""
UTILIZATION = 0.10
"""Fraction of that peak assumed for convolutions of 32-128 channels on 64 px crops in eager mode."""
LAUNCH_S = 10e-6
"""Host time to dispatch and launch one operator in eager PyTorch."""
UPDATE_LAUNCHES = 200
"""AdamW's foreach update (PyTorch's default on CUDA), the foreach norm of the gradient clipping and
the foreach EMA: a dozen multi-tensor operations over ~270 tensors, a few launches each."""
STARTUP_S = 60.0
"""Allowance for imports, CUDA start, decoding the photo pack, the warm start and the final export."""
SAFETY = 2.0
BUDGET_S = 480.0
"""The recipe must finish within 8 minutes on an H200 (issue 23)."""
CPU_BATCH = 8


def _photos(rng: np.random.Generator, size: int) -> list[np.ndarray]:
    """Random smooth colour fields: a step costs the same whatever the pixels."""
    out = []
    for _ in range(3):
        field = rng.normal(size=(2 * size, 2 * size, 3)).cumsum(0).cumsum(1)
        out.append((255 * (field - field.min()) / np.ptp(field)).astype(np.uint8))
    return out


def _flops_per_crop(config) -> tuple[float, int]:
    """FLOPs of the forward and backward pass per crop, and the UNet's parameters."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from diffc.models import training

    unet = training.build_unet(config)
    x = torch.randn(2, 3, config.size, config.size)
    t = torch.tensor([10, 500])
    with FlopCounterMode(display=False) as counter:
        unet(x, t).sample.pow(2).mean().backward()
    return counter.get_total_flops() / 2, sum(p.numel() for p in unet.parameters())


def _operators(config, batch: int) -> int:
    """Leaf ``aten::`` operators of one forward and backward pass (after a warm-up pass)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from diffc.models import training

    unet = training.build_unet(config)
    x, t = torch.randn(batch, 3, config.size, config.size), torch.randint(0, 1000, (batch,))
    unet(x, t).sample.pow(2).mean().backward()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        unet(x, t).sample.pow(2).mean().backward()
    return sum(1 for e in prof.events() if e.name.startswith("aten::") and not e.cpu_children)


def _steps(config, batch: int, repeats: int) -> list[float]:
    """Seconds of ``repeats`` real training steps on the CPU, after one warm-up step."""
    from diffc.models import training

    config = replace(config, batch=batch, init="", device="cpu", bf16=False)
    photos = _photos(np.random.default_rng(0), config.size)
    state = training._new_state(config, training.pixel_variance(photos))
    sampler = training.CropSampler(photos, config.size)
    ab = training.build_scheduler(config).alphas_cumprod.float()
    q, weight = training.level_weights(ab, state.data_var)

    return timings(lambda: training.train_step(state, config, sampler, ab, q, weight), repeats)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.split("\n")[0], argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    from diffc.models.training import RECIPES

    torch.set_num_threads(2)
    recipe = RECIPES["gpu"]
    flops, params = _flops_per_crop(recipe)
    operators = _operators(recipe, CPU_BATCH)
    times = _steps(recipe, CPU_BATCH, 2 if args.quick else 8)
    cpu_s = statistics.median(times)
    gpu_step_s = SAFETY * (flops * recipe.batch / (UTILIZATION * H200_BF16_FLOPS)
                           + (operators + UPDATE_LAUNCHES) * LAUNCH_S)
    row = {
        "crop": recipe.size, "params": params,
        "flops_per_crop_step": flops, "operators_forward_backward": operators,
        "update_launches": UPDATE_LAUNCHES,
        "cpu_batch": CPU_BATCH, "cpu_threads": 2, "cpu_s_per_step": times, "cpu_s_per_step_median": cpu_s,
        "cpu_flops_per_s": flops * CPU_BATCH / cpu_s, "load_average": os.getloadavg(),
        "h200_bf16_flops": H200_BF16_FLOPS, "utilization": UTILIZATION, "launch_s": LAUNCH_S,
        "safety": SAFETY,
        "recipe_batch": recipe.batch, "recipe_steps": recipe.steps,
        "h200_step_s_estimate": gpu_step_s,
        "h200_over_cpu_per_crop": (cpu_s / CPU_BATCH) / (gpu_step_s / recipe.batch),
        "startup_s": STARTUP_S, "recipe_wall_s_estimate": STARTUP_S + recipe.steps * gpu_step_s,
        "steps_within_budget": int((BUDGET_S - STARTUP_S) / gpu_step_s), "budget_s": BUDGET_S,
    }
    write_json(args.json, machine_meta(), [row])
    print(f"{flops / 1e9:.2f} GFLOP per crop-step, {operators} operators; CPU {cpu_s:.2f} s/step at batch "
          f"{CPU_BATCH}; H200 estimate {gpu_step_s * 1e3:.0f} ms/step at batch {recipe.batch}: "
          f"{recipe.steps} steps in {row['recipe_wall_s_estimate']:.0f} s (budget {BUDGET_S:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
