"""The training-photo tool on fake Debian packages (no network): SHA-256 checks, the exclusion list,
a missing package, the DEP-5 licence, and the split from the held-out photos."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from diffc.cli import main
from diffc.models import data

PKG, VERSION = "fake-pics", "1.0-1"
KEPT = ("usr/share/pics/a.png", "usr/share/pics/sub/b.png")
EXCLUDED = "usr/share/pics/logo.png"
COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
License: GPL-2+

Files: pics/sub/b.png
       pics/other.png
License: CC0-1.0
"""


def _png(path: Path, seed: int, shape: tuple[int, int] = (40, 56)) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def fake_root(tmp_path: Path) -> Path:
    """An unpacked fake package: two photos, one excluded logo, a DEP-5 copyright file."""
    root = tmp_path / "root"
    for k, rel in enumerate((*KEPT, EXCLUDED)):
        _png(root / rel, k)
    doc = root / "usr/share/doc" / PKG
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT)
    return root


def _spec(root: Path) -> dict:
    photos = {rel: hashlib.sha256((root / rel).read_bytes()).hexdigest() for rel in KEPT}
    return {"packages": {PKG: {"version": VERSION, "photos": photos, "excluded": {EXCLUDED: "a logo"}}}}


def test_the_shipped_spec_is_consistent() -> None:
    spec = data.load_spec()
    kept = [f"{n}/{rel}" for n, p in spec["packages"].items() for rel in p["photos"]]
    assert len(kept) == len(set(kept)) >= 150
    for pkg in spec["packages"].values():
        assert pkg["version"] and pkg["excluded"] and all(pkg["excluded"].values())
        assert all(len(d) == 64 and int(d, 16) >= 0 for d in pkg["photos"].values())
        # A hand-read licence must name kept files, or it records nothing.
        for pattern in pkg.get("licences", {}):
            assert any(fnmatch.fnmatchcase(rel, pattern) for rel in pkg["photos"]), pattern
    assert not set(kept) & set(data.HELD_OUT_NAMES)
    assert not set(spec["rejected_packages"]) & set(spec["packages"])
    assert all(spec["rejected_packages"].values())


def test_collect_copies_kept_photos_verified_and_skips_the_excluded(fake_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    spec = _spec(fake_root)
    photos = data.collect({PKG: fake_root}, spec, out)
    assert sorted(p.file for p in photos) == sorted(f"{PKG}/{rel}" for rel in KEPT)
    assert not (out / PKG / EXCLUDED).exists()
    data.check_manifest(out, photos, spec)
    data.write_manifest(out, photos)
    entry = json.loads((out / data.MANIFEST).read_text())["photos"][0]
    assert set(entry) == {"file", "package", "version", "size", "sha256", "licence"}
    licences = {p.file: p.licence for p in photos}
    assert licences == {f"{PKG}/{KEPT[0]}": "GPL-2+", f"{PKG}/{KEPT[1]}": "CC0-1.0"}


def test_sha_mismatch_is_an_error_naming_the_file(fake_root: Path, tmp_path: Path) -> None:
    spec = _spec(fake_root)
    _png(fake_root / KEPT[1], seed=99)
    with pytest.raises(ValueError, match="b.png has SHA-256"):
        data.collect({PKG: fake_root}, spec, tmp_path / "out")


def test_a_file_missing_from_the_package_is_an_error(fake_root: Path, tmp_path: Path) -> None:
    spec = _spec(fake_root)
    (fake_root / KEPT[0]).unlink()
    with pytest.raises(ValueError, match="a.png is missing"):
        data.collect({PKG: fake_root}, spec, tmp_path / "out")


def test_manifest_check_catches_tampering_exclusions_and_gaps(fake_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    spec = _spec(fake_root)
    photos = data.collect({PKG: fake_root}, spec, out)
    with pytest.raises(ValueError, match="manifest lacks"):
        data.check_manifest(out, photos[:1], spec)
    logo = data.Photo(f"{PKG}/{EXCLUDED}", PKG, VERSION, 1, "0" * 64, "GPL-2+")
    with pytest.raises(ValueError, match="exclusion list"):
        data.check_manifest(out, [*photos, logo], spec)
    _png(out / photos[0].file, seed=7)
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        data.check_manifest(out, photos, spec)


@pytest.mark.parametrize("excluded", [EXCLUDED, "usr/share/pics/*.png"])
def test_a_file_both_kept_and_excluded_is_rejected(tmp_path: Path, excluded: str) -> None:
    both = {"version": VERSION, "photos": {EXCLUDED: "0" * 64}, "excluded": {excluded: "x"}}
    spec = {"packages": {PKG: both}}
    (tmp_path / "photos.json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="both kept and excluded"):
        data.load_spec(tmp_path / "photos.json")


def test_an_exclusion_pattern_covers_a_folder_and_the_manifest_refuses_it(fake_root: Path,
                                                                          tmp_path: Path) -> None:
    spec = _spec(fake_root)
    spec["packages"][PKG]["excluded"] = {"usr/share/pics/logo*": "a logo", "usr/share/icons/*": "icons"}
    _png(fake_root / "usr/share/icons/hicolor/app.png", 5)
    data.check_coverage({PKG: fake_root}, spec)
    out = tmp_path / "out"
    photos = data.collect({PKG: fake_root}, spec, out)
    icon = data.Photo(f"{PKG}/usr/share/icons/hicolor/app.png", PKG, VERSION, 1, "0" * 64, "GPL-2+")
    with pytest.raises(ValueError, match="exclusion list"):
        data.check_manifest(out, [*photos, icon], spec)


def test_coverage_names_an_image_neither_kept_nor_excluded(fake_root: Path) -> None:
    spec = _spec(fake_root)
    data.check_coverage({PKG: fake_root}, spec)
    (fake_root / "usr/share/pics/notes.txt").write_text("not an image")  # only images need a decision
    data.check_coverage({PKG: fake_root}, spec)
    _png(fake_root / "usr/share/pics/new.PNG", 6)
    with pytest.raises(ValueError, match=f"neither kept nor excluded.*{PKG}/usr/share/pics/new.PNG"):
        data.check_coverage({PKG: fake_root}, spec)


def test_a_kept_symbolic_link_covers_its_target(fake_root: Path) -> None:
    """Plasma's wallpapers keep ``1920x1080.jpg``, a link to the one real file of each folder."""
    target = fake_root / "usr/share/pics/large.png"
    _png(target, 7)
    (fake_root / "usr/share/pics/alias.png").symlink_to("large.png")
    spec = _spec(fake_root)
    kept = spec["packages"][PKG]["photos"]
    kept["usr/share/pics/alias.png"] = hashlib.sha256(target.read_bytes()).hexdigest()
    data.check_coverage({PKG: fake_root}, spec)
    del kept["usr/share/pics/alias.png"]
    with pytest.raises(ValueError, match="large.png"):
        data.check_coverage({PKG: fake_root}, spec)


def test_a_prose_copyright_file_takes_the_licences_read_by_hand(fake_root: Path) -> None:
    (fake_root / "usr/share/doc" / PKG / "copyright").write_text(
        "These pictures were placed in the public domain by their author, except b.png (GPL-2+).\n")
    stated = {"usr/share/pics/*": "public-domain", "usr/share/pics/sub/b.png": "GPL-2+"}
    assert data.package_licence(fake_root, PKG, KEPT[0], stated) == "public-domain"
    assert data.package_licence(fake_root, PKG, KEPT[1], stated) == "GPL-2+"  # the last match wins
    assert data.package_licence(fake_root, PKG, KEPT[0]).startswith("not stated (copyright file is not")
    # A DEP-5 file (the Format field may follow a blank line) ignores what photos.json states.
    (fake_root / "usr/share/doc" / PKG / "copyright").write_text("\n" + COPYRIGHT)
    assert data.package_licence(fake_root, PKG, KEPT[0], stated) == "GPL-2+"


def _fake_apt_get(bin_dir: Path, deb_dir: Path) -> None:
    """An ``apt-get`` that 'downloads' ``name=version`` by copying ``deb_dir/name.deb`` if it exists."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "apt-get"
    script.write_text(
        "#!/bin/sh\nname=${2%%=*}\n"
        f'if [ -f "{deb_dir}/$name.deb" ]; then cp "{deb_dir}/$name.deb" "./${{name}}_all.deb"; exit 0; fi\n'
        'echo "E: Unable to locate package $name" >&2; exit 100\n'
    )
    script.chmod(0o755)


def test_a_missing_package_is_an_error_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_apt_get(tmp_path / "bin", tmp_path / "debs")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    with pytest.raises(OSError, match="no-such-pkg=2.0: E: Unable to locate package no-such-pkg"):
        data.download_packages({"no-such-pkg": "2.0"}, tmp_path / "work")


def _serve_as_deb(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Build ``root`` into a .deb that the fake ``apt-get`` on PATH 'downloads'."""
    control = root / "DEBIAN" / "control"
    control.parent.mkdir()
    control.write_text(f"Package: {PKG}\nVersion: {VERSION}\nArchitecture: all\nMaintainer: t <t@t>\n"
                       "Description: fake\n")
    (tmp_path / "debs").mkdir()
    deb = tmp_path / "debs" / f"{PKG}.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)],
                   check=True, capture_output=True)
    _fake_apt_get(tmp_path / "bin", tmp_path / "debs")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_fetch_end_to_end_from_a_fake_deb(fake_root: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _serve_as_deb(fake_root, tmp_path, monkeypatch)
    spec = _spec(fake_root)
    monkeypatch.setattr(data, "load_spec", lambda path=None: spec)  # what `diffc data --check` reads
    out = tmp_path / "out"
    photos = data.fetch_training_set(out, spec)
    assert [p.file for p in data.read_manifest(out)] == [p.file for p in photos]
    assert not (out / PKG / EXCLUDED).exists()
    assert main(["data", "--out", str(out), "--check"]) == 0
    levels = data.training_pyramid(out, (-1, 0, 1), short_side=32)
    assert sorted(levels[0]) == sorted(levels[-1]) == [p.file for p in photos]
    assert levels[1] == {}  # the 40x56 originals are not enlarged to a 64 px short side
    assert levels[0][photos[0].file].shape == (32, 45, 3) and levels[-1][photos[0].file].shape == (16, 22, 3)


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_fetch_refuses_a_package_with_an_unreviewed_image(fake_root: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec(fake_root)
    _png(fake_root / "usr/share/pics/unreviewed.jpg", 8)
    _serve_as_deb(fake_root, tmp_path, monkeypatch)
    with pytest.raises(ValueError, match="unreviewed.jpg"):
        data.fetch_training_set(tmp_path / "out", spec)
    assert not (tmp_path / "out" / data.MANIFEST).exists()


def test_held_out_photos_are_bundled_and_never_training_files() -> None:
    held = data.held_out_photos()
    assert tuple(held) == data.HELD_OUT_NAMES
    for image in held.values():
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert 250 <= min(image.shape[:2]) <= 700
    kept = {f"{n}/{rel}" for n, p in data.load_spec()["packages"].items() for rel in p["photos"]}
    assert not kept & set(held)


def test_a_copy_of_a_held_out_photo_in_the_training_set_is_caught(fake_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    held = data.held_out_photos()
    spec = _spec(fake_root)
    photos = data.collect({PKG: fake_root}, spec, out)
    data.check_split(out, photos, held)
    # A rescaled, JPEG-re-encoded copy of a held-out photo hidden under a training file's name.
    copy = Image.fromarray(held["skimage/chelsea"]).resize((225, 150))
    copy.save(out / photos[1].file, format="JPEG", quality=70)
    with pytest.raises(ValueError, match="copy of held-out photo skimage/chelsea"):
        data.check_split(out, photos, held)
    renamed = [data.Photo("skimage/coffee", PKG, VERSION, 1, "0" * 64, "x")]
    with pytest.raises(ValueError, match="held-out names"):
        data.check_split(out, renamed, held)


def test_shrink_caps_the_short_side_and_never_upsamples() -> None:
    image = np.zeros((900, 1500, 3), np.uint8)
    assert data.shrink(image, 448).shape == (448, 747, 3)
    small = np.zeros((300, 400, 3), np.uint8)
    assert data.shrink(small, 448) is small
    assert data.shrink(small, 448, min_factor=2.0).shape == (150, 200, 3)


def test_the_pyramid_doubles_per_octave_and_never_enlarges() -> None:
    image = np.random.default_rng(1).integers(0, 256, (1000, 1500, 3), dtype=np.uint8)
    levels = data.pyramid(image, (-2, -1, 0, 1, 2), short_side=250)
    assert {k: a.shape[:2] for k, a in levels.items()} == {
        -2: (62, 94), -1: (125, 188), 0: (250, 375), 1: (500, 750), 2: (1000, 1500)}
    assert levels[2] is image  # octave 2 is the original itself, octave 3 would enlarge it
    assert data.pyramid(image, (3,), short_side=250) == {}
    assert np.array_equal(levels[0], data.shrink(image, 250))
    # A heavily compressed package keeps its minimum shrink in every octave.
    assert set(data.pyramid(image, (0, 1, 2), short_side=250, min_factor=2.0)) == {0, 1}
    # An octave smaller than the training crop is left out.
    assert set(data.pyramid(image, (-2, -1, 0), short_side=250, min_side=64)) == {-1, 0}
    # A photo under the octave-0 size stays whole in octave 0, halved in octave -1, absent above.
    small = image[:300, :400]
    assert {k: a.shape[:2] for k, a in data.pyramid(small, (-1, 0, 1), 448).items()} == {
        -1: (150, 200), 0: (300, 400)}


def test_cli_data_check_without_a_manifest_is_a_runtime_error(tmp_path: Path) -> None:
    assert main(["data", "--out", str(tmp_path), "--check"]) == 1
