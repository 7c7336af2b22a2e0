"""Milliseconds per network forward of every architecture candidate of the default model.

Each candidate of the model card's table (:data:`CANDIDATES`, built by
:func:`diffc.models.training.build_unet`; forward time does not depend on the weights, so the
candidates are built untrained, but the shipped one loads its weights) runs one float32 forward of
a 256 x 256 RGB image (batch 1, ``--quick``: 64 x 64) at one torch thread and at every usable
core, best of ``REPEATS`` after a warm-up. The baseline is the shipped architecture in the same
run: each row's ratio is its time over the shipped one's at the same thread count. One more row
runs the shipped architecture in torch's ``channels_last`` memory format, the layout oneDNN
prefers, with its largest deviation from a float64 forward beside the default layout's, on a
512 x 512 input (``--quick``: 64 x 64): its GroupNorm accumulates in float32 over a whole group,
so the deviation grows with the image.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

# Before torch loads, as the command line does: idle torch threads sleep.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import best_time, machine_meta, parse_args, write_json  # noqa: E402

CANDIDATES = {
    "shipped (32, 64, 128, 128), attention at 1/8": (32, 64, 128, 128),
    "next width up (64, 128, 256, 256), attention at 1/8": (64, 128, 256, 256),
}
"""The candidates' block widths; every other setting is :class:`diffc.models.training.TrainConfig`'s."""
REPEATS = 3
SHIPPED = next(iter(CANDIDATES))


def _forward(unet: object, x: object) -> object:
    import torch

    with torch.inference_mode():
        return unet(x, torch.tensor([500])).sample


def _deviation(unet: object, x: object, layout: object) -> float:
    """Largest |float32 forward - float64 forward| with the float32 network in ``layout``."""
    import copy

    reference = _forward(copy.deepcopy(unet).double(), x.double())
    fast = copy.deepcopy(unet).to(memory_format=layout)
    return float((_forward(fast, x.contiguous(memory_format=layout)).double() - reference).abs().max())


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 2.8))
    threads = sorted({r["threads"] for r in rows})
    names = list(dict.fromkeys(r["candidate"] for r in rows))
    height = 0.8 / len(threads)
    for i, n in enumerate(threads):
        ms = [next(r["ms"] for r in rows if r["candidate"] == c and r["threads"] == n) for c in names]
        ax.barh([j + i * height for j in range(len(names))], ms, height, label=f"{n} thread{'s' * (n > 1)}")
    ax.set_yticks([j + 0.4 - height / 2 for j in range(len(names))], names, fontsize=7)
    ax.set_xlabel(f"ms per {rows[0]['size']}x{rows[0]['size']} forward (float32, batch 1)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__.split("\n\n")[0], argv)
    import torch
    from diffusers import UNet2DModel

    from diffc.models import default_model_dir
    from diffc.models.diffusers_folder import usable_cores
    from diffc.models.training import TrainConfig, build_unet

    size, photo_size = (64, 64) if args.quick else (256, 512)
    torch.manual_seed(0)
    x = torch.randn(1, 3, size, size)
    unets = {name: build_unet(replace(TrainConfig(), block_out_channels=widths)).eval()
             for name, widths in CANDIDATES.items()}
    shipped = UNet2DModel.from_pretrained(default_model_dir() / "unet", local_files_only=True)
    unets[SHIPPED].load_state_dict(shipped.state_dict())  # strict: the same architecture
    layouts = {name: (unet, torch.contiguous_format) for name, unet in unets.items()}
    channels_last = f"{SHIPPED}, channels_last"
    layouts[channels_last] = (unets[SHIPPED], torch.channels_last)
    rows = []
    for threads in sorted({1, usable_cores()}):
        torch.set_num_threads(threads)
        for name, (unet, layout) in layouts.items():
            net = unet.to(memory_format=layout)
            xl = x.contiguous(memory_format=layout)
            seconds = best_time(lambda net=net, xl=xl: _forward(net, xl), REPEATS)
            net.to(memory_format=torch.contiguous_format)
            rows.append({"candidate": name, "threads": threads, "size": size, "ms": 1e3 * seconds,
                         "parameters": sum(p.numel() for p in unet.parameters())})
            print(f"{name}, {threads} thread(s): {1e3 * seconds:.0f} ms", flush=True)
    for r in rows:
        r["over_shipped"] = r["ms"] / next(b["ms"] for b in rows
                                           if b["candidate"] == SHIPPED and b["threads"] == r["threads"])
    torch.set_num_threads(usable_cores())
    photo = torch.randn(1, 3, photo_size, photo_size)
    deviation = {"size": photo_size, "contiguous": _deviation(unets[SHIPPED], photo, torch.contiguous_format),
                 "channels_last": _deviation(unets[SHIPPED], photo, torch.channels_last)}
    print(f"largest deviation from float64: {deviation}")
    meta = machine_meta() | {"quick": args.quick, "size": size, "repeats": REPEATS,
                             "torch": torch.__version__, "usable_cores": usable_cores(),
                             "deviation_from_float64": deviation, "load_average": os.getloadavg()}
    write_json(args.json, meta, rows)
    _plot(rows, args.json.with_suffix(".png"))


if __name__ == "__main__":
    main()
