"""Part 4 of the GPU check: DiffC on the GPU, seconds per photo, split into network, search and rest.

Two photos go through :class:`diffc.codec.DiffCCodec` with the shipped default model on the GPU
(float32) and the channel's search on the GPU, default channel preset and step count: a 512x512
photo (``skimage/astronaut``) and a 768x512 one (``sklearn/china``, 640x427, resized with Pillow's
Lanczos filter: no bundled photo has that size). Each is compressed (every step sent) and the file
decompressed with the default decoder (DiffC-F, 20 ODE steps). A warm-up compress of a 64x64 crop
comes first, so that kernel compilation and cuDNN's choices are not in the figures. Seconds are
split as :mod:`benchmarks.diffc_images` splits them (its wrappers, this process only): model
evaluations (``model_s``), the candidate search (``search_s``), the rest of the channel
(``channel_other_s``) and the remainder (``other_s``). Goal (issue 25): a 768x512 compress in at
most 10 s on the H200.

The tiny latent-model row runs only where diffc has latent model support
(``diffc.models.latent`` importable); otherwise it records why it was skipped.
"""

from __future__ import annotations

import importlib.util
import time
from collections import defaultdict

import numpy as np

from benchmarks import diffc_images as timing
from benchmarks.gpu._part import Part, run_part

GOAL_768x512_COMPRESS_S = 10.0
REAL = {"device": "cuda", "sizes": ((512, 512), (512, 768)), "warm_up": 64, "steps": 16, "channel": {}}
DRY = {"device": "cpu", "sizes": ((8, 8), (8, 12)), "warm_up": 8, "steps": 8,
       "channel": {"chunk_bits": 2, "headroom_bits": 1}}
LATENT_MODULE = "diffc.models.latent"


def photo(size: tuple[int, int]) -> tuple[str, np.ndarray]:
    """The photo of ``size`` (height, width): a centre crop of astronaut when square, else china
    resized to the size (module docstring)."""
    from PIL import Image

    from diffc.imaging.io import centre_crop
    from diffc.models.data import held_out_photos

    photos = held_out_photos()
    if size[0] == size[1]:
        return "skimage/astronaut", centre_crop(photos["skimage/astronaut"], size[0])
    resized = Image.fromarray(photos["sklearn/china"]).resize((size[1], size[0]), Image.Resampling.LANCZOS)
    return "sklearn/china (resized)", np.asarray(resized)


def _split(prefix: str, timers: dict[str, float]) -> dict[str, float]:
    parts = timing._breakdown(timers, timers["s"])
    return {f"{prefix}_s": timers["s"], **{f"{prefix}_{k}": v for k, v in parts.items()}}


def photo_row(codec: object, name: str, image: np.ndarray) -> dict:
    from diffc.imaging.metrics import psnr

    encode: defaultdict[str, float] = defaultdict(float)
    decode: defaultdict[str, float] = defaultdict(float)
    with timing._phase(encode):
        out = codec.compress(image, seed=25)
    with timing._phase(decode):
        decoded = codec.decompress(out.data)
    pixels = image.shape[0] * image.shape[1]
    return {"photo": name, "height": image.shape[0], "width": image.shape[1], "bytes": len(out.data),
            "bpp": 8 * len(out.data) / pixels, "psnr": psnr(image, decoded.image),
            **_split("encode", encode), **_split("decode", decode)}


def latent_row() -> dict:
    if importlib.util.find_spec(LATENT_MODULE) is None:
        return {"photo": "tiny latent model", "skipped": f"diffc has no latent model support yet "
                                                         f"({LATENT_MODULE} is not importable)"}
    return {"photo": "tiny latent model", "skipped": f"{LATENT_MODULE} exists, but this check has no "
                                                     "tiny latent model recipe yet (diffc_photos.latent_row)"}


def body(part: Part) -> dict:
    from diffc.codec import DiffCCodec
    from diffc.imaging.io import centre_crop
    from diffc.models import default_model_dir, load_model
    from diffc.models.data import held_out_photos
    from rcc.gaussian import GaussianChannel, preset

    cfg = DRY if part.dry_run else REAL
    started = time.monotonic()
    model = timing._instrument(load_model(default_model_dir(), device=cfg["device"]))
    load_s = time.monotonic() - started
    channel = GaussianChannel(preset(**cfg["channel"]), backend="gpu")
    codec = DiffCCodec(model, channel, steps=cfg["steps"], progress=False)
    started = time.monotonic()
    warm = centre_crop(held_out_photos()["skimage/astronaut"], cfg["warm_up"])
    codec.decompress(codec.compress(warm, seed=0).data)
    warm_up_s = time.monotonic() - started
    for size in cfg["sizes"]:
        if part.remaining() < 20.0:
            part.add({"height": size[0], "width": size[1], "skipped": "the part's budget ran out"})
            continue
        part.add(photo_row(codec, *photo(size)))
    part.add(latent_row())
    wide = [r for r in part.record["rows"] if r.get("width") == 768 and "encode_s" in r]
    return {"config": {**cfg, "channel": channel.spec.describe(), "network_dtype": "float32",
                       "search_backend": "gpu", "decoder": "ode, 20 steps (the codec's default)"},
            "model_load_s": load_s, "warm_up_s": warm_up_s,
            "goal_768x512_compress_s": GOAL_768x512_COMPRESS_S,
            "meets_goal": bool(wide) and wide[0]["encode_s"] <= GOAL_768x512_COMPRESS_S}


if __name__ == "__main__":
    raise SystemExit(run_part("diffc", __doc__.splitlines()[0], body))
