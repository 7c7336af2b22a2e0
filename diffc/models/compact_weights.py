"""A pixel pipeline folder in half precision with small weight files, and back to the shipped float32.

A GPU machine sends back few files of at most 16 MiB each (README, "Running the GPU check"); the
default model's float32 UNet is one 17.3 MB file. :func:`export_compact` writes the same
``DDPMPipeline`` folder (``model_index.json``, ``scheduler/``, ``unet/`` with its
``diffc_config.json`` if any) with the UNet's weights cast to IEEE binary16 (round to nearest
even) and, where they still exceed the limit, split into safetensors shards with diffusers' index
file (``save_pretrained(max_shard_size=...)``); it checks every file it wrote against the limit.
:func:`restore_float32` reads such a folder and writes the shipped format: one float32
``diffusion_pytorch_model.safetensors``, the folder that
:func:`diffc.models.load_model` and ``python -m diffc.models.nelbo --model`` read.

What is exact: float32 -> binary16 -> float32 returns every weight that binary16 represents; any
other weight comes back within half a binary16 ulp: a relative error of at most ``2**-11`` in the
normal range (``|w| >= 2**-14``) and an absolute error of at most ``2**-25`` below it. A weight
beyond binary16's range (``|w| > 65504``) is refused rather than turned into infinity. So the
restored model is the binary16-rounded model, not the trained one bit for bit: its fingerprint
(:meth:`diffc.models.ImageModel.fingerprint`) is the one to record.

``python -m diffc.models.compact_weights export PIPELINE DEST`` and ``... restore DEST SHIPPED``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from diffc.models.windowed_attention import CONFIG_NAME

MAX_FILE_BYTES = 16 * 2**20
"""The largest file the GPU machine's transfer brings back."""
HEADER_BYTES_PER_TENSOR = 128
"""An upper bound on a safetensors header entry beyond the tensor's name (dtype, shape, offsets)."""
FLOAT16_MAX = 65504.0
UNET = "unet"


def _load_unet(pipeline: Path):
    import torch
    from diffusers import UNet2DModel

    unet_dir = Path(pipeline) / UNET
    if not (unet_dir / "config.json").is_file():
        raise ValueError(f"{pipeline}: not a pixel pipeline folder (no {UNET}/config.json)")
    return UNet2DModel.from_pretrained(unet_dir, local_files_only=True, low_cpu_mem_usage=False,
                                       torch_dtype=torch.float32)


def _write_beside(pipeline: Path, dest: Path, unet, max_shard_size: int | str, replace: bool) -> list[Path]:
    """Write ``unet`` and the source's ``model_index.json`` and ``scheduler/`` into ``dest``, which
    must not exist unless ``replace``: everything goes into ``dest.partial`` first and is renamed at
    the end, so an interrupted write leaves no folder that looks finished."""
    dest = Path(dest)
    if dest.exists() and not replace:
        raise FileExistsError(f"{dest} exists: choose a new folder")
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    shutil.copy2(Path(pipeline) / "model_index.json", partial / "model_index.json")
    shutil.copytree(Path(pipeline) / "scheduler", partial / "scheduler")
    unet.save_pretrained(partial / UNET, safe_serialization=True, max_shard_size=max_shard_size)
    settings = Path(pipeline) / UNET / CONFIG_NAME
    if settings.is_file():  # the attention window is part of the model (fingerprint included)
        shutil.copy2(settings, partial / UNET / CONFIG_NAME)
    if dest.exists():
        stale = dest.with_name(dest.name + ".stale")
        shutil.rmtree(stale, ignore_errors=True)
        dest.rename(stale)
        partial.rename(dest)
        shutil.rmtree(stale)
    else:
        partial.rename(dest)
    return sorted(p for p in dest.rglob("*") if p.is_file())


def export_compact(pipeline: Path, dest: Path, max_file_bytes: int = MAX_FILE_BYTES,
                   replace: bool = False) -> list[Path]:
    """Write ``pipeline``'s UNet in binary16, in files of at most ``max_file_bytes``, to ``dest``
    (a new folder, or with ``replace`` one that is replaced whole).

    Returns the files written. A weight outside binary16's range, or a file over the limit (one
    tensor larger than a shard), is an error, and then ``dest`` is not left behind.
    """

    unet = _load_unet(pipeline)
    too_large = [name for name, value in unet.state_dict().items()
                 if value.is_floating_point() and not bool(value.abs().le(FLOAT16_MAX).all())]
    if too_large:
        raise ValueError(f"{pipeline}: weights beyond binary16's range (or not finite) in {too_large[:3]}")
    # A shard's tensor bytes leave room for the largest header any shard can have (all the names).
    header = 1024 + sum(len(name) + HEADER_BYTES_PER_TENSOR for name in unet.state_dict())
    files = _write_beside(pipeline, dest, unet.half(), max(1, max_file_bytes - header), replace)
    oversized = [f"{p} ({p.stat().st_size} bytes)" for p in files if p.stat().st_size > max_file_bytes]
    if oversized:
        shutil.rmtree(dest)
        raise ValueError(f"files over {max_file_bytes} bytes (one tensor larger than a shard?): {oversized}")
    return files


def restore_float32(compact: Path, dest: Path) -> list[Path]:
    """Write the folder of :func:`export_compact` (or any pixel pipeline folder) to ``dest`` in the
    shipped format: float32 weights in one safetensors file. Returns the files written."""
    return _write_beside(compact, dest, _load_unet(compact), "10GB", replace=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m diffc.models.compact_weights",
                                     description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="a pipeline folder to binary16 weights in files of at most 16 MiB")
    export.add_argument("pipeline", type=Path)
    export.add_argument("dest", type=Path, help="a new folder")
    restore = sub.add_parser("restore", help="a compact folder back to the shipped float32 format")
    restore.add_argument("compact", type=Path)
    restore.add_argument("dest", type=Path, help="a new folder")
    args = parser.parse_args(argv)
    try:
        if args.command == "export":
            files = export_compact(args.pipeline, args.dest)
        else:
            files = restore_float32(args.compact, args.dest)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for path in files:
        print(f"{path.stat().st_size:>10}  {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
