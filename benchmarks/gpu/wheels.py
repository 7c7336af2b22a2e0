"""What the GPU check imports, and which of it the GPU machine lacks (issue 25).

The GPU machine has its own Python 3.12 with a fixed package set and no package registry
(``ON_GPU_MACHINE``, from ../shared/notes/gpu-device.md); everything else the check imports travels
as wheels pinned in ``benchmarks/gpu/wheels.txt`` (``make gpu-wheels``).

:func:`imported_modules` reads, with ``ast``, every import (module level and inside functions) of the
parts' modules and of the project modules they import, transitively: an over-approximation of what
runs, narrowed by ``NOT_RUN`` (imported by modules the parts load, never by code the parts run).
:func:`probe` imports each module left and names the missing ones; ``benchmarks/gpu_check.sh`` runs
it first on the GPU machine (``python -m benchmarks.gpu.wheels``), so a missing wheel is one line
there rather than a traceback in every part. Only the standard library is used here: this runs on
the GPU machine before anything else is known to be there.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WHEELS_FILE = Path(__file__).with_name("wheels.txt")

# The GPU machine's own distributions (../shared/notes/gpu-device.md, as of 2026-12). Their own
# requirements are installed there with them, so the closure stops at these. scikit-learn is not in
# the notes but is in the device tool's reading of the machine's image (/work/.library/device/KINDS.md,
# "Python packages already there", 2026-11-17), and its 9 MiB wheel with its requirements would keep
# the wheels from travelling with every call (benchmarks/gpu/travel.py); the other distributions that
# reading names travel anyway, as a fallback the check installs only where they are missing.
ON_GPU_MACHINE = ("torch", "numba", "numba-cuda", "cupy-cuda13x", "numpy", "scipy", "pytest", "hypothesis",
                  "pillow", "scikit-image", "matplotlib", "tqdm", "safetensors", "scikit-learn")

# Distributions the machine surely has besides those: a dependency the listed ones import as they load.
IMPLIED = {"llvmlite": "numba imports it as it loads"}

# Required distributions that are not brought, each with why the check runs without them.
NOT_BROUGHT = {
    "hf-xet": "huggingface-hub's Xet download backend, imported only to download (nothing downloads "
              "in the check) and 4 MiB the travel limit cannot spare",
}

# Modules imported by a module the parts load, in code the parts never run: no wheel is brought.
NOT_RUN = {
    "ray": "only rcc.experiments' --ray executor (the cluster extra)",
    "pillow_jxl": "optional JPEG XL baseline of sweeps, import guarded by ImportError",
    "torchmetrics": "only the realism columns of diffc sweeps, not the timings the diffc part takes",
    "transformers": "only loading a latent model folder (diffc.models.latent_folder), not the default "
                    "model; with its requirements 24 MiB, over what the 64 MiB travel leaves",
}

# The project's import roots: the parts' modules, the suite's conftest and the files `-m gpu` collects
# (benchmarks/gpu/tests.py), and the `diffc train` command the training part runs in a subprocess.
LOCAL = ("rcc", "diffc", "rcc_kernels", "benchmarks", "tests")


def roots(root: Path = ROOT) -> list[str]:
    """The modules the GPU check runs (its parts, the GPU tests and ``diffc train``)."""
    parts = sorted(f"benchmarks.gpu.{p.stem}" for p in (root / "benchmarks" / "gpu").glob("*.py"))
    gpu_tests = sorted(f"tests.{p.stem}" for p in (root / "tests").glob("test_*.py")
                       if "mark.gpu" in p.read_text())
    return [*parts, "tests.conftest", *gpu_tests, "diffc.cli", "diffc.cli.train"]


def _source(module: str, root: Path) -> Path | None:
    names = module.split(".")
    path = (root / "kernels" if names[0] == "rcc_kernels" else root).joinpath(*names)
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None  # a name imported from a module, not a module


def _imports(path: Path, module: str) -> Iterator[str]:
    """Every module an import statement of ``path`` names (``from a import b`` yields a and a.b)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, *([node.module] if node.module else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def imported_modules(start: Iterable[str] | None = None, root: Path = ROOT) -> set[str]:
    """Top-level names of the third-party modules imported from ``start`` (default :func:`roots`),
    following project modules transitively, ``NOT_RUN`` left out."""
    todo, seen, found = list(roots(root) if start is None else start), set(), set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        if (path := _source(module, root)) is None:
            continue
        names = module.split(".")
        todo += [".".join(names[:i]) for i in range(1, len(names))]  # its packages' __init__ run first
        for name in _imports(path, module):
            top = name.split(".")[0]
            if top in LOCAL:
                todo.append(name)
            elif top and top != "__future__" and top not in sys.stdlib_module_names:
                found.add(top)
    return found - set(NOT_RUN)


def probe(modules: Iterable[str]) -> dict[str, str]:
    """The modules that fail to import, each with its error in one line."""
    missing = {}
    for module in sorted(modules):
        try:
            importlib.import_module(module)
        except Exception as err:  # noqa: BLE001 - any failure to import is the finding
            missing[module] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    return missing


def main() -> int:
    """Print one line per module that fails to import (nothing when all import); exit 0 either way:
    the finding goes into the check's summary, and the parts still run."""
    for module, error in probe(imported_modules()).items():
        print(f"{module}\t{error}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
