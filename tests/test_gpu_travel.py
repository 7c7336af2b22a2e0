"""The plan of calls that carries the wheels and the photo pack to the GPU machine: a pack written in
the parts :func:`part_budget` sizes travels a part a call under the limit, every call with the wheels
and the index, and what a call sends is what the device tool sends (tracked and untracked-not-ignored
files, plus the carried paths)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from benchmarks.gpu import travel
from diffc.models import photo_pack

MIB = travel.MIB


@pytest.fixture
def photos() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(4)
    return {f"pkg/{k}.png": rng.integers(0, 256, size=(24, 30, 3), dtype=np.uint8) for k in range(5)}


def test_the_budget_leaves_room_for_the_tree_the_wheels_and_the_index() -> None:
    budget = travel.part_budget(tree=20 * MIB, wheels=20 * MIB, limit=60 * MIB)
    assert budget == 20 * MIB - travel.INDEX_ALLOWANCE
    with pytest.raises(ValueError, match="no room for photos"):
        travel.part_budget(tree=40 * MIB, wheels=20 * MIB, limit=60 * MIB)


def test_a_pack_written_to_the_budgets_travels_within_the_limit(photos: dict[str, np.ndarray],
                                                                tmp_path: Path) -> None:
    tree, wheels = 5 * MIB, 3 * MIB
    # A limit that leaves room for about two photos a call.
    limit = tree + wheels + travel.INDEX_ALLOWANCE + 2 * 24 * 30 * 3 + 600
    pack = tmp_path / "data" / "gpu-pack"
    photo_pack.write_pack(photos, pack, part_bytes=travel.part_budget(tree, wheels, limit))
    calls = travel.plan(tmp_path, pack, tree, wheels)
    assert len(calls) == len(travel.parts(pack)) == 3
    assert [call.carry for call in calls] == [(".whl", "data/gpu-pack/pack.json", f"data/gpu-pack/part-{k}")
                                              for k in (1, 2, 3)]
    assert (tmp_path / calls[0].carry[1]).is_file()  # the index photo_pack wrote
    assert all(call.size <= limit for call in calls)
    carried = sum(travel.folder_bytes(tmp_path / path) for call in calls for path in call.carry[-1:])
    assert carried == sum(f.stat().st_size for f in pack.rglob("*.webp"))


def test_without_parts_the_pack_travels_whole_and_without_a_pack_the_wheels_alone(
        photos: dict[str, np.ndarray], tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    assert travel.plan(tmp_path, pack, 10, 20) == [travel.Call((".whl",), 30)]
    photo_pack.write_pack(photos, pack)
    (call,) = travel.plan(tmp_path, pack, 10, 20)
    assert call.carry == (".whl", "pack") and call.size == 30 + travel.folder_bytes(pack)


def test_the_tree_is_what_git_does_not_ignore(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / ".gitignore").write_text("ignored/\n")
    (tmp_path / "tracked.txt").write_bytes(b"x" * 100)
    (tmp_path / "untracked.txt").write_bytes(b"y" * 10)
    (tmp_path / "ignored").mkdir()
    (tmp_path / "ignored" / "big.bin").write_bytes(b"z" * 5000)
    git("add", "tracked.txt")
    assert travel.tree_bytes(tmp_path) == 100 + 10 + len("ignored/\n")


def test_the_command_fails_without_wheels_and_over_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(travel, "WHEELS", tmp_path / ".whl")
    assert travel.main(["--budgets"]) == 1
    assert "make gpu-wheels" in capsys.readouterr().err
    (tmp_path / ".whl").mkdir()
    (tmp_path / ".whl" / "a.whl").write_bytes(b"w" * 1000)
    # This checkout's tree alone is over a 1 MiB limit.
    assert travel.main(["--limit-mib", "1", "--pack", str(tmp_path / "no-pack")]) == 1
    assert capsys.readouterr().err == "error: call 1 is over 1 MiB\n"
    assert travel.main(["--budgets", "--limit-mib", "1"]) == 1
    assert "no room for photos" in capsys.readouterr().err
