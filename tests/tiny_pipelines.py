"""Tiny random diffusers pipelines of every latent family, built offline and saved in the standard layout.

The configurations follow diffusers' own pipeline tests (``get_dummy_components``): a few channels,
one or two blocks, seeded random weights. Tokenizers are written by the test itself: a
character-level CLIP vocabulary with no merges (every printable character with and without the
end-of-word suffix) and a character-level T5 unigram vocabulary, so nothing is downloaded.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

FAMILIES = ("sd1", "sd2", "sdxl", "dit", "sd3", "flux")
# Random weights predict epsilon badly, and x0 = (z - sigma eps) / alpha multiplies that error by
# sigma / alpha (about 15 at the end of SD's table): the channel would need thousands of bits in one
# coordinate. A short, low-noise table (alpha_bar >= 0.6) keeps the tiny models' steps codable; the
# wiring under test does not depend on the table.
TINY_BETAS = dict(num_train_timesteps=100, beta_start=1e-4, beta_end=0.01, beta_schedule="linear")
CHARS = [c for c in string.printable if not c.isspace()]


def clip_tokenizer(folder: Path) -> object:
    """A character-level CLIP tokenizer: ``vocab.json`` and a ``merges.txt`` with no merges."""
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    tokens = ["<|startoftext|>", "<|endoftext|>", *CHARS, *(c + "</w>" for c in CHARS)]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)


def t5_tokenizer() -> object:
    """A character-level T5 tokenizer (a unigram vocabulary of the printable characters)."""
    from transformers import T5TokenizerFast

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), *((c, -1.0) for c in CHARS), ("\u2581", -1.0)]
    return T5TokenizerFast(vocab=vocab, extra_ids=0)


def _clip(projection: bool = False, seed: int = 0) -> object:
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    config = CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32,
                            intermediate_size=37, layer_norm_eps=1e-5, num_attention_heads=4,
                            num_hidden_layers=2, vocab_size=256, hidden_act="gelu", projection_dim=32)
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config).eval()


def _vae(latent_channels: int = 4, scaling: float = 0.18215, shift: float | None = None) -> object:
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    return AutoencoderKL(block_out_channels=(8, 16), in_channels=3, out_channels=3,
                         down_block_types=("DownEncoderBlock2D",) * 2,
                         up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=latent_channels,
                         norm_num_groups=2, sample_size=32, scaling_factor=scaling, shift_factor=shift).eval()


def _unet(xl: bool = False, linear: bool = False) -> object:
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    if xl:  # text_embeds (32) + 6 time ids x 8
        extra = dict(addition_embed_type="text_time", addition_time_embed_dim=8, use_linear_projection=True,
                     projection_class_embeddings_input_dim=6 * 8 + 32, cross_attention_dim=64)
    else:
        extra = dict(cross_attention_dim=32, use_linear_projection=linear)
    return UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=8, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
                                norm_num_groups=2, **extra).eval()


def _sd(folder: Path, prediction: str) -> object:
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    scheduler = DDIMScheduler(clip_sample=False, prediction_type=prediction, steps_offset=1, **TINY_BETAS)
    return StableDiffusionPipeline(vae=_vae(), text_encoder=_clip(),
                                   tokenizer=clip_tokenizer(folder / "_tok"),
                                   unet=_unet(linear=prediction == "v_prediction"), scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def _sdxl(folder: Path) -> object:
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline

    scheduler = EulerDiscreteScheduler(timestep_spacing="leading", steps_offset=1, **TINY_BETAS)
    tok = clip_tokenizer(folder / "_tok")
    return StableDiffusionXLPipeline(vae=_vae(scaling=0.13025), text_encoder=_clip(),
                                     text_encoder_2=_clip(True, 1), tokenizer=tok, tokenizer_2=tok,
                                     unet=_unet(xl=True), scheduler=scheduler)


def _dit() -> object:
    import torch
    from diffusers import DDIMScheduler, DiTPipeline, DiTTransformer2DModel

    torch.manual_seed(0)
    transformer = DiTTransformer2DModel(sample_size=8, num_layers=2, patch_size=2, attention_head_dim=8,
                                        num_attention_heads=2, in_channels=4, out_channels=8,
                                        activation_fn="gelu-approximate", num_embeds_ada_norm=10,
                                        norm_type="ada_norm_zero", norm_elementwise_affine=False).eval()
    return DiTPipeline(transformer=transformer, vae=_vae(), scheduler=DDIMScheduler(**TINY_BETAS),
                       id2label={i: f"class {i}" for i in range(10)})


def _sd3(folder: Path) -> object:
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline

    torch.manual_seed(0)
    transformer = SD3Transformer2DModel(sample_size=8, patch_size=2, in_channels=4, num_layers=1,
                                        attention_head_dim=8, num_attention_heads=4,
                                        caption_projection_dim=32, joint_attention_dim=64,
                                        pooled_projection_dim=64, out_channels=4).eval()
    tok = clip_tokenizer(folder / "_tok")
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    return StableDiffusion3Pipeline(transformer=transformer, scheduler=scheduler,
                                    vae=_vae(scaling=1.5305, shift=0.0609), text_encoder=_clip(True),
                                    tokenizer=tok, text_encoder_2=_clip(True, 1), tokenizer_2=tok,
                                    text_encoder_3=None, tokenizer_3=None)


def _flux(folder: Path) -> object:
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=16, num_layers=1, num_single_layers=1,
                                         attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
                                         pooled_projection_dim=32, axes_dims_rope=[4, 4, 8],
                                         guidance_embeds=True).eval()
    torch.manual_seed(0)
    t5 = T5EncoderModel(T5Config(vocab_size=128, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
                                 decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)).eval()
    return FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=_vae(scaling=0.3611, shift=0.1159),
                        text_encoder=_clip(), tokenizer=clip_tokenizer(folder / "_tok"), text_encoder_2=t5,
                        tokenizer_2=t5_tokenizer(), transformer=transformer)


def build(family: str, folder: Path) -> Path:
    """Save a tiny random pipeline of ``family`` to ``folder`` (diffusers' standard layout)."""
    import shutil

    folder = Path(folder)
    builders = {"sd1": lambda: _sd(folder, "epsilon"), "sd2": lambda: _sd(folder, "v_prediction"),
                "sdxl": lambda: _sdxl(folder), "dit": _dit, "sd3": lambda: _sd3(folder),
                "flux": lambda: _flux(folder)}
    pipe = builders[family]()
    pipe.save_pretrained(folder, safe_serialization=True)
    shutil.rmtree(folder / "_tok", ignore_errors=True)
    return folder
