"""``diffc sweep IMAGES... --out DIR``: DiffC decoders and classical codecs on the same images."""

from __future__ import annotations

import argparse
from pathlib import Path

from diffc.cli._common import (
    add_channel_args,
    add_model_args,
    add_solver_args,
    channel_from,
    existing_path,
    step_counts,
)
from rcc.cli import add_executor_args


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _etas(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in _names(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers in [0, 1], got {text!r}") from err


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="rate sweep of DiffC decoders and classical codecs over images",
                       description="Encode each image once, decode the file at several stop points with "
                                   "each decoder, code it with JPEG/WebP/AVIF/JPEG XL at the matched bpp, "
                                   "and write CompressAI JSON per method, an RD plot and image grids. "
                                   "Finished images are skipped when the same sweep is run again.")
    p.add_argument("images", nargs="+", type=existing_path, help="image files or folders of images")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    add_model_args(p)
    add_channel_args(p)
    p.add_argument("--stops", type=step_counts, default=None,
                   help="step counts to decode at, e.g. 8,12,16 (default: 4 points over the second half)")
    p.add_argument("--methods", type=_names, default=("ode", "sde", "mmse"),
                   help="decoders, comma-separated among ode,sde,mmse (default: all three)")
    p.add_argument("--baselines", type=_names, default=None,
                   help="classical codecs, e.g. jpeg-420,webp,avif (default: all available)")
    p.add_argument("--etas", type=_etas, default=(),
                   help="extra DDIM decoders between DiffC-F (0) and DiffC-A (1), e.g. 0.25,0.5,0.75")
    add_solver_args(p)
    p.add_argument("--refine", type=_names, default=(),
                   help="also refine every baseline's file with these decoders, e.g. sde (diffc refine)")
    add_executor_args(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from diffc.cli._common import EXIT_FAILURE, UsageError
    from diffc.codec import DEFAULT_STEPS
    from diffc.imaging.baselines import available_codecs
    from diffc.models import ConditioningError, default_model_dir
    from diffc.tools.sweep import CodecSpec, SweepConfig, load_images, sweep, table
    from rcc.experiments import executor_from

    spec = CodecSpec(model=None if args.model is None else str(args.model.resolve()), device=args.device,
                     dtype=args.dtype, channel=channel_from(args).spec, steps=args.steps or DEFAULT_STEPS,
                     prompt=args.prompt, guidance=args.guidance, class_label=args.class_label)
    if args.stops is not None and max(args.stops) > spec.steps:
        raise UsageError(f"--stops {','.join(map(str, args.stops))}"
                         f": the files have {spec.steps} steps (--steps)")
    unknown = sorted(set(args.baselines or ()) - set(available_codecs()))
    if unknown:
        raise UsageError(f"--baselines: {','.join(unknown)} not available here; choose among "
                         f"{','.join(available_codecs())}")
    try:
        config = SweepConfig(stops=args.stops, methods=args.methods, baselines=args.baselines,
                             seed=args.seed, solver_steps=args.solver_steps, solver=args.solver,
                             etas=args.etas, refine=args.refine)
        executor = executor_from(args.workers, args.ray, gpus=args.device.startswith("cuda"))
    except ValueError as err:
        raise UsageError(str(err)) from err
    if args.model is None and not default_model_dir().exists():
        raise UsageError(f"no model given and no default model at {default_model_dir()}: pass --model DIR")
    if (args.prompt, args.guidance, args.class_label) != (None, None, None):
        # Once here, not once per image in the workers: options the model refuses would fail every job.
        try:
            spec.build()
        except ConditioningError as err:
            raise UsageError(str(err)) from err
    images = load_images(args.images)
    results, report = sweep(spec, images, config, args.out, executor=executor, retries=args.retries,
                            progress=not args.quiet)
    print(table(results))
    for name, failure in report.failed.items():
        print(f"failed: {name} after {failure['attempts']} attempt(s): {failure['error'].splitlines()[0]}")
    state = "" if report.complete else (f" (partial: {len(report.results)} of {len(images)} images"
                                        f"{', interrupted' if report.interrupted else ''}; see sweep.json)")
    print(f"\nresults in {args.out}/: one CompressAI JSON per method, rd.png, grids/, files/{state}")
    return 130 if report.interrupted else (0 if report.complete else EXIT_FAILURE)
