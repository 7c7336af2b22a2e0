"""What a latent denoiser is conditioned on: "unconditional" made precise, prompts, classes, guidance.

The embeddings come from the pipeline's own ``encode_prompt`` (its text encoders and tokenizers, the
family's exact rule: SDXL's concatenated penultimate CLIP states and pooled ``text_embeds``, SD3's
CLIP pair padded beside T5 or its zeros, Flux's CLIP pooled and T5 states), computed once at load
on the model's device and kept. "Unconditional" is what the pipeline itself uses for an empty
negative prompt (the public DiffC code's "encoded empty string"):

* ``"empty-prompt"``: the text encoders on ``""`` (SD 1.x, 2.x, SD3, Flux);
* ``"zeros"``: zero embeddings, where the pipeline sets ``force_zeros_for_empty_prompt`` (SDXL's
  default), so "unconditional SDXL" is the zeros its own sampler uses, not the encoded ``""``;
* ``"class"``: DiT's class label, or its null class (index ``num_classes``) when none is given;
* ``"prompt"``: a user's text (at most what the tokenizers take: a longer prompt is refused, never
  truncated silently).

Guidance: for the CFG families a guidance scale G makes two network passes per evaluation,
``out = out_u + G (out_c - out_u)`` on the network's output (exact for every parametrization,
which are affine in it); it needs a prompt or class label. Flux.1 is guidance-distilled: G is the
value of its guidance embedding (diffusers' default 3.5), one pass.

The :class:`~diffc.models.base.Conditioning` digest covers the rule and everything that decides
the embeddings: the family, the kind, the prompt's bytes, the class label, G, and the digest of
the text encoders' and tokenizers' files. It deliberately covers these inputs, not the float values
of the embeddings, which differ in the last bits between a CPU and a GPU: a file must not depend on
where its text encoder ran.
"""

from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass

from diffc.models.base import Conditioning
from diffc.models.families import ConditioningError, Family

__all__ = ["FLUX_DEFAULT_GUIDANCE", "TextConditioning", "condition"]

FLUX_DEFAULT_GUIDANCE = 3.5
_TOKENIZERS = ("tokenizer", "tokenizer_2", "tokenizer_3")


@dataclass(frozen=True, eq=False)
class TextConditioning:
    """The network's conditioning inputs: ``uncond`` always, ``cond`` when a prompt or label is given.

    ``guidance``: the CFG scale (two passes) or, for Flux, the guidance embedding's value (one pass,
    ``cfg`` False). Values are dicts of keyword arguments for the network call.
    """

    record: Conditioning
    uncond: dict
    cond: dict | None
    guidance: float | None
    cfg: bool


def _check_prompt(pipe: object, prompt: str) -> None:
    for name in _TOKENIZERS:
        tok = getattr(pipe, name, None)
        if tok is None:
            continue
        limit = min(int(tok.model_max_length), 512)
        n = len(tok(prompt).input_ids)
        if n > limit:
            raise ConditioningError(f"the prompt is {n} tokens for {name}, which takes at most {limit}: "
                             f"shorten it (it is never truncated)")


def _encode(pipe: object, family: Family, prompt: str, device: object) -> tuple[dict, dict]:
    """(prompt's inputs, the pipeline's empty-negative inputs) for the text families."""
    if family.name in ("sd1", "sd2"):
        pe, ne = pipe.encode_prompt(prompt, device, 1, True)
        return {"encoder_hidden_states": pe}, {"encoder_hidden_states": ne}
    if family.name == "sdxl":
        pe, ne, pp, npp = pipe.encode_prompt(prompt=prompt, device=device, num_images_per_prompt=1,
                                             do_classifier_free_guidance=True)
        return ({"encoder_hidden_states": pe, "text_embeds": pp},
                {"encoder_hidden_states": ne, "text_embeds": npp})
    if family.name == "sd3":
        pe, ne, pp, npp = pipe.encode_prompt(prompt=prompt, prompt_2=None, prompt_3=None, device=device,
                                             num_images_per_prompt=1, do_classifier_free_guidance=True)
        return ({"encoder_hidden_states": pe, "pooled_projections": pp},
                {"encoder_hidden_states": ne, "pooled_projections": npp})
    pe, pp, ids = pipe.encode_prompt(prompt=prompt, prompt_2=None, device=device, num_images_per_prompt=1)
    return {"encoder_hidden_states": pe, "pooled_projections": pp, "txt_ids": ids}, {}


def _digest(family: Family, kind: str, prompt: str | None, label: int | None, guidance: float | None,
            text_digest: bytes) -> bytes:
    h = hashlib.sha256(b"diffc-conditioning/1\x00" + family.name.encode() + b"\x00" + kind.encode() + b"\x00")
    h.update(b"-" if prompt is None else b"P" + struct.pack(">I", len(prompt.encode())) + prompt.encode())
    h.update(b"-" if label is None else b"L" + struct.pack(">q", label))
    h.update(b"-" if guidance is None else b"G" + struct.pack(">d", guidance))
    h.update(text_digest)
    return h.digest()


def condition(pipe: object, family: Family, *, prompt: str | None, class_label: int | None,
              guidance: float | None, text_digest: bytes) -> TextConditioning:
    """The conditioning of a loaded pipeline (see the module docstring)."""
    import torch

    device = pipe.vae.device
    prompt = prompt or None  # an empty prompt is no prompt: the unconditional rule
    if guidance is not None and not math.isfinite(guidance):
        raise ConditioningError(f"the guidance scale must be a finite number, got {guidance}")
    if family.name == "dit":
        if prompt is not None:
            raise ConditioningError("DiT is class-conditional: give a class label, not a prompt")
        n = int(pipe.transformer.config.num_embeds_ada_norm)
        if class_label is not None and not 0 <= class_label < n:
            raise ConditioningError(f"class label {class_label} is not in [0, {n - 1}]")
        uncond = {"class_labels": torch.tensor([n], device=device)}
        cond = None if class_label is None else {"class_labels": torch.tensor([class_label], device=device)}
        kind = "class"
    else:
        if class_label is not None:
            raise ConditioningError(f"{family.name} is text-conditioned: give a prompt, not a class label")
        if prompt is not None:
            _check_prompt(pipe, prompt)
        with torch.inference_mode():
            cond, uncond = _encode(pipe, family, prompt or "", device)
            if family.name == "flux":
                uncond = cond if not prompt else _encode(pipe, family, "", device)[0]
        cond = cond if prompt else None
        zeros = family.name == "sdxl" and bool(pipe.config.get("force_zeros_for_empty_prompt", False))
        kind = "prompt" if prompt else "zeros" if zeros else "empty-prompt"
    cfg = family.name != "flux"
    # The options as given: what a file records (Flux's default guidance is the model's rule).
    options = {"prompt": prompt, "guidance": None if guidance is None else float(guidance),
               "class_label": class_label}
    if family.name == "flux" and pipe.transformer.config.guidance_embeds:
        guidance = FLUX_DEFAULT_GUIDANCE if guidance is None else guidance
    elif family.name == "flux" and guidance is not None:
        raise ConditioningError("this Flux transformer has no guidance embedding (a distilled schnell-like "
                                "model)")
    elif guidance is not None and cond is None:
        raise ConditioningError("guidance needs a prompt (or, for DiT, a class label) to guide towards")
    record = Conditioning(kind, _digest(family, kind, prompt, class_label, guidance, text_digest), **options)
    return TextConditioning(record, uncond, cond, guidance, cfg and guidance is not None)
