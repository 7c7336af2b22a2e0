"""The lossless photo pack that carries the training photos to a GPU machine: the same pixels back,
provenance kept, a changed file refused, and ``diffc train --data`` reading it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from diffc.models import photo_pack


@pytest.fixture
def photos() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2)
    smooth = rng.normal(size=(40, 50, 3)).cumsum(0).cumsum(1)
    smooth = (255 * (smooth - smooth.min()) / np.ptp(smooth)).astype(np.uint8)
    noise = rng.integers(0, 256, size=(33, 21, 3), dtype=np.uint8)  # every value, no structure to exploit
    return {"pkg/a.jpg": smooth, "pkg/sub/b.png": noise}


def test_a_pack_returns_the_very_pixels_with_their_provenance(photos: dict[str, np.ndarray],
                                                              tmp_path: Path) -> None:
    sources = {"pkg/a.jpg": {"package": "pkg", "licence": "CC0"}}
    index = photo_pack.write_pack(photos, tmp_path / "pack", sources)
    assert photo_pack.is_pack(tmp_path / "pack") and not photo_pack.is_pack(tmp_path)
    back = photo_pack.read_pack(tmp_path / "pack")
    assert back.keys() == photos.keys()
    assert all(np.array_equal(back[k], photos[k]) for k in photos)
    entries = {e["name"]: e for e in json.loads(index.read_text())["photos"]}
    assert entries["pkg/a.jpg"]["source"]["licence"] == "CC0" and entries["pkg/sub/b.png"]["source"] == {}
    assert not (tmp_path / "pack.partial").exists()
    with pytest.raises(FileExistsError):
        photo_pack.write_pack(photos, tmp_path / "pack")


def test_a_changed_file_is_refused(photos: dict[str, np.ndarray], tmp_path: Path) -> None:
    from PIL import Image

    photo_pack.write_pack(photos, tmp_path / "pack")
    entry = json.loads((tmp_path / "pack" / photo_pack.PACK_INDEX).read_text())["photos"][0]
    changed = photos[entry["name"]].copy()
    changed[0, 0, 0] ^= 1  # one bit of one pixel
    Image.fromarray(changed).save(tmp_path / "pack" / entry["file"], "WEBP", lossless=True)
    with pytest.raises(ValueError, match="not those packed"):
        photo_pack.read_pack(tmp_path / "pack")


def test_a_parted_pack_returns_the_same_pixels_and_names_a_missing_part(photos: dict[str, np.ndarray],
                                                                       tmp_path: Path) -> None:
    whole = json.loads(photo_pack.write_pack(photos, tmp_path / "whole").read_text())["photos"]
    sizes = [(tmp_path / "whole" / e["file"]).stat().st_size for e in whole]
    # Each part holds the larger photo alone, so the second photo cannot join the first's part.
    index = photo_pack.write_pack(photos, tmp_path / "pack", part_bytes=max(sizes))
    files = [e["file"] for e in json.loads(index.read_text())["photos"]]
    assert [Path(f).parent.name for f in files] == ["part-1", "part-2"]
    assert photo_pack.missing_parts(tmp_path / "pack") == []
    back = photo_pack.read_pack(tmp_path / "pack")
    assert all(np.array_equal(back[k], photos[k]) for k in photos)
    for f in (tmp_path / "pack" / "part-2").iterdir():
        f.unlink()
    assert photo_pack.missing_parts(tmp_path / "pack") == ["part-2"]
    with pytest.raises(FileNotFoundError, match="the pack lacks part-2 "):
        photo_pack.read_pack(tmp_path / "pack")


def test_a_photo_larger_than_its_part_is_refused_and_nothing_is_left(photos: dict[str, np.ndarray],
                                                                     tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="more than part 1"):
        photo_pack.write_pack(photos, tmp_path / "pack", part_bytes=100)
    assert not any(tmp_path.iterdir())


def test_only_8_bit_rgb_is_packed(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        photo_pack.write_pack({"gray": np.zeros((8, 8), np.uint8)}, tmp_path / "pack")
    assert not any(tmp_path.iterdir())


def test_the_command_line_needs_a_data_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert photo_pack.main(["--data", str(tmp_path), "--out", str(tmp_path / "pack")]) == 1
    assert "manifest" in capsys.readouterr().err


@pytest.mark.parametrize("sizes", ["", "18,x", "18,0"])
def test_part_sizes_are_positive_mib(sizes: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        photo_pack.main(["--data", str(tmp_path), "--out", str(tmp_path / "pack"), "--part-mib", sizes])
    assert exit_.value.code == 2 and "--part-mib" in capsys.readouterr().err


def test_a_pack_holds_octave_0_only(photos: dict[str, np.ndarray], tmp_path: Path) -> None:
    from diffc.cli import main

    photo_pack.write_pack(photos, tmp_path / "pack")
    args = ["train", "--data", str(tmp_path / "pack"), "--out", str(tmp_path / "run"), "--quiet"]
    assert main([*args, "--octaves=-1,0"]) == 2
    assert not (tmp_path / "run").exists()
