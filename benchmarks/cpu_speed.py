"""DiffC on a whole photograph on the CPU, beside JPEG and WebP timed in the same run.

A held-out photograph (scikit-image's astronaut, 512 x 512; ``--quick``: a 64 x 64 centre crop) is
compressed with the default model and channel, stopping before ``--bpp`` (default 1.0), and
decompressed with the default decoder (DiffC-F, :data:`diffc.codec.DEFAULT_SOLVER` at its default
steps), once per torch thread setting (one thread, and every usable core, the tools' default), and
with every core once more for each further channel preset of ``--presets``, and once more with the
first preset by the same weights attending over the whole token grid instead of the model's
attention windows (:mod:`diffc.models.windowed_attention`; a copy of the folder without its
``diffc_config.json``): the baseline for the windows' time and rate; and once more with the first
preset by a channel that searches every step to the end instead of giving up on a message proven
too long for the budget (``GaussianChannel.send``'s ``max_bytes``; the file is the same): the
baseline for the give-up's time; and once more with the first preset for each further network dtype
of ``--dtypes`` (e.g. ``bfloat16``, which CPUs with AMX or AVX512-BF16 run faster than float32; its
file differs, so its bpp and PSNR are the precision's cost). Each phase's seconds
are split into the network, the candidate search, the rest of the channel and everything else (the
instrumentation of ``diffc_images.py``). JPEG 4:2:0 and WebP code the same photo at the DiffC file's
bpp; the ratios are DiffC's compress + decompress seconds over each codec's encode + decode seconds.
The encoder and decoder are the library's (:class:`diffc.codec.DiffCCodec`), so the file is the one ``diffc
compress`` writes for the same options.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

# Before torch loads, as the command line does: torch's idle threads sleep during the search.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import machine_meta, write_json  # noqa: E402
from benchmarks.diffc_images import _breakdown, _instrument, _phase  # noqa: E402

BASELINES = ("jpeg-420", "webp")
PHASES = ("model_s", "search_s", "channel_other_s", "other_s")


def _searching_to_the_end(spec: object) -> object:
    """A channel of ``spec`` that ignores the byte limit: every step is searched to the end."""
    from rcc.gaussian import GaussianChannel

    class SearchToTheEnd(GaussianChannel):
        def send(self, plan: object, *, max_bytes: int | None = None) -> object:  # noqa: ARG002
            return super().send(plan)

    return SearchToTheEnd(spec)


def _diffc_row(codec: object, channel: str, attention: str, dtype: str, image: np.ndarray, bpp: float,
               threads: int, solver_steps: int | None) -> dict:
    """Compress and decompress ``image`` at ``threads`` torch threads with the ``channel`` preset's
    codec: seconds per phase, bpp, PSNR."""
    from diffc.imaging.metrics import psnr
    from diffc.models import set_torch_threads

    set_torch_threads(threads)
    encode: defaultdict[str, float] = defaultdict(float)
    decode: defaultdict[str, float] = defaultdict(float)
    with _phase(encode):
        out = codec.compress(image, seed=0, bpp=bpp)
    with _phase(decode):
        decoded = codec.decompress(out.data, solver_steps=solver_steps).image
    pixels = image.shape[0] * image.shape[1]
    row = {"method": "diffc", "preset": channel, "threads": threads, "attention": attention, "dtype": dtype,
           "bpp": 8 * len(out.data) / pixels,
           "steps_sent": len(out.steps), "psnr": psnr(image, decoded),
           "compress_s": encode["s"], "decompress_s": decode["s"]}
    row |= {f"compress_{k}": v for k, v in _breakdown(encode, encode["s"]).items()}
    row |= {f"decompress_{k}": v for k, v in _breakdown(decode, decode["s"]).items()}
    row["total_s"] = row["compress_s"] + row["decompress_s"]
    return row


def _baseline_row(name: str, image: np.ndarray, bpp: float) -> dict:
    from diffc.imaging.baselines import available_codecs, match_bpp
    from diffc.imaging.metrics import psnr

    result = match_bpp(available_codecs()[name], image, bpp)
    return {"method": name, "quality": result.quality, "bpp": result.bpp, "psnr": psnr(image, result.decoded),
            "compress_s": result.encode_seconds, "decompress_s": result.decode_seconds,
            "total_s": result.encode_seconds + result.decode_seconds}


def _plot(rows: list[dict], path: Path) -> None:
    """DiffC's seconds stacked by phase on a linear axis; the codecs' seconds in the title (they
    would not show as bars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    diffc = [r for r in rows if r["method"] == "diffc"]
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.55 * len(diffc)))
    labels = [f"{r['preset']} channel{'' if r['gives_up'] else ' searching every step'}, "
              f"{r['threads']} thread{'s' * (r['threads'] > 1)}, {r['attention']}, {r['dtype']}\n"
              f"{r['bpp']:.2f} bpp, {r['psnr']:.2f} dB, {r['steps_sent']} steps sent" for r in diffc]
    left = np.zeros(len(diffc))
    colours = plt.get_cmap("tab20").colors
    for i, (side, phase) in enumerate((s, p) for s in ("compress", "decompress") for p in PHASES):
        widths = np.array([r[f"{side}_{phase}"] for r in diffc])
        ax.barh(labels, widths, left=left, color=colours[i], label=f"{side}: {phase[:-2].replace('_', ' ')}")
        left += widths
    for y, total in enumerate(left):
        ax.text(total, y, f" {total:.0f} s", va="center", fontsize=8)
    ax.set_xlim(0, 1.12 * max(left, default=1))
    ax.set_xlabel("DiffC seconds, compress + decompress")
    ax.tick_params(axis="y", labelsize=8)
    others = ", ".join(f"{r['method']} {1e3 * r['total_s']:.1f} ms" for r in rows if r["method"] != "diffc")
    ax.set_title(f"the codecs at the same bpp, encode + decode: {others}", fontsize=9)
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.45 if len(diffc) < 3 else -0.3))
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    import argparse

    from diffc.diffusion.spacing import DEFAULT_STEPS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 64 x 64 crop, one thread setting")
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--bpp", type=float, default=1.0, help="DiffC stops before this rate (default 1.0)")
    parser.add_argument("--solver-steps", type=int, default=None, help="DiffC-F steps (default: the tools')")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                        help=f"the codec's encoding steps (default {DEFAULT_STEPS}); fewer send fewer to "
                             "reach the rate, each a network pass and a search")
    parser.add_argument("--presets", default="default,fast",
                        help="channel presets, comma-separated; the first is timed at every thread setting")
    parser.add_argument("--dtypes", default="float32",
                        help="network dtypes, comma-separated; the first runs every row, each further one "
                             "a row of its own with the first preset at every core (e.g. float32,bfloat16)")
    args = parser.parse_args(argv)

    from diffc.codec import DEFAULT_SOLVER, DiffCCodec, sampler_for
    from diffc.imaging.io import centre_crop
    from diffc.models import default_model_dir, load_model
    from diffc.models.data import held_out_photos
    from diffc.models.diffusers_folder import usable_cores
    from diffc.models.windowed_attention import CONFIG_NAME, read_window
    from rcc.gaussian import GaussianChannel, preset

    photo = held_out_photos()["skimage/astronaut"]
    image = centre_crop(photo, 64) if args.quick else photo
    settings = [usable_cores()] if args.quick else sorted({1, usable_cores()})
    model_dir = default_model_dir()
    window = read_window(model_dir / "unet")
    windowed = f"windows of {window} tokens" if window else "whole grid"
    dtypes = args.dtypes.split(",")
    models = {(windowed, dtype): _instrument(load_model(model_dir, dtype=dtype)) for dtype in dtypes}
    if window:
        with tempfile.TemporaryDirectory() as scratch:  # the weights stay in memory once loaded
            whole = Path(scratch) / "whole_grid"
            shutil.copytree(model_dir, whole, ignore=shutil.ignore_patterns(CONFIG_NAME))
            models["whole grid", dtypes[0]] = _instrument(load_model(whole, dtype=dtypes[0]))
    presets = args.presets.split(",")
    cores = usable_cores()
    runs = [(presets[0], windowed, dtypes[0], threads, True) for threads in settings] + \
        [(p, windowed, dtypes[0], cores, True) for p in presets[1:]] + \
        [(presets[0], "whole grid", dtypes[0], cores, True)] * bool(window) + \
        [(presets[0], windowed, dtypes[0], cores, False)] + \
        [(presets[0], windowed, dtype, cores, True) for dtype in dtypes[1:]]
    rows = []
    for name, attention, dtype, threads, gives_up in runs:
        channel = GaussianChannel(preset(name)) if gives_up else _searching_to_the_end(preset(name))
        codec = DiffCCodec(models[attention, dtype], channel, steps=args.steps, progress=False)
        codec.compress(centre_crop(photo, 32), seed=0, bpp=8.0)  # Numba compiles here, untimed
        started = time.perf_counter()
        rows.append(_diffc_row(codec, name, attention, dtype, image, args.bpp, threads, args.solver_steps)
                    | {"gives_up": gives_up})
        print(f"DiffC, {name} channel{'' if gives_up else ' searching every step'}, {attention}, {dtype}, "
              f"{threads} thread(s): {rows[-1]['bpp']:.3f} bpp, "
              f"{rows[-1]['psnr']:.2f} dB, compress {rows[-1]['compress_s']:.1f} s + decompress "
              f"{rows[-1]['decompress_s']:.1f} s "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
    # the last preset's file
    at = next(r for r in reversed(rows)
              if r["attention"] == windowed and r["gives_up"] and r["dtype"] == dtypes[0])["bpp"]
    for name in BASELINES:
        rows.append(_baseline_row(name, image, at))
    for row in rows:
        if row["method"] == "diffc":
            row |= {f"over_{r['method']}": row["total_s"] / r["total_s"]
                    for r in rows if r["method"] != "diffc"}
    meta = machine_meta() | {"quick": args.quick, "image": "skimage/astronaut", "size": list(image.shape[:2]),
                             "target_bpp": args.bpp, "solver": DEFAULT_SOLVER,
                             "solver_steps": sampler_for("ode", DEFAULT_SOLVER, args.solver_steps)[1],
                             "steps": args.steps, "dtypes": dtypes,
                             "model": str(model_dir),
                             "fingerprint": models[windowed, dtypes[0]].fingerprint().hex()[:16],
                             "attention_window": window,
                             "channels": {p: preset(p).describe() for p in presets},
                             "usable_cores": usable_cores(),
                             "load_average": os.getloadavg()}
    write_json(args.json, meta, rows)
    _plot(rows, args.json.with_suffix(".png"))


if __name__ == "__main__":
    main()
