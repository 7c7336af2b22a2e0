"""The channel's give-up on the step a bit budget drops, timed against searching that step to the end.

DiffC's ``bpp`` rule keeps a step only if its message fits, and learns a message's length from its
search; the channel stops searching once the message is proven longer than the room the budget
leaves (``GaussianChannel.send``'s ``max_bytes``, ``docs/channel.md``). For each channel preset of
``--presets`` a held-out photograph (scikit-image's astronaut, 512 x 512; ``--quick``: a 64 x 64
centre crop, one send each way) is compressed at ``--bpp`` with the library's codec, recording each
step's channel plan and room. The last step planned, the one the rule drops, is then sent
``--repeats`` times with its room (the give-up) and as often without (searched to the end, the
baseline), alternating in the same run; the rows give the median seconds of each, their ratio, the
room, the plan's floor before any search and the length of the message the full search finds.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

# Before torch loads, as the command line does: torch's idle threads sleep during the search.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import machine_meta, parse_args, write_json  # noqa: E402


def _dropped_step(codec: object, image: np.ndarray, bpp: float) -> tuple[object, int, int]:
    """Compress ``image`` at ``bpp``: the plan of the step the rule dropped, its room in bytes and
    the number of steps kept."""
    import dataclasses

    channel = codec.channel
    planned: list[tuple[object, int | None]] = []

    class Recording(type(channel)):
        def send(self, plan: object, *, max_bytes: int | None = None) -> object:
            planned.append((plan, max_bytes))
            return super().send(plan, max_bytes=max_bytes)

    codec.channel = Recording(**{f.name: getattr(channel, f.name) for f in dataclasses.fields(channel)})
    try:
        out = codec.compress(image, seed=0, bpp=bpp)
    finally:
        codec.channel = channel
    if len(planned) == len(out.steps):
        raise ValueError(f"every step fits {bpp} bpp: no step is dropped")
    plan, room = planned[-1]
    return plan, room, len(out.steps)


def _row(codec: object, name: str, image: np.ndarray, bpp: float, repeats: int) -> dict:
    from rcc.gaussian import GaussianChannel

    plan, room, kept = _dropped_step(codec, image, bpp)
    seconds: dict[str, list[float]] = {"give_up": [], "to_the_end": []}
    message = None
    for _ in range(repeats):
        for how, limit in (("give_up", room), ("to_the_end", None)):
            started = time.perf_counter()
            sent = GaussianChannel.send(plan.channel, plan, max_bytes=limit)  # not recorded again
            seconds[how].append(time.perf_counter() - started)
            if limit is None:
                message = sent[0].data
    give_up, to_the_end = (float(np.median(seconds[k])) for k in ("give_up", "to_the_end"))
    return {"preset": name, "steps_kept": kept, "room_bytes": room,
            "floor_bytes": plan.floor_bytes, "message_bytes": len(message),
            "give_up_s": give_up, "to_the_end_s": to_the_end,
            "give_up_all_s": seconds["give_up"], "to_the_end_all_s": seconds["to_the_end"],
            "ratio": give_up / to_the_end}


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.8 * len(rows)))
    y = np.arange(len(rows))
    for shift, key, label in ((0.2, "to_the_end_s", "searched to the end"),
                              (-0.2, "give_up_s", "gives up once proven too long")):
        bars = ax.barh(y + shift, [r[key] for r in rows], height=0.4, label=label)
        ax.bar_label(bars, fmt="%.2f s", fontsize=8, padding=2)
    ax.set_yticks(y, [f"{r['preset']} channel\nroom {r['room_bytes']:,} B, message {r['message_bytes']:,} B"
                      for r in rows], fontsize=8)
    ax.set_xlabel("seconds to send the step the bit budget drops (median)")
    ax.set_xlim(0, 1.15 * max(r["to_the_end_s"] for r in rows))
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _options(parser: object) -> None:
    parser.add_argument("--bpp", type=float, default=1.0, help="the bit budget (default 1.0)")
    parser.add_argument("--presets", default="fast,default", help="channel presets, comma-separated")
    parser.add_argument("--repeats", type=int, default=3, help="sends of each kind (default 3; --quick: 1)")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__.split("\n\n")[0], argv, _options)

    from diffc.codec import DiffCCodec
    from diffc.imaging.io import centre_crop
    from diffc.models import default_model_dir, load_model, set_torch_threads
    from diffc.models.data import held_out_photos
    from diffc.models.diffusers_folder import usable_cores
    from rcc.gaussian import GaussianChannel, preset

    photo = held_out_photos()["skimage/astronaut"]
    image = centre_crop(photo, 64) if args.quick else photo
    repeats = 1 if args.quick else args.repeats
    set_torch_threads(usable_cores())
    model = load_model(default_model_dir())
    rows = []
    for name in args.presets.split(","):
        codec = DiffCCodec(model, GaussianChannel(preset(name)), progress=False)
        codec.compress(centre_crop(photo, 32), seed=0, bpp=8.0)  # Numba compiles here, untimed
        rows.append(_row(codec, name, image, args.bpp, repeats))
        r = rows[-1]
        print(f"{name}: step {r['steps_kept']} dropped (room {r['room_bytes']} B, floor "
              f"{r['floor_bytes']} B, message {r['message_bytes']} B): {r['give_up_s']:.2f} s against "
              f"{r['to_the_end_s']:.2f} s", flush=True)
    meta = machine_meta() | {"quick": args.quick, "image": "skimage/astronaut", "size": list(image.shape[:2]),
                             "target_bpp": args.bpp, "repeats": repeats,
                             "fingerprint": model.fingerprint().hex()[:16],
                             "channels": {p: preset(p).describe() for p in args.presets.split(",")},
                             "load_average": os.getloadavg()}
    write_json(args.json, meta, rows)
    _plot(rows, args.json.with_suffix(".png"))


if __name__ == "__main__":
    main()
