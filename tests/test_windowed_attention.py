"""Windowed self-attention: the windows tile the grid, the processor is attention within each window
(checked against a direct softmax per window), the full grid gives the layer's own attention, and a
folder's window is part of the model (loaded, fingerprinted, refused when malformed, kept on export)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_unet import save_tiny_model

from diffc.models import ModelError, load_model
from diffc.models.windowed_attention import (
    CONFIG_NAME,
    WindowedAttention,
    read_window,
    use_windows,
    window_index,
)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 12))
def test_windows_cover_every_token_once_and_differ_by_at_most_one(height: int, width: int,
                                                                   window: int) -> None:
    index, valid = window_index(height, width, window)
    real = index.flatten() if valid is None else index[valid]
    assert sorted(real.tolist()) == list(range(height * width))
    rows, cols = index // width, index % width
    mask = torch.ones_like(index, dtype=torch.bool) if valid is None else valid
    for j in range(len(index)):
        r, c = rows[j][mask[j]], cols[j][mask[j]]
        # each window is a rectangle of at most window x window tokens
        assert len(r) == (r.max() - r.min() + 1) * (c.max() - c.min() + 1)
        assert r.max() - r.min() < window and c.max() - c.min() < window
    tall = {int(rows[j][mask[j]].max() - rows[j][mask[j]].min()) for j in range(len(index))}
    wide = {int(cols[j][mask[j]].max() - cols[j][mask[j]].min()) for j in range(len(index))}
    assert max(tall) - min(tall) <= 1 and max(wide) - min(wide) <= 1
    assert (valid is None) == (len(tall) == 1 and len(wide) == 1)


def _layer(channels: int = 16, heads: int = 2) -> object:
    from diffusers.models.attention_processor import Attention

    torch.manual_seed(0)
    layer = Attention(channels, heads=heads, dim_head=channels // heads, norm_num_groups=4,
                      residual_connection=True, bias=True, upcast_softmax=True,
                      _from_deprecated_attn_block=True)
    return layer.eval()


def _direct(layer: object, x: torch.Tensor, window: int) -> torch.Tensor:
    """Attention within each window by an explicit softmax over that window's tokens."""
    from diffc.models.windowed_attention import _cuts

    b, c, h, w = x.shape
    tokens = layer.group_norm(x.view(b, c, h * w)).transpose(1, 2).double()
    q, k, v = (f(tokens.float()).double().view(b, h, w, layer.heads, -1)
               for f in (layer.to_q, layer.to_k, layer.to_v))
    out = torch.zeros_like(q)
    for r0, r1 in _cuts(h, window):
        for c0, c1 in _cuts(w, window):
            qw, kw, vw = (y[:, r0:r1, c0:c1].reshape(b, -1, layer.heads, y.shape[-1]).transpose(1, 2)
                          for y in (q, k, v))
            weights = torch.softmax(qw @ kw.transpose(-1, -2) / qw.shape[-1] ** 0.5, dim=-1)
            out[:, r0:r1, c0:c1] = (weights @ vw).transpose(1, 2).reshape(
                b, r1 - r0, c1 - c0, layer.heads, -1)
    y = layer.to_out[0](out.reshape(b, h * w, c).float()).transpose(1, 2).reshape(b, c, h, w)
    return (y + x) / layer.rescale_output_factor


@pytest.mark.parametrize("shape, window", [((2, 16, 8, 8), 4), ((1, 16, 7, 10), 3), ((2, 16, 5, 9), 4),
                                           ((1, 16, 6, 6), 1)])
def test_processor_is_attention_within_each_window(shape: tuple[int, ...], window: int) -> None:
    layer = _layer()
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    layer.set_processor(WindowedAttention(window))
    with torch.inference_mode():
        got, want = layer(x), _direct(layer, x, window)
    assert torch.allclose(got, want, atol=2e-5, rtol=0)
    # and not the whole grid's attention: the windows change the output
    from diffusers.models.attention_processor import AttnProcessor2_0

    layer.set_processor(AttnProcessor2_0())
    with torch.inference_mode():
        assert (layer(x) - got).abs().max() > 1e-3


def test_a_window_over_the_whole_grid_is_the_layers_own_attention() -> None:
    from diffusers.models.attention_processor import AttnProcessor2_0

    layer = _layer()
    x = torch.randn(2, 16, 6, 5, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        layer.set_processor(AttnProcessor2_0())
        full = layer(x)
        layer.set_processor(WindowedAttention(6))
        assert torch.allclose(layer(x), full, atol=1e-5, rtol=0)


def test_refuses_what_it_does_not_compute() -> None:
    layer = _layer()
    layer.set_processor(WindowedAttention(2))
    with pytest.raises(ValueError, match="spatial self-attention"):
        layer(torch.randn(1, 4, 16))
    for bad in (0, -1, 2.5, True, "8"):
        with pytest.raises(ValueError, match="attention_window must be"):
            WindowedAttention(bad)


def test_use_windows_sets_every_attention_layer_and_none_leaves_them(tmp_path: Path) -> None:
    from diffusers import UNet2DModel

    unet = UNet2DModel.from_pretrained(save_tiny_model(tmp_path / "m", attention=True) / "unet")
    layers = [m for m in unet.modules() if type(m).__name__ == "Attention"]
    assert len(layers) >= 3  # down, middle and up blocks
    before = [type(m.processor) for m in layers]
    assert use_windows(unet, None) is unet and [type(m.processor) for m in layers] == before
    use_windows(unet, 2)
    assert all(isinstance(m.processor, WindowedAttention) and m.processor.window == 2 for m in layers)


def test_read_window_and_its_refusals(tmp_path: Path) -> None:
    assert read_window(tmp_path) is None
    (tmp_path / CONFIG_NAME).write_text(json.dumps({"other": 1}))
    assert read_window(tmp_path) is None
    (tmp_path / CONFIG_NAME).write_text(json.dumps({"attention_window": 8}))
    assert read_window(tmp_path) == 8
    for text in ("{", "[1]", json.dumps({"attention_window": 0}), json.dumps({"attention_window": 2.0})):
        (tmp_path / CONFIG_NAME).write_text(text)
        with pytest.raises(ValueError, match=CONFIG_NAME):
            read_window(tmp_path)


def test_a_folders_window_is_part_of_the_model(tmp_path: Path) -> None:
    plain = load_model(save_tiny_model(tmp_path / "plain", attention=True))
    wide = load_model(save_tiny_model(tmp_path / "wide", attention=True, window=64))
    narrow = load_model(save_tiny_model(tmp_path / "narrow", attention=True, window=2))
    bare = load_model(save_tiny_model(tmp_path / "bare", attention=True, window=2, layout="bare"))
    # the same weights: a window only enters the fingerprint when a folder sets one
    assert len({plain.fingerprint(), wide.fingerprint(), narrow.fingerprint()}) == 3
    assert bare.fingerprint() == narrow.fingerprint()
    z = np.random.default_rng(0).normal(size=(3, 32, 48))
    # 32 x 48 pixels are 16 x 24 tokens at the attention level: a window of 64 holds them all
    assert np.allclose(wide.denoiser.predict_eps(z, 500), plain.denoiser.predict_eps(z, 500), atol=1e-5)
    assert np.abs(narrow.denoiser.predict_eps(z, 500) - plain.denoiser.predict_eps(z, 500)).max() > 1e-4
    assert np.array_equal(bare.denoiser.predict_eps(z, 500), narrow.denoiser.predict_eps(z, 500))


def test_a_malformed_window_is_a_model_error(tmp_path: Path) -> None:
    folder = save_tiny_model(tmp_path / "m", attention=True)
    (folder / "unet" / CONFIG_NAME).write_text(json.dumps({"attention_window": "eight"}))
    with pytest.raises(ModelError, match="attention_window"):
        load_model(folder)


def test_training_writes_the_crops_window_and_the_compact_export_keeps_it(tmp_path: Path) -> None:
    from diffc.models import compact_weights, training

    config = training.TrainConfig(size=16, steps=1, batch=2, warmup=1, block_out_channels=(8, 16),
                                  norm_num_groups=4, checkpoint_minutes=60.0, threads=1)
    photos = [(255 * np.random.default_rng(1).random((24, 24, 3))).astype(np.uint8)]
    training.train(photos, tmp_path / "run", config, progress=False)
    pipeline = tmp_path / "run" / training.PIPELINE
    assert read_window(pipeline / "unet") == 8  # a 16 px crop is 8 x 8 tokens at 1/2
    compact_weights.export_compact(pipeline, tmp_path / "compact")
    compact_weights.restore_float32(tmp_path / "compact", tmp_path / "shipped")
    assert read_window(tmp_path / "compact" / "unet") == read_window(tmp_path / "shipped" / "unet") == 8
    assert load_model(tmp_path / "shipped").fingerprint() == load_model(tmp_path / "compact").fingerprint()
