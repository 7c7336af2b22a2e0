"""DiffC on photographs with a diffusers model: real bpp, quality per decoder, baselines, time breakdown.

Each held-out photo (centre crops, :func:`diffc.imaging.io.centre_crop`) is one job of the sweep
(:func:`diffc.tools.sweep.image_job`): one progressive file is encoded with the model (default:
the shipped one); at each stop point the state the file's prefix decodes to is reconstructed with
DiffC-F, DiffC-A and the MMSE estimate, and JPEG 4:2:0, WebP and AVIF code the same crop at the
quality nearest the prefix's real bpp. A row per image and stop point: ``bpp`` (the prefix's bytes
over the crop's pixels), ``ideal_bpp`` (the sent steps' KLs), PSNR / MS-SSIM / LPIPS per decoder
and baseline, the baselines' bpp, and seconds: encode and decode (reading the prefix, then the
three decoders), each split into model evaluations, candidate search
(:func:`rcc_kernels.search.search`), the rest of the channel (partition, entropy coding, regenerating
the chosen candidates) and the remainder (container, I/O, metrics excluded). The breakdown is
measured by wrapping those functions and the codec's phases in this process only. The
headline ratio is ``bpp / ideal_bpp``: what the real channel and container cost over ideal channel
simulation. Baseline = the classical codecs measured in the same run.

``--channels`` repeats all of it for several channel settings (a preset name of
:data:`rcc.gaussian.PRESETS` or ``CHUNK/HEADROOM``), each row naming its ``channel``. A
biased channel reaches a stop with a worse state than the sum of its KLs pays for, so ``bpp /
ideal_bpp`` flatters it; the summary rows therefore also give ``bpp_at_equal_psnr``: the real bpp
over the bpp that the ``exact`` preset's *ideal* curve (its ideal bpp against its DiffC-F PSNR,
nearly unbiased) needs for the same PSNR, interpolated in log bpp at each stop (None outside that
curve's range, or when ``exact`` is not among the channels).
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import machine_meta, write_json  # noqa: E402

TIMERS: dict[str, float] = defaultdict(float)
METHODS = ("ode", "sde", "mmse")
BASELINES = ("jpeg-420", "webp", "avif")


def _timed(name: str, fn: Callable) -> Callable:
    def wrapper(*args: object, **kwargs: object) -> object:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMERS[name] += time.perf_counter() - started
    wrapper.timed = True
    return wrapper


def _instrument(model: object) -> object:
    """Time model evaluations, the candidate search and the channel (this process only; the
    channel is instrumented once, however many models are)."""
    import dataclasses

    import rcc.gaussian.channel as gc

    if not getattr(gc.search, "timed", False):
        gc.search = _timed("search", gc.search)
        # encode is plan then send: timing those two counts it once whichever the caller uses
        for method in ("plan", "send", "decode"):
            setattr(gc.GaussianChannel, method, _timed("channel", getattr(gc.GaussianChannel, method)))
    return dataclasses.replace(model, denoiser=dataclasses.replace(
        model.denoiser, fn=_timed("model", model.denoiser.fn)))


@contextmanager
def _phase(into: defaultdict[str, float]) -> Iterator[None]:
    """Add a block's seconds (``"s"``) and its timers to ``into``."""
    TIMERS.clear()
    started = time.perf_counter()
    try:
        yield
    finally:
        into["s"] += time.perf_counter() - started
        for name, seconds in TIMERS.items():
            into[name] += seconds


def _timed_codec(model: object, channel: object) -> object:
    """The codec with the time of each phase of the sweep's job recorded: the encode, reading the
    file (cumulative over its one pass) and every reconstruction, with the reading before it."""
    from diffc.codec import DiffCCodec

    class TimedCodec(DiffCCodec):
        def compress(self, image: np.ndarray, **options: object) -> object:
            self.encode, self.read = defaultdict(float), defaultdict(float)
            self.reconstructions: list[tuple[dict[str, float], dict[str, float]]] = []
            with _phase(self.encode):
                self.encoded = super().compress(image, **options)
            return self.encoded

        def decode_states(self, data: bytes) -> Iterator[object]:
            states = super().decode_states(data)
            try:
                while True:
                    with _phase(self.read):
                        state = next(states, None)
                    if state is None:
                        return
                    yield state
            finally:
                states.close()

        def reconstruct(self, state: object, **options: object) -> np.ndarray:
            own: defaultdict[str, float] = defaultdict(float)
            with _phase(own):
                image = super().reconstruct(state, **options)
            self.reconstructions.append((dict(self.read), own))
            return image

    return TimedCodec(model, channel, progress=False)


def _breakdown(timers: Mapping[str, float], total: float) -> dict[str, float]:
    parts = {"model_s": timers.get("model", 0.0), "search_s": timers.get("search", 0.0),
             "channel_other_s": timers.get("channel", 0.0) - timers.get("search", 0.0)}
    parts["other_s"] = total - sum(parts.values())
    return parts


def _measure_image(codec: object, name: str, image: np.ndarray, stops: list[int], solver_steps: int,
                   seed: int) -> list[dict]:
    """The sweep's job on one image (:func:`diffc.tools.sweep.image_job`), one row per stop."""
    from diffc.imaging.metrics import METRICS
    from diffc.tools.sweep import METHOD_NAMES, SweepConfig, image_job

    config = SweepConfig(stops=tuple(stops), methods=METHODS, baselines=BASELINES, seed=seed,
                         solver_steps=solver_steps)
    result = image_job(codec, config, (name, image)).result["methods"]
    enc = codec.encoded
    encode = {"encode_s": enc.seconds,
              **{f"encode_{k}": v for k, v in _breakdown(codec.encode, enc.seconds).items()}}
    rows = []
    for i, first in enumerate(result[METHOD_NAMES[METHODS[0]]]):
        row = {"image": name, "stop": first["stop"], "bpp": first["bpp"], "ideal_bpp": first["ideal_bpp"],
               **encode}
        row["bpp_over_ideal"] = row["bpp"] / row["ideal_bpp"]
        timed = codec.reconstructions[i * len(METHODS):(i + 1) * len(METHODS)]
        decode = defaultdict(float, timed[0][0])  # reading the file up to this stop
        row["read_s"] = decode["s"]
        for method, (_, own) in zip(METHODS, timed, strict=True):
            row[f"{method}_s"] = own["s"]
            row |= {f"{method}_{m}": result[METHOD_NAMES[method]][i][m] for m in METRICS}
            for key, seconds in own.items():
                decode[key] += seconds
        row |= {f"decode_{key}": v for key, v in _breakdown(decode, decode["s"]).items()}
        for b in (b for b in BASELINES if b in result):
            res = result[b][i]
            row |= {f"{b}_bpp": res["bpp"], f"{b}_quality": res["quality"],
                    **{f"{b}_{m}": res[m] for m in METRICS}}
        rows.append(row)
    return rows


def _channel(spec: str) -> object:
    """A preset name or ``CHUNK/HEADROOM`` (the default preset's other settings)."""
    from rcc.gaussian import GaussianChannel, preset

    if "/" in spec:
        chunk, headroom = (int(v) for v in spec.split("/"))
        return GaussianChannel(preset(chunk_bits=chunk, headroom_bits=headroom))
    return GaussianChannel(preset(spec))


def _stop_means(rows: list[dict], key: str) -> dict[int, float]:
    stops = sorted({r["stop"] for r in rows})
    return {k: float(np.mean([r[key] for r in rows if r["stop"] == k])) for k in stops}


def _summaries(rows: list[dict]) -> list[dict]:
    """Per channel and stop: means over images, and the real bpp at equal PSNR over the exact
    preset's ideal curve (module docstring)."""
    exact = [r for r in rows if r["channel"] == "exact"]
    curve = None
    if exact:
        ideal, psnr = _stop_means(exact, "ideal_bpp"), _stop_means(exact, "ode_psnr-rgb")
        points = sorted((psnr[k], np.log(ideal[k])) for k in psnr)  # np.interp needs increasing PSNR
        curve = (np.array([p for p, _ in points]), np.array([b for _, b in points]))
    out = []
    for channel in dict.fromkeys(r["channel"] for r in rows):
        mine = [r for r in rows if r["channel"] == channel]
        means = {key: _stop_means(mine, key) for key in ("bpp", "ideal_bpp", "ode_psnr-rgb", "ode_lpips",
                                                          "sde_lpips", "encode_s")}
        for k in means["bpp"]:
            row = {"protocol": "summary", "channel": channel, "stop": k,
                   **{key: values[k] for key, values in means.items()}}
            row["bpp_over_ideal"] = row["bpp"] / row["ideal_bpp"]
            inside = curve is not None and curve[0].min() <= row["ode_psnr-rgb"] <= curve[0].max()
            row["bpp_at_equal_psnr"] = (row["bpp"] / float(np.exp(np.interp(row["ode_psnr-rgb"], *curve)))
                                        if inside else None)
            out.append(row)
    return out


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    channels = list(dict.fromkeys(r["channel"] for r in rows))
    first = [r for r in rows if r["channel"] == channels[0]]

    def mean(key: str, subset: list[dict]) -> list[float]:
        return list(_stop_means(subset, key).values())

    for i, channel in enumerate(channels):
        mine = [r for r in rows if r["channel"] == channel]
        bpp = mean("bpp", mine)
        methods = (("ode", "DiffC-F"), ("sde", "DiffC-A"), ("mmse", "DiffC-MMSE"))
        for method, label in methods if i == 0 else methods[:1]:
            axes[0].plot(bpp, mean(f"{method}_psnr-rgb", mine), "o-", label=f"{label} ({channel})")
        axes[0].plot(mean("ideal_bpp", mine), mean("ode_psnr-rgb", mine), "o--", color=f"C{i}", alpha=0.6,
                     label=f"DiffC-F at the ideal bpp ({channel})")
    for b in (b for b in BASELINES if f"{b}_bpp" in rows[0]):
        axes[0].plot(mean(f"{b}_bpp", first), mean(f"{b}_psnr-rgb", first), "s:", label=b)
    axes[0].set(xlabel="bpp", ylabel="PSNR (dB)", title="rate-distortion (means over images)")
    axes[0].legend(fontsize=6)
    parts = ("model_s", "search_s", "channel_other_s", "other_s")
    bars = [(f"encode\n{c}", "encode", c) for c in channels] + [("decode (per stop,\n3 decoders)", "decode",
                                                                  channels[0])]
    for i, (_, phase, channel) in enumerate(bars):
        bottom = 0.0
        for j, part in enumerate(parts):
            value = float(np.mean([r[f"{phase}_{part}"] for r in rows if r["channel"] == channel]))
            axes[1].bar(i, value, bottom=bottom, color=f"C{j}", label=part if i == 0 else None)
            bottom += value
    axes[1].set_xticks(range(len(bars)), [b[0] for b in bars], fontsize=7)
    axes[1].set(ylabel="seconds per image", title="where the time goes")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI and smoke runs")
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped one)")
    parser.add_argument("--channels", default="default",
                        help="comma-separated channel settings: preset names or CHUNK/HEADROOM (default: "
                             "the default preset)")
    parser.add_argument("--images", type=int, default=None, help="held-out photos (default 8, quick 2)")
    args = parser.parse_args(argv)

    from diffc.codec import DEFAULT_SOLVER
    from diffc.imaging.io import centre_crop
    from diffc.models import default_model_dir, load_model, set_torch_threads
    from diffc.models.data import held_out_photos

    size, n_images, stops, solver_steps = (32, 2, [8, 16], 4) if args.quick else (64, 8, [4, 8, 12, 16], 10)
    n_images = args.images or n_images
    seed = 2024
    set_torch_threads(1)
    model = _instrument(load_model(args.model or default_model_dir()))
    channels = {spec: _channel(spec) for spec in args.channels.split(",")}
    photos = dict(list(held_out_photos().items())[:n_images])
    rows = []
    for spec, channel in channels.items():
        codec = _timed_codec(model, channel)
        for name, photo in photos.items():
            mine = [r | {"channel": spec}
                    for r in _measure_image(codec, name, centre_crop(photo, size), stops, solver_steps, seed)]
            rows += mine
            print(f"{spec} {name}: " + ", ".join(
                f"stop {r['stop']} {r['bpp']:.3f} bpp ({r['bpp_over_ideal']:.2f}x ideal), "
                f"F {r['ode_psnr-rgb']:.2f} dB" for r in mine))
    summaries = _summaries(rows)
    for r in summaries:
        equal = "-" if r["bpp_at_equal_psnr"] is None else f"{r['bpp_at_equal_psnr']:.2f}x"
        print(f"{r['channel']:>8} stop {r['stop']:2d}: {r['bpp']:.3f} bpp ({r['bpp_over_ideal']:.2f}x its "
              f"ideal, {equal} the exact ideal at equal PSNR), F {r['ode_psnr-rgb']:.2f} dB, LPIPS F "
              f"{r['ode_lpips']:.3f} A {r['sde_lpips']:.3f}, encode {r['encode_s']:.1f} s")
    settings = {spec: asdict(ch.spec) for spec, ch in channels.items()}
    meta = machine_meta() | {"quick": args.quick, "size": size, "stops": stops, "solver_steps": solver_steps,
                             "solver": DEFAULT_SOLVER,
                             "seed": seed, "model": str(args.model or default_model_dir()),
                             "fingerprint": model.fingerprint().hex()[:16], "channels": settings,
                             "steps": codec.steps}
    write_json(args.json, meta, rows + summaries)
    _plot(rows, args.json.with_suffix(".png"))


if __name__ == "__main__":
    main()
