"""What each call to the GPU machine carries, within its working-tree limit (issue 25).

A call to the GPU machine sends the tracked tree (and any untracked file git does not ignore) with
the ignored paths it names, at most 64 MiB in all (../shared/notes/gpu-device.md), and the machine
keeps the ignored files of earlier calls while it stays warm (30 s after each call). The wheels it
lacks (``.whl``, ``make gpu-wheels``) and the training photos' pack (``data/gpu-pack``, ``make
gpu-data``) do not fit beside the tree together, so the pack is written in parts
(:mod:`diffc.models.photo_pack`) and travels a part a call, made one after another on the same warm
machine; the last call runs the command. Every call carries the wheels and the pack's index too, so
that a call which finds a fresh machine (the warm one gone) still runs every part of the check but
the training, which then names the part it lacks. :func:`part_budget` sizes the parts for that plan,
:func:`plan` lists the calls with what each carries, and ``python -m benchmarks.gpu.travel`` prints
the plan and fails when a call is over the limit. Only the standard library: this also runs where
nothing else is.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WHEELS = ROOT / ".whl"
PACK = ROOT / "data" / "gpu-pack"
MIB = 2**20
# Under the machine's 64 MiB: files that change in the tree before the call, and the transfer's own
# count of what it sends, must not tip a call planned here over.
LIMIT_MIB = 60
# The pack's index, diffc.models.photo_pack.PACK_INDEX: named again because this module runs on the
# standard library alone (tests/test_gpu_travel.py carries the index a real pack writes).
INDEX = "pack.json"
# Room kept in every call for the index, which is written after the parts are sized.
INDEX_ALLOWANCE = MIB


@dataclass(frozen=True)
class Call:
    """One call to the GPU machine: the ignored paths it carries (relative to the checkout) and the
    bytes it sends, the tree included."""
    carry: tuple[str, ...]
    size: int


def tree_bytes(root: Path = ROOT) -> int:
    """Bytes of what every call sends: the tracked files and the untracked ones git does not ignore."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=root, capture_output=True, check=True).stdout
    files = (root / name for name in listing.decode().split("\0") if name)
    return sum(f.stat().st_size for f in files if f.is_file())


def folder_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (a file's own size; 0 where nothing is)."""
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def part_budget(tree: int, wheels: int, limit: int) -> int:
    """The largest part: each travels beside the tree, the wheels and the index."""
    budget = limit - tree - wheels - INDEX_ALLOWANCE
    if budget <= 0:
        raise ValueError(f"the tree ({tree / MIB:.1f} MiB) and the wheels ({wheels / MIB:.1f} MiB) leave "
                         f"no room for photos under {limit / MIB:.0f} MiB")
    return budget


def parts(pack: Path) -> list[Path]:
    """A pack's part folders in order (none for a pack written whole)."""
    return sorted((p for p in pack.glob("part-*") if p.is_dir()), key=lambda p: int(p.name[len("part-"):]))


def plan(root: Path, pack: Path, tree: int, wheels: int) -> list[Call]:
    """The calls that bring the wheels (``.whl`` in ``root``, ``wheels`` bytes) and the pack to the
    machine, in order; ``tree`` is what every call sends besides."""
    def rel(path: Path) -> str:
        return str(path.relative_to(root))

    if not pack.exists():
        return [Call((WHEELS.name,), tree + wheels)]
    pieces = parts(pack)
    if not pieces:
        return [Call((WHEELS.name, rel(pack)), tree + wheels + folder_bytes(pack))]
    index = pack / INDEX
    every_call = tree + wheels + folder_bytes(index)
    return [Call((WHEELS.name, rel(index), rel(p)), every_call + folder_bytes(p)) for p in pieces]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu.travel",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--pack", type=Path, default=PACK, help="the photo pack (default data/gpu-pack)")
    parser.add_argument("--limit-mib", type=float, default=LIMIT_MIB, help="most MiB a call may send")
    parser.add_argument("--budgets", action="store_true",
                        help="print the largest part in MiB, for photo_pack's --part-mib")
    args = parser.parse_args(argv)
    limit = int(args.limit_mib * MIB)
    if not WHEELS.is_dir():
        print(f"error: no {WHEELS.name}/ here: run `make gpu-wheels` first", file=sys.stderr)
        return 1
    tree, wheels = tree_bytes(ROOT), folder_bytes(WHEELS)
    pack = args.pack.resolve()
    if args.budgets:
        try:
            budget = part_budget(tree, wheels, limit)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"{budget / MIB:.2f}")
        return 0
    calls = plan(ROOT, pack, tree, wheels)
    print(f"tree {tree / MIB:.1f} MiB, wheels {wheels / MIB:.1f} MiB; "
          f"each call at most {args.limit_mib:g} MiB")
    for k, call in enumerate(calls, 1):
        when = "" if k == 1 else f", at once after call {k - 1}, on the same warm machine"
        print(f"call {k}: {call.size / MIB:.1f} MiB, carry {' '.join(call.carry)}{when}")
    over = [k for k, call in enumerate(calls, 1) if call.size > limit]
    for k in over:
        print(f"error: call {k} is over {args.limit_mib:g} MiB", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
