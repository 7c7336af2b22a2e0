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

Then a latent round trip: the tiny DiT pipeline of ``tests/tiny_pipelines.py`` (random weights; a
class-conditioned family, so no text encoder and no ``transformers``, which the GPU machine lacks),
built and saved to a temporary folder, loaded with its network and VAE on the device, compresses a
64x64 crop and decompresses it, with the channel's search on the GPU. Its row has the same split
(the VAE is in ``other_s``), the pipeline's build and load seconds, and ``repeat_identical``:
whether a second compress of the same image gave the same bytes (a GPU network must be
deterministic for that; the first compress is also the warm-up). Its PSNR means nothing (random
weights). Every row names its ``model``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from types import ModuleType

import numpy as np

from benchmarks import diffc_images as timing
from benchmarks.gpu._part import Part, run_part

GOAL_768x512_COMPRESS_S = 10.0
REAL = {"device": "cuda", "sizes": ((512, 512), (512, 768)), "warm_up": 64, "steps": 16, "channel": {},
        "latent": {"family": "dit", "size": 64, "steps": 16, "reserve_s": 30.0}}
DRY = {"device": "cpu", "sizes": ((8, 8), (8, 12)), "warm_up": 8, "steps": 8,
       "channel": {"chunk_bits": 2, "headroom_bits": 1}, "latent": {"family": "dit", "size": 8, "steps": 8,
                                                                           "reserve_s": 60.0}}


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


def photo_row(codec: object, model: str, name: str, image: np.ndarray) -> dict:
    from diffc.imaging.metrics import psnr

    encode: defaultdict[str, float] = defaultdict(float)
    decode: defaultdict[str, float] = defaultdict(float)
    with timing._phase(encode):
        out = codec.compress(image, seed=25)
    with timing._phase(decode):
        decoded = codec.decompress(out.data)
    pixels = image.shape[0] * image.shape[1]
    return {"model": model, "photo": name, "height": image.shape[0], "width": image.shape[1],
            "bytes": len(out.data), "sha256": hashlib.sha256(out.data).hexdigest(),
            "bpp": 8 * len(out.data) / pixels, "psnr": psnr(image, decoded.image),
            **_split("encode", encode), **_split("decode", decode)}


def tiny_pipelines() -> ModuleType:
    """``tests/tiny_pipelines.py``, the test suite's tiny pipelines (``tests`` is no package: loaded
    by its path)."""
    path = Path(__file__).resolve().parents[2] / "tests" / "tiny_pipelines.py"
    spec = importlib.util.spec_from_file_location("tiny_pipelines", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def latent_row(cfg: dict, channel: object) -> dict:
    """The latent round trip of the module docstring."""
    from diffc.codec import DiffCCodec
    from diffc.models import load_model

    latent = cfg["latent"]
    name = f"tiny-{latent['family']}"
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        folder = tiny_pipelines().build(latent["family"], Path(tmp) / name)
        built = time.monotonic()
        model = timing._instrument(load_model(folder, device=cfg["device"], progress=False))
        loaded = time.monotonic()
    codec = DiffCCodec(model, channel, steps=latent["steps"], progress=False)
    image = photo((latent["size"], latent["size"]))[1]
    first = codec.compress(image, seed=25)
    row = photo_row(codec, name, "skimage/astronaut (crop)", image)
    return {**row, "family": model.family, "coded_shape": model.coded_shape(image.shape[:2]),
            "steps": latent["steps"], "build_s": built - started, "load_s": loaded - built,
            "repeat_identical": hashlib.sha256(first.data).hexdigest() == row["sha256"]}


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
        if part.remaining() < 20.0 + cfg["latent"]["reserve_s"]:  # seconds the photos leave the latent
            part.add({"model": "default", "height": size[0], "width": size[1],
                      "skipped": "the part's budget ran out"})
            continue
        part.add(photo_row(codec, "default", *photo(size)))
    if part.remaining() < cfg["latent"]["reserve_s"] / 3:
        part.add({"model": f"tiny-{cfg['latent']['family']}", "skipped": "the part's budget ran out"})
    else:
        part.add(latent_row(cfg, channel))
    wide = [r for r in part.record["rows"] if r["model"] == "default" and r.get("width") == 768
            and "encode_s" in r]
    return {"config": {**cfg, "channel": channel.spec.describe(), "network_dtype": "float32",
                       "search_backend": "gpu", "decoder": "ode, 20 steps (the codec's default)"},
            "model_load_s": load_s, "warm_up_s": warm_up_s,
            "goal_768x512_compress_s": GOAL_768x512_COMPRESS_S,
            "meets_goal": bool(wide) and wide[0]["encode_s"] <= GOAL_768x512_COMPRESS_S}


if __name__ == "__main__":
    raise SystemExit(run_part("diffc", __doc__.splitlines()[0], body))
