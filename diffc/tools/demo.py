"""``make demo``: the main job on the bundled defaults, offline, on a fresh machine.

Compresses the held-out photographs (:func:`diffc.models.data.held_out_photos`: bundled with
scikit-image, scikit-learn and matplotlib, never seen in training), each centre-cropped to
``--size`` pixels (no resizing), with the shipped default model at several stop points of one
progressive file per photo; decodes every prefix with DiffC-F, DiffC-A and the MMSE estimate; codes
the same crops with JPEG, WebP, AVIF (and JPEG XL where it installs) at the matched bitrate; and
writes ``results/demo/``: the .dfc files, decoded PNGs, one CompressAI JSON per method, ``rd.png``
and an image grid per photo. It prints the table and where the files are. Before that, the
Philox4x32-10 known-answer test confirms the shared randomness on this machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

DEFAULT_OUT = Path("results/demo")


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central ``size x size`` pixels (or the whole side when the image is smaller)."""
    h, w = image.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return image[top:top + size, left:left + size]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped one)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder (results/demo)")
    parser.add_argument("--size", type=int, default=64, help="crop side in pixels (default: 64)")
    parser.add_argument("--images", type=int, default=None, help="use only the first N held-out photos")
    parser.add_argument("--stops", default="2,4,8,16", help="step counts to decode at (2,4,8,16)")
    parser.add_argument("--solver-steps", type=int, default=10, help="decoder steps (default: 10)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    from diffc.codec import DiffCCodec
    from diffc.imaging.io import write_png
    from diffc.models import default_model_dir, load_model, set_torch_threads
    from diffc.models.data import held_out_photos
    from diffc.tools.sweep import SweepConfig, run_sweep, table
    from kernels.known_answers import check_known_answers

    checks = check_known_answers()
    ok = all(passed for _, passed in checks)
    print(f"Philox4x32-10 known-answer tests (Random123): {'3 of 3 OK' if ok else 'MISMATCH'}")
    set_torch_threads(args.threads)
    model_dir = args.model or default_model_dir()
    model = load_model(model_dir)
    print(f"model: {model_dir} (fingerprint {model.fingerprint().hex()[:16]})")
    photos = dict(list(held_out_photos().items())[: args.images])
    images = {name.replace("/", "_"): centre_crop(img, args.size) for name, img in photos.items()}
    (args.out / "inputs").mkdir(parents=True, exist_ok=True)
    for name, img in images.items():
        write_png(args.out / "inputs" / f"{name}.png", img)
    stops = tuple(int(v) for v in args.stops.split(","))
    config = SweepConfig(stops=stops, methods=("ode", "sde", "mmse"), seed=args.seed,
                         solver_steps=args.solver_steps)
    codec = DiffCCodec(model, progress=False)
    ch = codec.channel
    print(f"{len(images)} held-out photos, {args.size}x{args.size} centre crops; channel {ch.rule}, "
          f"{ch.chunk_bits}-bit chunks, {ch.headroom_bits} bits of headroom; stops {stops}")
    started = time.perf_counter()
    results = run_sweep(codec, images, config, args.out, progress=not args.quiet)
    print()
    print(table(results))
    print(f"\n{time.perf_counter() - started:.0f} s. Results in {args.out}/: one CompressAI JSON per method, "
          f"rd.png (bpp against PSNR, MS-SSIM, LPIPS), grids/ (original, decoders, codecs at three rates), "
          f"files/ (the .dfc files and every decoded PNG), inputs/")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
