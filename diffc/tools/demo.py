"""The demo (``diffc demo``, ``make demo``): the main job on the bundled defaults, offline.

Compresses the held-out photographs (:func:`diffc.models.data.held_out_photos`: bundled with
scikit-image, scikit-learn and matplotlib, never seen in training), each centre-cropped to
``size`` pixels (no resizing), with the shipped default model at several stop points of one
progressive file per photo; decodes every prefix with DiffC-F, DiffC-A and the MMSE estimate; codes
the same crops with JPEG, WebP, AVIF (and JPEG XL where it installs) at the matched bitrate; refines
the JPEG 4:2:0 and WebP files with the same model (:mod:`diffc.refine`, the ancestral sampler: one
decoder on two codecs keeps the demo short); and writes ``results/demo/``: the .dfc files, decoded
PNGs, one CompressAI JSON per method, ``rd.png`` and an image grid per photo. It prints the table
and where the files are. Before that, the Philox4x32-10 known-answer test confirms the shared
randomness on this machine.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from diffc.codec import DiffCCodec
from diffc.imaging.io import centre_crop, write_png
from diffc.imaging.realism import MIN_PATCHES, PATCH
from diffc.models import default_model_dir, load_model, set_torch_threads
from diffc.models.data import held_out_photos
from diffc.tools.sweep import SweepConfig, run_sweep, table
from rcc_kernels.known_answers import check_known_answers

__all__ = ["REFINED_BASELINES", "REFINE_DECODERS", "realism_crop_side", "run_demo"]


def realism_crop_side(crops: int) -> int:
    """The smallest crop side, a multiple of the realism patch, at which ``crops`` crops give
    :data:`~diffc.imaging.realism.MIN_PATCHES` patches. The coding time grows with the pixels
    coded, so realism costs the demo as many pixels as it needs patches."""
    per_crop = -(-MIN_PATCHES // crops)
    return PATCH * (math.isqrt(per_crop - 1) + 1)


REFINED_BASELINES = ("jpeg-420", "webp")
"""The classical codecs whose files the demo also refines, shown as ``<codec>+refine-<decoder>``."""
REFINE_DECODERS = ("sde",)
"""The refine decoders the demo runs on them: the ancestral sampler, the realism end of the trade-off."""


def run_demo(*, model: Path | None, out: Path, size: int, images: int | None, stops: tuple[int, ...],
             solver_steps: int | None, solver: str, threads: int | None, seed: int, progress: bool) -> bool:
    """Run the demo (see the module docstring; ``diffc demo --help`` gives the defaults) on the first
    ``images`` held-out photos (None: all) with ``model`` (None: the shipped one) into ``out``; True
    when the known-answer tests passed."""
    checks = check_known_answers()
    ok = all(passed for _, passed in checks)
    print(f"Philox4x32-10 known-answer tests (Random123): {'3 of 3 OK' if ok else 'MISMATCH'}")
    set_torch_threads(threads)
    model_dir = model or default_model_dir()
    image_model = load_model(model_dir)
    print(f"model: {model_dir} (fingerprint {image_model.fingerprint().hex()[:16]})")
    photos = dict(list(held_out_photos().items())[:images])
    crops = {name.replace("/", "_"): centre_crop(img, size) for name, img in photos.items()}
    (out / "inputs").mkdir(parents=True, exist_ok=True)
    for name, img in crops.items():
        write_png(out / "inputs" / f"{name}.png", img)
    config = SweepConfig(stops=stops, methods=("ode", "sde", "mmse"), seed=seed, solver_steps=solver_steps,
                         solver=solver, refine=REFINE_DECODERS, refine_baselines=REFINED_BASELINES)
    codec = DiffCCodec(image_model, progress=False)
    print(f"{len(crops)} held-out photos, {size}x{size} centre crops; channel "
          f"{codec.channel.spec.describe()}; stops {stops}; {' and '.join(REFINED_BASELINES)} also "
          f"refined by the model ({', '.join(REFINE_DECODERS)})")
    started = time.perf_counter()
    results = run_sweep(codec, crops, config, out, progress=progress)
    print()
    print(table(results))
    patches = max((n for m in results.values() for n in m["results"]["patches"]), default=0)
    if patches < MIN_PATCHES:
        side = realism_crop_side(len(crops))
        fits = side <= min(min(img.shape[:2]) for img in photos.values())
        larger = (f"--size {side} gives {len(crops) * (side // PATCH) ** 2}, at about "
                  f"{(side / size) ** 2:.0f}x this run's coding time; " if fits else "")
        print(f"KID-AlexNet is '-': the {len(crops)} crops give {patches} patches of {PATCH}x{PATCH} px, and "
              f"realism needs at least {MIN_PATCHES} ({larger}or benchmarks/diffc_rdp.py)")
    print(f"\n{time.perf_counter() - started:.0f} s. Results in {out}/: one CompressAI JSON per method, "
          f"rd.png (bpp against PSNR, MS-SSIM, LPIPS, KID-AlexNet), grids/ (original, decoders, codecs and "
          f"refined codecs at three rates), "
          f"files/ (the .dfc files and every decoded PNG), inputs/")
    return ok
