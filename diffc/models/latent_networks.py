"""Each latent family's network call behind one signature, and the batched numpy evaluator around it.

The evaluator is the ``fn(z, timestep) -> output`` of
:class:`~diffc.diffusion.denoisers.ConvertedDenoiser`: ``z`` is what the network sees (the VP latent,
or the flow state for SD3 and Flux), ``timestep`` is the schedule's :meth:`model_timestep` (the
table index for the UNets and DiT, ``1000 s`` for the flow transformers), and the output is in the
network's own parametrization. How each family is called (Podell et al. 2023 for SDXL; Peebles &
Xie 2023 for DiT; Esser et al. 2024 for SD3; Black Forest Labs' Flux.1 as diffusers wires it):

* ``UNet2DConditionModel``: ``encoder_hidden_states``; SDXL adds ``text_embeds`` and
  ``time_ids = (H, W, 0, 0, H, W)`` of the coded (padded) image, which both sides know.
* ``DiTTransformer2DModel``: ``class_labels``; a learned-sigma output (twice the channels)
  contributes its first half, the mean, since DiffC uses the posterior variance on both sides.
* ``SD3Transformer2DModel``: ``encoder_hidden_states``, ``pooled_projections``, the timestep
  ``1000 s`` as is.
* ``FluxTransformer2DModel``: the latent packed 2x2 into tokens, image ids a (0, row, col) grid,
  ``txt_ids``; diffusers' Flux transformer multiplies its timestep and guidance inputs by 1000
  itself, so it receives ``s = timestep / 1000`` and the guidance value G: the sigma of the state
  and the timestep the network sees come from the one ``s`` (the public DiffC code's Flux adapter
  was off by one step here).

Classifier-free guidance (two passes) combines the outputs as
:mod:`diffc.models.text_conditioning` says. Evaluations are batched over leading axes of ``z``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffc.models.families import Family
from diffc.models.text_conditioning import TextConditioning

__all__ = ["LatentEvaluator", "denoiser_multiple"]


def denoiser_multiple(family: Family, config: object) -> int:
    """The latent grid's multiple: 2^(down blocks - 1) for a UNet, the patch size for a transformer,
    and twice it for Flux's 2x2 packing."""
    if family.denoiser == "unet":
        return 2 ** (len(config.down_block_types) - 1)
    patch = int(config.get("patch_size") or 1)
    return 2 * patch if family.name == "flux" else patch


def _batched(inputs: dict, n: int) -> dict:
    return {k: v if k == "txt_ids" else v.expand(n, *v.shape[1:]) for k, v in inputs.items()}


def _call(family: Family, net: object, x: object, timestep: float, inputs: dict, guidance: float | None,
          vae_factor: int) -> object:
    """One forward pass of ``net`` on the batch ``x`` (torch), in the network's parametrization."""
    import torch

    n, c, h, w = x.shape
    kw = _batched(inputs, n)
    if family.denoiser == "unet":
        t = torch.full((n,), int(timestep), device=x.device, dtype=torch.long)
        if family.name == "sdxl":
            size = [h * vae_factor, w * vae_factor]
            ids = torch.tensor([[*size, 0, 0, *size]], device=x.device, dtype=kw["text_embeds"].dtype)
            added = {"text_embeds": kw.pop("text_embeds"), "time_ids": ids.expand(n, 6)}
            return net(x, t, added_cond_kwargs=added, **kw).sample
        return net(x, t, **kw).sample
    if family.name == "dit":
        t = torch.full((n,), int(round(timestep)), device=x.device, dtype=torch.long)
        return net(x, timestep=t, **kw).sample[:, :c]
    if family.name == "sd3":
        t = torch.full((n,), timestep, device=x.device, dtype=x.dtype)
        return net(hidden_states=x, timestep=t, **kw).sample
    from diffusers import FluxPipeline

    packed = FluxPipeline._pack_latents(x, n, c, h, w)
    img_ids = FluxPipeline._prepare_latent_image_ids(n, h // 2, w // 2, x.device, x.dtype)
    t = torch.full((n,), timestep / 1000.0, device=x.device, dtype=x.dtype)
    g = None if guidance is None else torch.full((n,), guidance, device=x.device, dtype=x.dtype)
    out = net(hidden_states=packed, timestep=t, guidance=g, img_ids=img_ids, **kw).sample
    return FluxPipeline._unpack_latents(out, h * vae_factor, w * vae_factor, vae_factor)


def _on(inputs: dict, param: object) -> dict:
    return {k: v.to(param.device, param.dtype) if v.is_floating_point() else v.to(param.device)
            for k, v in inputs.items()}


@dataclass(frozen=True, eq=False)
class LatentEvaluator:
    """``fn(z, timestep)`` for :class:`~diffc.diffusion.denoisers.ConvertedDenoiser` (module docstring).

    ``net``: the denoising network; ``multiple``: the latent grid's multiple; ``vae_factor``: the
    VAE's downsampling factor (SDXL's time ids and Flux's unpacking are in pixels).
    """

    family: Family
    net: object
    conditioning: TextConditioning
    channels: int
    multiple: int
    vae_factor: int
    batch_size: int

    def __call__(self, z: np.ndarray, timestep: float) -> np.ndarray:
        import torch

        c = self.channels
        if z.ndim < 3 or z.shape[-3] != c or z.shape[-2] % self.multiple or z.shape[-1] % self.multiple:
            raise ValueError(f"the model takes latents (..., {c}, H, W) with H and W multiples of "
                             f"{self.multiple}, got shape {z.shape}")
        param = next(self.net.parameters())
        text, g = self.conditioning, self.conditioning.guidance
        cond = _on(text.cond if text.cond is not None else text.uncond, param)
        uncond = _on(text.uncond, param)
        lead, shape = z.shape[:-3], z.shape[-3:]
        flat = z.reshape(-1, *shape)
        out = np.empty_like(flat, dtype=np.float64)
        with torch.inference_mode():
            for i in range(0, len(flat), self.batch_size):
                x = torch.from_numpy(np.ascontiguousarray(flat[i:i + self.batch_size]))
                x = x.to(param.device, param.dtype)
                y = _call(self.family, self.net, x, timestep, cond, g, self.vae_factor)
                if text.cfg:
                    y_u = _call(self.family, self.net, x, timestep, uncond, g, self.vae_factor)
                    y = y_u + g * (y - y_u)
                out[i:i + self.batch_size] = y.to("cpu", torch.float64).numpy()
        return out.reshape(*lead, *shape)
