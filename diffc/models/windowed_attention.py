"""Self-attention within windows of the token grid, for a pixel UNet run on images larger than its crops.

A diffusers ``UNet2DModel`` attends over every token of its attention level. Trained on small crops,
it has only seen as many tokens as a crop holds (8 x 8 at 1/8 of a 64 px crop); on a 512 x 512
photo the same layer attends over 64 x 64 tokens, at a cost that grows with the square of the token
count. :class:`WindowedAttention` is a diffusers attention processor that splits the grid into
non-overlapping windows of at most ``window`` x ``window`` tokens (as Swin's window attention, Liu
et al. 2021, without the shifted windows) and lets each token attend only within its window. Every
other part of the layer (its GroupNorm over the whole map, the projections, the residual) is the
layer's own.

Each axis of ``n`` tokens is cut into ``ceil(n / window)`` windows whose lengths differ by at most one
(boundaries at ``floor(i n / k)``), so no window is a sliver; windows shorter than the longest are
padded, and the padding is masked out of the keys. What is exact: when the grid fits in one window
the processor computes the layer's full attention (diffusers' ``AttnProcessor2_0``, up to float
rounding). Otherwise it defines another network function, so it is part of the model: a folder turns
it on with ``{"attention_window": W}`` in ``unet/diffc_config.json`` (:func:`read_window`), and the
fingerprint covers it (:mod:`diffc.models.diffusers_folder`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from diffc.diffusion.checks import checked_int

__all__ = ["CONFIG_NAME", "MAX_WINDOW", "WindowedAttention", "read_window", "use_windows", "window_index"]

CONFIG_NAME = "diffc_config.json"
"""The file in a UNet folder holding the settings diffusers' own config has no field for."""
MAX_WINDOW = 2**16
"""The largest window, in tokens per side (far beyond any grid the tools evaluate)."""


def _cuts(n: int, window: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of the ``ceil(n / window)`` windows along an axis of ``n`` tokens."""
    k = -(-n // window)
    return [(i * n // k, (i + 1) * n // k) for i in range(k)]


@lru_cache(maxsize=32)
def window_index(height: int, width: int, window: int) -> tuple[object, object | None]:
    """The windows of a ``height`` x ``width`` token grid (row-major token numbers).

    Returns ``(index, valid)``: ``index[j, s]`` is the token in slot ``s`` of window ``j`` (padding
    slots repeat the window's first token), ``valid`` the boolean mask of real slots, None when every
    window is full. Each token fills exactly one valid slot.
    """
    import torch

    rows, cols = _cuts(height, window), _cuts(width, window)
    tall = max(b - a for a, b in rows)
    wide = max(b - a for a, b in cols)
    index = torch.zeros((len(rows) * len(cols), tall * wide), dtype=torch.long)
    valid = torch.zeros(index.shape, dtype=torch.bool)
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            tokens = (torch.arange(r0, r1)[:, None] * width + torch.arange(c0, c1)[None, :]).flatten()
            slot = torch.full((tall, wide), -1, dtype=torch.long)
            slot[:r1 - r0, :c1 - c0] = tokens.view(r1 - r0, c1 - c0)
            slot = slot.flatten()
            index[i * len(cols) + j] = torch.where(slot >= 0, slot, tokens[0])
            valid[i * len(cols) + j] = slot >= 0
    return index, (None if bool(valid.all()) else valid)


class WindowedAttention:
    """A diffusers attention processor: spatial self-attention within windows (module docstring)."""

    def __init__(self, window: int) -> None:
        self.window = checked_int(window, "attention_window", 1, MAX_WINDOW)

    def __call__(self, attn: object, hidden_states: object, encoder_hidden_states: object = None,
                 attention_mask: object = None, temb: object = None, *args: object,
                 **kwargs: object) -> object:
        import torch.nn.functional as F

        if hidden_states.ndim != 4 or encoder_hidden_states is not None or attention_mask is not None \
                or attn.spatial_norm is not None:
            raise ValueError("windowed attention is for a UNet's spatial self-attention (4-D maps, no "
                             "cross-attention, mask or spatial norm)")
        batch, channels, height, width = hidden_states.shape
        tokens = hidden_states.reshape(batch, channels, height * width)
        if attn.group_norm is not None:
            tokens = attn.group_norm(tokens)
        tokens = tokens.transpose(1, 2)
        index, valid = window_index(height, width, self.window)
        index = index.to(tokens.device)
        valid = None if valid is None else valid.to(tokens.device)
        windows, slots = index.shape
        head_dim = attn.to_q.out_features // attn.heads

        def split(y: object) -> object:
            # (batch, tokens, heads * d) -> (batch * windows, heads, slots, d)
            y = y.view(batch, height * width, attn.heads, head_dim)[:, index]
            return y.permute(0, 1, 3, 2, 4).reshape(batch * windows, attn.heads, slots, head_dim)

        q, k, v = split(attn.to_q(tokens)), split(attn.to_k(tokens)), split(attn.to_v(tokens))
        mask = None if valid is None else valid.repeat(batch, 1)[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0, is_causal=False)
        out = out.view(batch, windows, attn.heads, slots, head_dim).permute(0, 1, 3, 2, 4)
        merged = out.new_empty(batch, height * width, attn.heads, head_dim)
        if valid is None:
            merged[:, index.flatten()] = out.reshape(batch, windows * slots, attn.heads, head_dim)
        else:
            merged[:, index[valid]] = out[:, valid]
        merged = merged.reshape(batch, height * width, attn.heads * head_dim)
        merged = attn.to_out[1](attn.to_out[0](merged))
        merged = merged.transpose(1, 2).reshape(batch, channels, height, width)
        if attn.residual_connection:
            merged = merged + hidden_states
        return merged / attn.rescale_output_factor


def read_window(unet_dir: Path) -> int | None:
    """The folder's attention window (``attention_window`` in ``CONFIG_NAME``), None when it sets none.

    Raises ``ValueError`` naming the file for unreadable JSON or a window that is not a whole number
    in ``[1, MAX_WINDOW]``."""
    path = Path(unet_dir) / CONFIG_NAME
    if not path.is_file():
        return None
    try:
        window = json.loads(path.read_text()).get("attention_window")
    except (OSError, ValueError, AttributeError) as err:
        raise ValueError(f"{path}: not a JSON object ({err})") from err
    try:
        return None if window is None else checked_int(window, "attention_window", 1, MAX_WINDOW)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


def use_windows(unet: object, window: int | None) -> object:
    """Give every attention layer of ``unet`` a :class:`WindowedAttention` of ``window`` (None: leave
    the layers as they are); returns ``unet``."""
    from diffusers.models.attention_processor import Attention

    if window is not None:
        processor = WindowedAttention(window)
        for module in unet.modules():
            if isinstance(module, Attention):
                module.set_processor(processor)
    return unet
