"""The training photographs at training scale, packed losslessly to travel to a GPU machine.

A ``diffc data`` folder holds the photographs as the Debian packages ship them (43 MB, most of it
wallpapers of up to 6028 px), and training first shrinks each to its training scale
(:func:`diffc.models.data.training_photos`). The GPU machine takes a working tree of 64 MiB in all,
of which the tracked tree and the wheels it lacks already use about 40 MiB. A pack holds exactly the
pixels that :func:`~diffc.models.data.training_photos` returns on the CPU side, each photo as a
lossless WebP file (Pillow, ``lossless=True``: 20.1 MB for the first 68 photos, against 26.2 MB as
PNG at ``optimize=True``; 39.5 MiB for all 174 of today's ``photos.json``, which no longer fits
beside the tree and the wheels), and ``pack.json``: per photo the file, the shape, the SHA-256 of its uint8
pixels, and its manifest entry (package, version, licence, the SHA-256 of the original file).

What is exact: :func:`read_pack` decodes every file and refuses any whose pixels do not hash to the
recorded SHA-256, so a run on a pack trains on the very pixels a run on the data folder would, on
a machine with another Pillow (whose resampling may differ) and without the original files. What
was ruled out: re-encoding as JPEG, even at quality 100, changes the pixels; a subset of the photos
changes what is learned; the data folder itself does not fit beside the tree and the wheels.

``python -m diffc.models.photo_pack --data DATA --out PACK`` builds one from a verified ``diffc
data`` folder (held-out photos refused by name and content, :func:`diffc.models.data.check_split`);
``diffc train --data PACK`` trains on it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from diffc.models import data

PACK_INDEX = "pack.json"
FORMAT = "diffc-photo-pack/1"


def is_pack(folder: Path) -> bool:
    return (Path(folder) / PACK_INDEX).is_file()


def pixel_digest(image: np.ndarray) -> str:
    """SHA-256 of a uint8 HxWx3 image's pixels in C order (its shape is recorded beside it)."""
    return hashlib.sha256(np.ascontiguousarray(image, dtype=np.uint8).tobytes()).hexdigest()


def write_pack(photos: Mapping[str, np.ndarray], out: Path,
               sources: Mapping[str, dict] | None = None) -> Path:
    """Write ``photos`` (name -> uint8 HxWx3) as a pack in the new folder ``out``; ``sources`` adds
    each photo's provenance (its manifest entry) to the index. Everything is written into
    ``out.partial`` and renamed at the end, so an interrupted build leaves no pack behind."""
    from PIL import Image

    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists: choose a new folder")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    entries = []
    for k, (name, image) in enumerate(photos.items()):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            shutil.rmtree(partial)
            raise ValueError(f"{name}: expected uint8 HxWx3 pixels, got {image.dtype} {image.shape}")
        file = f"{k:04d}.webp"
        Image.fromarray(image).save(partial / file, "WEBP", lossless=True, quality=100, method=4)
        entries.append({"name": name, "file": file, "shape": list(image.shape),
                        "pixels_sha256": pixel_digest(image), "source": dict((sources or {}).get(name, {}))})
    index = {"format": FORMAT, "short_side": data.SHORT_SIDE, "photos": entries}
    (partial / PACK_INDEX).write_text(json.dumps(index, indent=1) + "\n")
    partial.rename(out)
    return out / PACK_INDEX


def read_pack(folder: Path) -> dict[str, np.ndarray]:
    """The photos of a pack, name -> uint8 HxWx3, each verified against its recorded pixel SHA-256."""
    from PIL import Image, features

    folder = Path(folder)
    if not features.check("webp"):
        raise OSError(f"{folder}: this Pillow cannot decode WebP, the pack's format (build it with libwebp)")
    index = json.loads((folder / PACK_INDEX).read_text())
    if index.get("format") != FORMAT:
        raise ValueError(f"{folder / PACK_INDEX}: format {index.get('format')!r}, expected {FORMAT!r}")
    photos = {}
    for entry in index["photos"]:
        with Image.open(folder / entry["file"]) as im:
            image = np.asarray(im.convert("RGB"), dtype=np.uint8)
        if list(image.shape) != entry["shape"] or pixel_digest(image) != entry["pixels_sha256"]:
            raise ValueError(f"{folder / entry['file']}: its pixels are not those packed for {entry['name']}")
        photos[entry["name"]] = image
    return photos


def pack_data_folder(data_dir: Path, out: Path) -> Path:
    """A pack of a verified ``diffc data`` folder's photos at training scale."""
    manifest = data.read_manifest(data_dir)
    data.check_split(data_dir, manifest)
    photos = data.training_photos(data_dir)
    sources = {p.file: {"package": p.package, "version": p.version, "licence": p.licence, "sha256": p.sha256}
               for p in manifest}
    return write_pack(photos, out, sources)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m diffc.models.photo_pack",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder written by `diffc data`")
    parser.add_argument("--out", type=Path, required=True, help="the pack folder to create")
    args = parser.parse_args(argv)
    try:
        index = pack_data_folder(args.data, args.out)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    size = sum(p.stat().st_size for p in index.parent.iterdir())
    print(f"{len(json.loads(index.read_text())['photos'])} photos, {size / 2**20:.1f} MiB in {index.parent}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
