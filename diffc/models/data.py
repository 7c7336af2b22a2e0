"""Training photographs from Debian packages, and the held-out evaluation photos from pip packages.

The default model (:mod:`diffc.models.training`) trains on photographs that ship inside Debian
packages (desktop wallpapers, OpenCV's sample data, libjxl's test data), so that anyone can rebuild
its training set by name and version, offline from the internet at large. ``photos.json`` beside this
module is the whole specification:

- per package, the pinned version, every kept file's SHA-256 and an explicit exclusion list of the
  images that were looked at and rejected (abstract art, logos, renderings, masks, grayscale copies,
  near-duplicate views), each with its reason. An exclusion key is a path or a ``fnmatch`` pattern
  (``*`` also matches ``/``) that covers a folder of non-photographs (icons, screenshots,
  documentation figures); no kept file may match one;
- :func:`fetch_training_set` downloads each ``package=version`` with ``apt-get download`` and unpacks
  it with ``dpkg-deb -x`` into a temporary folder (nothing is installed), checks that every raster
  image of each package is either kept or excluded (:func:`check_coverage`: a new image cannot slip
  in or out unreviewed), copies the kept files, verifies every SHA-256, and writes ``manifest.json``
  (file, package, version, size, licence as the package's DEP-5 ``copyright`` file states it; for a
  package whose copyright file is not machine-readable, the ``licences`` that ``photos.json`` records
  by hand from it);
- ``photos.json`` also lists the packages that were looked at and not used
  (``rejected_packages``), with the reason, so that nobody reviews them again.

The held-out photos (:func:`held_out_photos`) come from scikit-image, scikit-learn and matplotlib,
which bundle them; they are never part of the training set (:func:`check_split` proves the names and
the pixel hashes disjoint) and are what the NELBO and the demo evaluate on.

Scale: photographs differ in resolution by 10x (a 6028 px wallpaper against a 500 px OpenCV sample).
Octave 0 of :func:`training_pyramid` shrinks each (Lanczos, never enlarged) so that its short side
is at most :data:`SHORT_SIDE` px, about the scale of the held-out photos (300-600 px short sides),
so that training crops see the texture statistics that DiffC later compresses; heavily
JPEG-compressed packages are shrunk at least by their ``min_downsample`` factor, which averages
their block artefacts away. Other octaves hold the same photos at other scales: octave ``k`` is
octave 0 with its linear size times ``2**k``, made from the original file in one Lanczos step. A
photo enters octave ``k > 0`` only where its original is large enough (never enlarged, never less
shrunk than ``min_downsample``), so the upper octaves hold the large wallpapers nearer their native
resolution, where a pixel covers less of the scene and is smoother and noisier; the lower octaves
hold every photo, denser in detail. Octaves smaller than the training crop are left out.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

SPEC_PATH = Path(__file__).with_name("photos.json")
MANIFEST = "manifest.json"
SHORT_SIDE = 448
# The raster formats Pillow reads: what check_coverage requires every package to keep or exclude
# (vector SVGs are drawings by construction).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".ppm", ".pgm", ".pbm", ".pnm",
                            ".pam", ".tif", ".tiff", ".webp", ".tga"})
HELD_OUT_NAMES = (
    "skimage/astronaut", "skimage/chelsea", "skimage/coffee", "skimage/rocket", "skimage/motorcycle_left",
    "sklearn/china", "sklearn/flower", "matplotlib/grace_hopper",
)
# Two images count as the same photo when their 32x32 grayscale thumbnails correlate this much; a
# re-encoded or rescaled copy scores above 0.99, distinct photos of this set below 0.9.
DUPLICATE_CORRELATION = 0.97


@dataclass(frozen=True)
class Photo:
    """One manifest entry: a kept training photograph as copied into the data folder."""

    file: str
    package: str
    version: str
    size: int
    sha256: str
    licence: str


def is_excluded(rel: str, excluded: Iterable[str]) -> bool:
    """Whether a package-relative path is one of ``excluded`` (paths or ``fnmatch`` patterns)."""
    return any(fnmatch.fnmatchcase(rel, pattern) for pattern in excluded)


def load_spec(path: Path = SPEC_PATH) -> dict:
    """Read ``photos.json`` and check that no file is both kept and excluded (by path or pattern)."""
    spec = json.loads(Path(path).read_text())
    for name, pkg in spec["packages"].items():
        both = [rel for rel in pkg["photos"] if is_excluded(rel, pkg.get("excluded", {}))]
        if both:
            raise ValueError(f"{name}: files both kept and excluded in {path}: {sorted(both)}")
    return spec


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def download_packages(packages: Mapping[str, str], workdir: Path) -> dict[str, Path]:
    """``apt-get download name=version`` each package into ``workdir`` and unpack it there.

    Returns the root folder of each unpacked package. Nothing is installed. A package that cannot be
    downloaded raises :class:`OSError` naming it (run ``apt-get update`` first on a fresh machine).
    """
    roots = {}
    for name, version in packages.items():
        debdir = workdir / "debs" / name
        debdir.mkdir(parents=True, exist_ok=True)
        got = subprocess.run(["apt-get", "download", f"{name}={version}"], cwd=debdir,
                             capture_output=True, text=True)
        debs = sorted(debdir.glob("*.deb"))
        if got.returncode != 0 or not debs:
            reason = got.stderr.strip().splitlines()[-1] if got.stderr.strip() else "no .deb file"
            raise OSError(f"cannot download Debian package {name}={version}: {reason}")
        root = workdir / "root" / name
        root.mkdir(parents=True, exist_ok=True)
        unpacked = subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(root)], capture_output=True, text=True)
        if unpacked.returncode != 0:
            raise OSError(f"cannot unpack {debs[0].name}: {unpacked.stderr.strip()}")
        roots[name] = root
    return roots


def _dep5_paragraphs(text: str) -> list[dict[str, str]]:
    """Paragraphs of a Debian copyright file (RFC 822 style, continuation lines folded)."""
    paragraphs = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1].isspace() and key is not None:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip()
                fields[key] = value.strip()
        if fields:
            paragraphs.append(fields)
    return paragraphs


def _dep5_match(pattern: str, tails: list[str]) -> bool:
    """A ``Files:`` pattern against the trailing parts of an installed path. A pattern's own folders
    (``16.04/x.jpg``) may not exist once installed, so a named file also matches by base name."""
    if any(fnmatch.fnmatchcase(tail, pattern) for tail in tails):
        return True
    base = pattern.rsplit("/", 1)[-1]
    return not any(c in base for c in "*?[") and base == tails[-1]


def package_licence(root: Path, package: str, installed_path: str,
                    stated: Mapping[str, str] | None = None) -> str:
    """The ``License:`` the package's DEP-5 copyright file gives for one installed file.

    DEP-5 ``Files:`` patterns name source-tree paths, which differ from installed paths, so a pattern
    matches when it matches a trailing part of the installed path or its base name; as in DEP-5 the
    last matching paragraph wins. A copyright file that is not DEP-5 (no ``Format:`` field in its
    first paragraph) is prose: then the licence is the one ``stated`` (``fnmatch`` pattern to licence,
    read by hand from that prose and recorded in ``photos.json``) gives for the file.
    """
    copyright_file = root / "usr" / "share" / "doc" / package / "copyright"
    if not copyright_file.is_file():
        return "not stated (no copyright file)"
    paragraphs = _dep5_paragraphs(copyright_file.read_text(errors="replace"))
    if not paragraphs or not {"Format", "Format-Specification"} & set(paragraphs[0]):
        matches = [lic for pat, lic in (stated or {}).items() if fnmatch.fnmatchcase(installed_path, pat)]
        return matches[-1] if matches else "not stated (copyright file is not machine-readable)"
    parts = installed_path.split("/")
    tails = ["/".join(parts[i:]) for i in range(len(parts))]
    licence = "not stated in the copyright file"
    for para in paragraphs:
        if "Files" not in para or "License" not in para:
            continue
        if any(_dep5_match(pat, tails) for pat in para["Files"].split()):
            licence = para["License"].splitlines()[0].strip() or licence
    return licence


def collect(roots: Mapping[str, Path], spec: dict, out: Path) -> list[Photo]:
    """Copy every kept photo from the unpacked packages into ``out`` and verify its SHA-256.

    Only files listed as kept are copied, so the exclusion list can never leak in. A missing
    package, a missing file or a changed hash raises :class:`ValueError` naming it.
    """
    photos = []
    for name, pkg in spec["packages"].items():
        if name not in roots:
            raise ValueError(f"package {name} was not downloaded")
        for rel, digest in pkg["photos"].items():
            src = roots[name] / rel
            if not src.is_file():
                raise ValueError(f"{name} {pkg['version']}: {rel} is missing from the package")
            actual = sha256(src)
            if actual != digest:
                raise ValueError(f"{name} {pkg['version']}: {rel} has SHA-256 {actual}, expected {digest}")
            dst = out / name / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            photos.append(Photo(f"{name}/{rel}", name, pkg["version"], src.stat().st_size, digest,
                                package_licence(roots[name], name, rel, pkg.get("licences"))))
    return photos


def check_coverage(roots: Mapping[str, Path], spec: dict) -> None:
    """Raise :class:`ValueError` unless every raster image file of every unpacked package is kept or
    excluded in ``photos.json`` (a kept path may be a symbolic link: its target counts as kept)."""
    unlisted = []
    for name, pkg in spec["packages"].items():
        root = roots[name].resolve()
        kept = {Path(root / rel).resolve().relative_to(root).as_posix() for rel in pkg["photos"]}
        for path in sorted(root.rglob("*")):
            if path.is_symlink() or not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            rel = path.relative_to(root).as_posix()
            if rel not in kept and not is_excluded(rel, pkg.get("excluded", {})):
                unlisted.append(f"{name}/{rel}")
    if unlisted:
        more = f" and {len(unlisted) - 5} more" if len(unlisted) > 5 else ""
        raise ValueError(f"images neither kept nor excluded in photos.json: {unlisted[:5]}{more}")


def write_manifest(out: Path, photos: Iterable[Photo]) -> Path:
    path = out / MANIFEST
    path.write_text(json.dumps({"format": 1, "photos": [asdict(p) for p in photos]}, indent=1) + "\n")
    return path


def read_manifest(data_dir: Path) -> list[Photo]:
    """The manifest of a data folder, each file checked against it and against ``photos.json``."""
    data_dir = Path(data_dir)
    path = data_dir / MANIFEST
    if not path.is_file():
        raise OSError(f"{data_dir}: no {MANIFEST} (run `diffc data --out {data_dir}` first)")
    photos = [Photo(**entry) for entry in json.loads(path.read_text())["photos"]]
    check_manifest(data_dir, photos)
    return photos


def check_manifest(data_dir: Path, photos: list[Photo], spec: dict | None = None) -> None:
    """Raise :class:`ValueError` unless every file exists with its listed hash, all hashes are those
    of ``photos.json``, nothing excluded or held out is listed, and no kept photo is missing."""
    spec = load_spec() if spec is None else spec
    expected = {f"{n}/{rel}": d for n, p in spec["packages"].items() for rel, d in p["photos"].items()}
    excluded = [f"{n}/{rel}" for n, p in spec["packages"].items() for rel in p.get("excluded", {})]
    for photo in photos:
        if is_excluded(photo.file, excluded):
            raise ValueError(f"{photo.file} is on the exclusion list")
        if expected.get(photo.file) != photo.sha256:
            raise ValueError(f"{photo.file}: not a kept photo of photos.json with this SHA-256")
        path = Path(data_dir) / photo.file
        if not path.is_file():
            raise ValueError(f"{photo.file}: listed in the manifest but missing")
        if sha256(path) != photo.sha256:
            raise ValueError(f"{photo.file}: SHA-256 mismatch (file changed since `diffc data`)")
    missing = set(expected) - {p.file for p in photos}
    if missing:
        raise ValueError(f"manifest lacks kept photos: {sorted(missing)}")


def fetch_training_set(out: Path, spec: dict | None = None) -> list[Photo]:
    """Download the packages of ``photos.json``, copy and verify the kept photos, write the manifest."""
    spec = load_spec() if spec is None else spec
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="diffc-data-") as tmp:
        roots = download_packages({n: p["version"] for n, p in spec["packages"].items()}, Path(tmp))
        check_coverage(roots, spec)
        photos = collect(roots, spec, out)
    check_manifest(out, photos, spec)
    check_split(out, photos)
    write_manifest(out, photos)
    return photos


def _to_rgb(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def load_rgb(path: Path) -> np.ndarray:
    """An image file as uint8 HxWx3 (16-bit PNGs are reduced to 8 bits by Pillow)."""
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        if im.mode in ("I;16", "I;16B", "I"):
            im = im.point(lambda v: v / 256).convert("L")
        return _to_rgb(im)


def shrink_factor(shape: tuple[int, ...], short_side: int = SHORT_SIDE, min_factor: float = 1.0) -> float:
    """The factor :func:`shrink` divides an image's size by: at least 1 and ``min_factor``, and
    enough for a short side of at most ``short_side``."""
    return max(min(shape[:2]) / short_side, min_factor, 1.0)


def resize_by(image: np.ndarray, factor: float) -> np.ndarray:
    """The image with its size divided by ``factor`` (Lanczos; ``factor`` 1 returns it unchanged)."""
    from PIL import Image

    if factor == 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    return _to_rgb(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def shrink(image: np.ndarray, short_side: int = SHORT_SIDE, min_factor: float = 1.0) -> np.ndarray:
    """Downsample (Lanczos, never upsample) so the short side is at most ``short_side`` px and the
    image shrinks by at least ``min_factor``."""
    return resize_by(image, shrink_factor(image.shape, short_side, min_factor))


def pyramid(image: np.ndarray, octaves: Iterable[int], short_side: int = SHORT_SIDE,
            min_factor: float = 1.0, min_side: int = 1) -> dict[int, np.ndarray]:
    """The octaves of one photo that exist (module doc): octave 0 is :func:`shrink`'s, octave ``k``
    is shrunk ``2**k`` times less, each made from ``image`` in one Lanczos step. Octave ``k`` is left
    out where it would enlarge the image or shrink it less than ``min_factor``, or where its short
    side would be under ``min_side``."""
    base = shrink_factor(image.shape, short_side, min_factor)
    levels = {}
    for k in sorted(set(octaves)):
        factor = base / 2.0 ** k
        if factor >= max(min_factor, 1.0) and min(image.shape[:2]) / factor >= min_side:
            levels[k] = resize_by(image, factor)
    return levels


def training_pyramid(data_dir: Path, octaves: Iterable[int] = (0,), short_side: int = SHORT_SIDE,
                     min_side: int = 1) -> dict[int, dict[str, np.ndarray]]:
    """The verified training photos of a ``diffc data`` folder at each octave of :func:`pyramid`:
    ``{octave: {file: image}}``, every requested octave present (possibly empty)."""
    spec = load_spec()
    octaves = sorted(set(octaves))
    levels: dict[int, dict[str, np.ndarray]] = {k: {} for k in octaves}
    for p in read_manifest(data_dir):
        min_factor = spec["packages"][p.package].get("min_downsample", 1.0)
        for k, image in pyramid(load_rgb(Path(data_dir) / p.file), octaves, short_side, min_factor,
                                min_side).items():
            levels[k][p.file] = image
    return levels



def held_out_photos() -> dict[str, np.ndarray]:
    """The held-out evaluation photos, uint8 HxWx3, all bundled with installed pip packages.

    scikit-image's astronaut, chelsea, coffee, rocket and the left image of stereo_motorcycle;
    scikit-learn's china and flower; matplotlib's grace_hopper. Keys are ``"<package>/<name>"``, never
    a training file name (those start with a Debian package name). Nothing is downloaded:
    scikit-image reads these from its own package folder.
    """
    import matplotlib.cbook
    from PIL import Image
    from skimage import data as skdata
    from sklearn.datasets import load_sample_image

    photos = {f"skimage/{n}": getattr(skdata, n)() for n in ("astronaut", "chelsea", "coffee", "rocket")}
    photos["skimage/motorcycle_left"] = skdata.stereo_motorcycle()[0]
    photos["sklearn/china"] = load_sample_image("china.jpg")
    photos["sklearn/flower"] = load_sample_image("flower.jpg")
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh, Image.open(fh) as im:
        photos["matplotlib/grace_hopper"] = _to_rgb(im)
    return {name: np.ascontiguousarray(photos[name], dtype=np.uint8) for name in HELD_OUT_NAMES}


def _thumbnail(image: np.ndarray) -> np.ndarray:
    """A standardised 32x32 grayscale thumbnail: the same photo at any scale or JPEG quality."""
    from PIL import Image

    t = np.asarray(Image.fromarray(image).convert("L").resize((32, 32), Image.Resampling.BOX), float)
    return (t - t.mean()).ravel() / (t.std() * 32 + 1e-9)


def check_split(data_dir: Path, photos: list[Photo],
                held_out: Mapping[str, np.ndarray] | None = None) -> None:
    """Raise :class:`ValueError` if a held-out photo is in the training set, by name or by content
    (a rescaled or re-encoded copy included: see :data:`DUPLICATE_CORRELATION`)."""
    held_out = held_out_photos() if held_out is None else held_out
    clash = {p.file for p in photos} & set(held_out)
    if clash:
        raise ValueError(f"held-out names in the training set: {sorted(clash)}")
    thumbs = {name: _thumbnail(a) for name, a in held_out.items()}
    for p in photos:
        t = _thumbnail(load_rgb(Path(data_dir) / p.file))
        for name, h in thumbs.items():
            if float(t @ h) > DUPLICATE_CORRELATION:
                raise ValueError(f"{p.file} is a copy of held-out photo {name}")


def training_photos(data_dir: Path, short_side: int = SHORT_SIDE) -> dict[str, np.ndarray]:
    """The verified training photos of a ``diffc data`` folder at training scale (octave 0)."""
    return training_pyramid(data_dir, (0,), short_side)[0]
