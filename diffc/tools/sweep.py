"""Rate sweeps: DiffC decoders and classical codecs on the same images, in CompressAI's JSON layout.

A sweep is a list of jobs, one per image (stable job id: a hash of the image's pixels, the model
fingerprint, the codec settings and the sweep settings). A job encodes its image **once** into a
progressive file, decodes the file's prefixes at every stop point with every decoder (metrics are
computed on what the decoder produced from the file's bytes, never on the encoder's state), and
codes the image with every classical baseline at the quality whose bpp is nearest the DiffC file's
real bpp at that stop. Jobs run on :mod:`rcc.experiments.runner`: in this process, on local
processes or on Ray, each worker loading the model once (:class:`CodecSpec`). A job computes from
its image and the sweep's settings alone, so the ``.dfc`` files are byte-identical and the metrics
the same on every executor (only the timings differ). The driver writes each finished job's files
(``files/<image>/``) and then ``jobs/<image>.json``, atomically (temporary name, then rename), so a
rerun skips finished jobs, an interrupted sweep resumes, and a job that keeps failing is recorded in
``jobs/<image>.failed.json`` without stopping the others.

:func:`merge` rebuilds, from the job results alone, one CompressAI JSON per method (``name``,
``description``, ``results`` with lists ``bpp``, ``psnr-rgb``, ``ms-ssim-rgb``, ``lpips``,
``encoding_time``, ``decoding_time``: one entry per stop point, each the mean over the images; and
the set-level realism of the saved reconstructions, ``fd-alexnet``, ``kid-alexnet``, their
``-stderr`` and the ``patches`` they pooled, :mod:`diffc.imaging.realism`), the RD plot
and one image grid per image. Metrics a small image cannot have (MS-SSIM needs more than 10
pixels a side, LPIPS 31) are ``null`` and left out of the means. When images are missing (failed,
or an interrupted run) the merged outputs are labelled partial, and ``sweep.json`` lists what is
missing and why.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, astuple, dataclass
from pathlib import Path

import numpy as np

from diffc.codec import DEFAULT_SOLVER, DEFAULT_STEPS, DiffCCodec, sampler_for
from diffc.container import fingerprint_id, truncate
from diffc.imaging.io import ImageError, encode_png, match_channels, read_image
from diffc.imaging.metrics import METRICS, result_metrics
from diffc.models import default_model_dir, load_model
from diffc.refine.codec import RefineCodec
from rcc.experiments import Executor, InProcess, Job, JobOutput, Report, ResultStore, atomic_write, run_jobs
from rcc.gaussian import PRESETS, ChannelSpec, GaussianChannel
from rcc_kernels.search import backend_for_device

__all__ = ["METHOD_NAMES", "CodecSpec", "SweepConfig", "eta_name", "find_images", "image_job", "job_id",
           "load_images", "merge", "run_sweep", "sweep", "table"]

METHOD_NAMES = {"ode": "DiffC-F", "sde": "DiffC-A", "mmse": "DiffC-MMSE"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
JOB_FORMAT = 1


@dataclass(frozen=True)
class SweepConfig:
    """What every job of a sweep does (part of each job's id).

    ``stops``: the numbers of encoding steps to decode at (default: four points spread over the
    second half of the schedule, where the images are recognisable); ``methods``: decoders among
    :data:`METHOD_NAMES`; ``baselines``: classical codec names (default: all available here);
    ``solver_steps`` and ``solver``: the decoders' steps (None: each sampler's default) and DiffC-F's
    ODE solver (:func:`diffc.codec.sampler_for`); ``grid_stops``: how many stop points the image
    grid shows; ``etas``: extra decoders, DDIM with noise level eta in [0, 1] between DiffC-F (eta 0)
    and DiffC-A (named :func:`eta_name`), for the realism-distortion traversal
    (:mod:`diffc.tools.traversal`).
    ``refine``: decoders among :data:`METHOD_NAMES` that also refine every baseline's file
    (:mod:`diffc.refine`), each a method ``<baseline>+refine-<decoder>`` at the refine file's own bpp;
    ``refine_baselines``: refine only these baselines' files (default: every baseline's).
    """

    stops: tuple[int, ...] | None = None
    methods: tuple[str, ...] = ("ode", "sde", "mmse")
    baselines: tuple[str, ...] | None = None
    seed: int = 0
    solver_steps: int | None = None
    solver: str = DEFAULT_SOLVER
    grid_stops: int = 3
    etas: tuple[float, ...] = ()
    refine: tuple[str, ...] = ()
    refine_baselines: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if any(not 0.0 <= e <= 1.0 for e in self.etas):
            raise ValueError(f"etas must lie in [0, 1], got {self.etas}")
        unknown = set(self.methods) - set(METHOD_NAMES)
        if unknown or not self.methods:
            raise ValueError(f"methods must be among {sorted(METHOD_NAMES)}, got {self.methods}")
        if set(self.refine) - set(METHOD_NAMES):
            raise ValueError(f"refine decoders must be among {sorted(METHOD_NAMES)}, got {self.refine}")
        if self.refine_baselines is not None and not self.refine_baselines:
            raise ValueError("refine_baselines must name at least one baseline (None: all of them)")
        if self.stops is not None and (not self.stops or min(self.stops) < 1):
            raise ValueError(f"stops must be positive step counts, got {self.stops}")


def eta_name(eta: float) -> str:
    """The method name of the DDIM decoder with noise level ``eta``."""
    return f"DiffC-eta{eta:g}"


def _decoders(config: SweepConfig) -> list[tuple[str, str, float | None]]:
    """(name, codec method, eta) of every decoder a job runs."""
    fixed = [(METHOD_NAMES[m], m, None) for m in config.methods]
    return fixed + [(eta_name(e), "eta", e) for e in config.etas]


def find_images(paths: Sequence[str | Path]) -> dict[str, Path]:
    """Image files named by ``paths`` (files, or folders searched non-recursively), by unique name."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such image or folder")
    named: dict[str, Path] = {}
    for f in files:
        name, n = f.stem, 1
        while name in named:
            n += 1
            name = f"{f.stem}-{n}"
        named[name] = f
    if not named:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {', '.join(map(str, paths))}")
    return named


@dataclass(frozen=True)
class CodecSpec:
    """How every worker builds the sweep's codec (picklable, so it travels to processes and Ray
    actors; each loads the model once). ``model``: a model folder, or None for the shipped default
    (found on each worker, wherever the package is installed there); ``channel``: the channel's
    settings; ``prompt``, ``guidance``, ``class_label``: what a latent model is conditioned on
    (:func:`diffc.models.load_model`; None: its unconditional default)."""

    model: str | None = None
    device: str = "cpu"
    dtype: str = "float32"
    channel: ChannelSpec = PRESETS["default"]
    steps: int = DEFAULT_STEPS
    prompt: str | None = None
    guidance: float | None = None
    class_label: int | None = None

    def build(self, device: str | None = None) -> DiffCCodec:
        """The codec, with its model and its channel's search on ``device`` (default: the spec's)."""
        device = device or self.device
        model = load_model(self.model or default_model_dir(), device=device, dtype=self.dtype,
                           prompt=self.prompt, guidance=self.guidance, class_label=self.class_label,
                           progress=False)  # the sweep's own bars say what each worker does
        channel = GaussianChannel(self.channel, backend=backend_for_device(device))
        return DiffCCodec(model, channel, steps=self.steps, progress=False)


def _stops(config: SweepConfig, n_steps: int) -> list[int]:
    if config.stops is not None:
        if max(config.stops) > n_steps:  # refused, not clamped: a clamped sweep measures other points
            raise ValueError(f"stops {config.stops} go beyond the file's {n_steps} steps")
        return sorted(set(config.stops))
    return sorted({int(round(v)) for v in np.linspace(n_steps / 2, n_steps, 4)})


def _options(codec: DiffCCodec) -> dict[str, object]:
    """The conditioning options the sweep's model was given (empty when it runs unconditioned)."""
    return {k: v for k, v in codec.model.conditioning.options.items() if v is not None}


def job_id(codec: DiffCCodec, image: np.ndarray, config: SweepConfig) -> str:
    h = hashlib.sha256(f"diffc-sweep-job/{JOB_FORMAT}\x00".encode())
    h.update(codec.model.fingerprint())
    h.update(repr((*astuple(codec.channel.spec), codec.steps)).encode())
    if _options(codec):  # unconditioned sweeps keep the job ids they had before the options existed
        h.update(json.dumps(_options(codec), sort_keys=True).encode())
    settings = asdict(config)
    for added in ("refine", "etas", "refine_baselines"):
        if not settings[added]:
            del settings[added]  # sweeps without these options keep the job ids they had before they existed
    h.update(json.dumps(settings, sort_keys=True).encode())
    h.update(repr(image.shape).encode() + image.tobytes())
    return h.hexdigest()[:16]


def image_job(codec: DiffCCodec, config: SweepConfig, args: tuple[str, np.ndarray],
              progress: bool = False) -> JobOutput:
    """Encode one image once, decode every stop with every method, match every baseline.

    ``args``: (name, image). Returns the job's result and files (``files/<name>/...``), written by
    the runner. ``progress``: one tqdm bar for this image (encode, then each stop's decoders and
    baselines)."""
    from tqdm.auto import tqdm

    from diffc.imaging.baselines import available_codecs, match_bpp

    name, image = args
    image = match_channels(image, codec.model.image_channels, name)
    folder = f"files/{name}"
    files = {f"{folder}/original.png": encode_png(image)}
    codecs = available_codecs()
    baselines = [b for b in (config.baselines or tuple(codecs)) if b in codecs]
    bar = tqdm(total=1, desc=name, unit="task", disable=not progress)
    encoded = codec.compress(image, seed=config.seed)
    files[f"{folder}/{name}.dfc"] = encoded.data
    stops = _stops(config, len(encoded.steps))
    decoders = _decoders(config)
    refined = {(b, m): f"{b}+refine-{m}" for b in baselines for m in config.refine
               if config.refine_baselines is None or b in config.refine_baselines}
    bar.total = 1 + len(stops) * (len(decoders) + len(baselines) + len(refined))
    bar.update()
    pixels = image.shape[0] * image.shape[1]
    rows: dict[str, list[dict]] = {m: [] for m in (*(d[0] for d in decoders), *baselines, *refined.values())}
    refiner = RefineCodec(codec.model, progress=False)
    # One pass over the file gives the state every prefix decodes to (decoding each prefix from
    # its own bytes replays the same steps, bit for bit); read_s is a receiver's time to that step.
    states, read_s = codec.decode_states(encoded.data), 0.0
    for k in range(1, max(stops) + 1):
        started = time.perf_counter()
        state = next(states)
        read_s += time.perf_counter() - started
        if k not in stops:
            continue
        bpp = 8 * len(truncate(encoded.data, k)) / pixels
        enc_s = sum(s.seconds for s in encoded.steps[:k])
        ideal = sum(s.kl_bits for s in encoded.steps[:k]) / pixels
        for method_name, method, eta in decoders:
            started = time.perf_counter()
            decoded = codec.reconstruct(state, method=method, eta=eta, solver_steps=config.solver_steps,
                                        solver=config.solver)
            dec_s = read_s + time.perf_counter() - started
            png = f"{folder}/{method_name}_k{k:03d}.png"
            files[png] = encode_png(decoded)
            rows[method_name].append({
                "stop": k, "t": state.t, "bpp": bpp, "ideal_bpp": ideal, **result_metrics(image, decoded),
                "encoding_time": enc_s, "decoding_time": dec_s, "png": png})
            bar.update()
        for b in baselines:
            res = match_bpp(codecs[b], image, bpp)
            png = f"{folder}/{b}_k{k:03d}.png"
            files[png] = encode_png(res.decoded)
            rows[b].append({"stop": k, "target_bpp": bpp, "bpp": res.bpp, "quality": res.quality,
                            **result_metrics(image, res.decoded), "encoding_time": res.encode_seconds,
                            "decoding_time": res.decode_seconds, "png": png})
            bar.update()
            for m in (m for m in config.refine if (b, m) in refined):
                started = time.perf_counter()
                data = refiner.wrap(image, b, res.data, seed=config.seed)
                wrap_s = time.perf_counter() - started
                out = refiner.decompress(data, method=m, solver_steps=config.solver_steps,
                                         solver=config.solver)
                png = f"{folder}/{refined[b, m]}_k{k:03d}.png"
                files[png] = encode_png(out.image)
                rows[refined[b, m]].append({
                    "stop": k, "target_bpp": bpp, "bpp": out.bpp, "quality": res.quality, "t": out.t,
                    **result_metrics(image, out.image), "encoding_time": res.encode_seconds + wrap_s,
                    "decoding_time": out.seconds, "png": png})
                bar.update()
    states.close()
    bar.close()
    result = {"format": JOB_FORMAT, "image": name, "size": list(image.shape[:2]), "file_bpp": encoded.bpp,
              "file_ideal_bpp": encoded.ideal_bpp, "steps": len(encoded.steps), "methods": rows}
    return JobOutput(result, files)


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def merge(results: Sequence[Mapping], out: Path, expected: int | None = None,
          description: Mapping[str, str] | None = None) -> dict[str, dict]:
    """CompressAI JSON per method, the RD plot and image grids, rebuilt from job results; fewer
    results than ``expected`` images label every description and the plot title partial."""
    from diffc.imaging.plots import rd_plot

    methods: dict[str, dict] = {}
    keys = ("bpp", *METRICS, "encoding_time", "decoding_time")
    partial = expected is not None and len(results) < expected
    features: dict[str, object] = {}  # patch features per saved PNG, shared by methods and stops
    label = f" [partial: {len(results)} of {expected} images]" if partial else ""
    for name in dict.fromkeys(m for r in results for m in r["methods"]):
        per_stop: dict[int, list[dict]] = {}
        for r in results:
            for row in r["methods"].get(name, []):
                per_stop.setdefault(row["stop"], []).append(row)
        stops = sorted(per_stop)
        realism = [_realism([row["png"] for row in per_stop[k]], out, features) for k in stops]
        methods[name] = {
            "name": name,
            "description": (description or {}).get(name, name) + label,
            "results": {"stop": stops, "images": [len(per_stop[k]) for k in stops],
                        **{key: [_mean([row.get(key) for row in per_stop[k]]) for k in stops]
                           for key in keys},
                        **{key: [r[key] for r in realism] for key in realism[0]}},
        }
        atomic_write(out / f"{name}.json", json.dumps(methods[name], indent=1).encode())
    title = f"{len(results)} image(s)" + (f" (partial: {len(results)} of {expected})" if partial else "")
    if methods:
        rd_plot(list(methods.values()), out / "rd.png", title=title)
    for r in results:
        _grid(r, out)
    return methods


def _realism(pngs: Sequence[str], out: Path, cache: dict) -> dict[str, float | int | None]:
    """Set-level realism of one method at one stop point (docs/metrics.md): the pooled patches of
    its saved reconstructions against those of the originals beside them."""
    import torch

    from diffc.imaging.realism import image_features, result_columns

    def pooled(paths: list[str]) -> torch.Tensor:
        new = [path for path in dict.fromkeys(paths) if path not in cache]
        cache.update(zip(new, image_features([read_image(out / path) for path in new]), strict=True))
        return torch.cat([cache[path] for path in paths])

    return result_columns(pooled([str(Path(p).parent / "original.png") for p in pngs]), pooled(list(pngs)))


def _grid(result: Mapping, out: Path) -> None:
    from diffc.imaging.plots import image_grid

    original = read_image(out / "files" / result["image"] / "original.png")
    stops = sorted({row["stop"] for rows in result["methods"].values() for row in rows})
    if not stops:
        return
    shown = [stops[int(round(i))] for i in np.linspace(0, len(stops) - 1, min(3, len(stops)))]
    rows = []
    for k in dict.fromkeys(shown):
        row = [("original", original, result["image"])]
        for name, entries in result["methods"].items():
            entry = next((e for e in entries if e["stop"] == k), None)
            if entry is None:
                row.append(None)
                continue
            psnr = entry.get("psnr-rgb")
            caption = f"{entry['bpp']:.3f} bpp" + (f", {psnr:.1f} dB" if psnr is not None else "")
            row.append((name, read_image(out / entry["png"]), caption))
        rows.append(row)
    (out / "grids").mkdir(exist_ok=True)
    image_grid(rows, out / "grids" / f"{result['image']}.png", title=f"{result['image']}: rows = stop points")


def _worker(spec: CodecSpec, config: SweepConfig) -> Callable[[tuple[str, np.ndarray]], JobOutput]:
    """Worker factory: load the model once, then run image jobs."""
    return functools.partial(image_job, spec.build(), config)


def sweep(codec: DiffCCodec | CodecSpec, images: Mapping[str, np.ndarray | ImageError], config: SweepConfig,
          out: Path, *, executor: Executor | None = None, retries: int = 1, progress: bool = True,
          on_result: Callable[[dict], None] | None = None) -> tuple[dict[str, dict], Report]:
    """Run (or resume) a sweep on ``executor`` (default: in this process) and merge what is finished.

    ``codec``: a :class:`CodecSpec` (any executor: each worker builds the codec once) or a built
    codec (in this process only); ``images`` by name, an :class:`ImageError` (an unreadable file,
    :func:`load_images`) standing for a job that failed without running. Returns the merged
    CompressAI results by method and the runner's report; ``out/sweep.json`` says which images
    are missing or failed and names the model (the first 64 bits of its fingerprint)."""
    executor = executor or InProcess()
    in_process = isinstance(executor, InProcess)
    if not isinstance(codec, CodecSpec):
        if not in_process:
            raise ValueError("a sweep on other processes or Ray needs a CodecSpec, not a built codec")
        local = codec
    else:
        # Elsewhere the driver's copy only names jobs and describes methods: the fingerprint does not
        # depend on the device, so the CPU will do.
        local = codec.build() if in_process else codec.build(device="cpu")
    factory = (lambda: functools.partial(image_job, local, config, progress=progress)) if in_process \
        else functools.partial(_worker, codec, config)
    out.mkdir(parents=True, exist_ok=True)
    unreadable = {name: err for name, err in images.items() if isinstance(err, ImageError)}
    jobs = [Job(name, job_id(local, image, config), (name, image)) for name, image in images.items()
            if name not in unreadable]
    report = run_jobs(jobs, factory, out, executor=executor, retries=retries, progress=progress,
                      desc="sweep", on_result=None if on_result is None else lambda _, r: on_result(r))
    for name, err in unreadable.items():  # failed jobs that never ran: the others go on
        job = Job(name, "unreadable", None)
        report.jobs.append(job)
        report.failed[name] = ResultStore(out).save_failure(job, [str(err)])
    summary = report.summary() | {"model_fingerprint": fingerprint_id(local.model.fingerprint()).hex()}
    atomic_write(out / "sweep.json", json.dumps(summary, indent=1).encode())
    merged = merge(list(report.results.values()), out, len(images), _descriptions(local, config))
    if config.etas:
        from diffc.tools.traversal import traversal

        fixed = {"mmse": -1.0, "ode": 0.0, "sde": 1.0}  # where each sits on the traversal
        order = sorted([(fixed[m], METHOD_NAMES[m], None if m == "mmse" else fixed[m])
                        for m in config.methods] + [(e, eta_name(e), e) for e in config.etas])
        traversal(merged, [(name, eta) for _, name, eta in order], out)
    return merged, report


def run_sweep(codec: DiffCCodec | CodecSpec, images: Mapping[str, np.ndarray], config: SweepConfig, out: Path,
              **options: object) -> dict[str, dict]:
    """:func:`sweep`'s merged results alone; an interrupt still merges what is finished, then re-raises."""
    results, report = sweep(codec, images, config, out, **options)
    if report.interrupted:
        raise KeyboardInterrupt
    return results


def _descriptions(codec: DiffCCodec, config: SweepConfig) -> dict[str, str]:
    from diffc.imaging.baselines import available_codecs

    chosen = ", ".join(f"{k.replace('_', ' ')} {v!r}" for k, v in _options(codec).items())
    conditioned = f"; conditioned on {chosen}" if chosen else ""
    setting = f"{codec.channel.spec.describe()}, {codec.steps} steps{conditioned}"
    def steps(method: str) -> int:
        return sampler_for(method, config.solver, config.solver_steps)[1]

    out = {"DiffC-F": f"DiffC-F: probability-flow ODE ({config.solver}, {steps('ode')} steps); {setting}",
           "DiffC-A": f"DiffC-A: ancestral sampling ({steps('sde')} steps); {setting}",
           "DiffC-MMSE": f"DiffC, the denoiser's posterior mean at the stop; {setting}"}
    out |= {eta_name(e): f"DiffC-eta: DDIM with eta = {e:g} ({steps('eta')} steps); {setting}"
            for e in config.etas}
    out |= {name: c.description for name, c in available_codecs().items()}
    return out | {f"{b}+refine-{m}": f"{c.description}, refined by {METHOD_NAMES[m]}'s sampler from the "
                  f"codec's error level (diffc.refine){conditioned}"
                  for b, c in available_codecs().items() for m in config.refine}


def table(results: Mapping[str, Mapping]) -> str:
    """bpp, PSNR, MS-SSIM and LPIPS per method and stop point (means over the images) and the set's
    KID-AlexNet ("-" with too few patches), as text."""
    def cell(v: float | None, fmt: str) -> str:
        return format(v, fmt) if v is not None else "-"

    width = max([12, *map(len, results)])  # refined methods have long names: jpeg-420+refine-sde
    lines = [f"{'method':<{width}} {'stop':>4} {'bpp':>7} {'PSNR':>6} {'MS-SSIM':>8} {'LPIPS':>6} "
             f"{'KID-Alex':>8}"]
    for name, method in results.items():
        r = method["results"]
        kid = r.get("kid-alexnet", [None] * len(r["stop"]))
        lines += [f"{name:<{width}} {k:>4} {cell(r['bpp'][i], '7.4f')} {cell(r['psnr-rgb'][i], '6.2f')} "
                  f"{cell(r['ms-ssim-rgb'][i], '8.4f')} {cell(r['lpips'][i], '6.3f')} {cell(kid[i], '8.3f')}"
                  for i, k in enumerate(r["stop"])]
    return "\n".join(lines)


def load_images(paths: Sequence[str | Path]) -> dict[str, np.ndarray | ImageError]:
    """Read the images of :func:`find_images`; one that cannot be read is its :class:`ImageError`,
    which :func:`sweep` records as a failed job."""
    images: dict[str, np.ndarray | ImageError] = {}
    for name, path in find_images(paths).items():
        try:
            images[name] = read_image(path)
        except ImageError as err:
            images[name] = err
    return images
