"""The layer rule of docs/architecture.md, read from the source with ``ast``.

Every import in ``rcc_kernels``, ``rcc``, ``diffc`` and ``benchmarks``, at module level or inside a
function, must point to the same layer or one below; nothing but a command-line module imports a
command-line module; no two modules import each other, directly or through others; ``rcc_kernels``,
``rcc`` and ``diffc.diffusion`` never import torch.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"rcc_kernels": ROOT / "kernels", "rcc": ROOT, "diffc": ROOT, "benchmarks": ROOT}
"""Each top-level package and the folder its import name is relative to (``kernels/rcc_kernels``)."""
PACKAGES = tuple(SOURCES)

LAYERS = (
    ("rcc_kernels", 0),
    ("rcc", 1),
    ("diffc.diffusion", 2),
    ("diffc.imaging", 3),
    ("diffc.models", 4),
    ("diffc", 5),  # the codec layer: encoder, decoder, container, ledger, codec
    ("diffc.refine", 5),  # compress, then refine: a codec beside DiffC
    ("diffc.tools", 6),
    ("benchmarks", 7),
    ("rcc.cli", 8),
    ("diffc.cli", 8),
)
"""Module-name prefix and layer, bottom to top; the longest matching prefix decides."""
CLI = ("rcc.cli", "diffc.cli")
TORCH_FREE = ("rcc_kernels", "rcc", "diffc.diffusion")
FOREIGN_TORCH = ("torch", "diffusers", "transformers")


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def layer(name: str) -> int:
    prefix = max((p for p, _ in LAYERS if _matches(name, p)), key=len)
    return dict(LAYERS)[prefix]


def module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path, base): path
            for pkg, base in SOURCES.items() for path in sorted((base / pkg).rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Project modules that ``name`` imports (``from a import b`` counts ``a.b`` when it is a module)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + is_package]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            submodules = {f"{target}.{alias.name}" for alias in node.names} & known
            found.update(submodules)
            if len(submodules) < len(node.names):  # names defined in the module itself
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports(name, path, known) for name, path in mods.items()}


GRAPH = graph()


def _project(target: str) -> bool:
    return target.split(".")[0] in PACKAGES


def test_every_module_has_a_layer() -> None:
    assert len(GRAPH) > 50
    for name in GRAPH:
        assert layer(name) >= 0


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_imports_point_down(name: str) -> None:
    for target in sorted(t for t in GRAPH[name] if _project(t)):
        assert layer(target) <= layer(name), f"{name} (layer {layer(name)}) imports {target} " \
                                             f"(layer {layer(target)}): an import up a layer"
        if any(_matches(target, c) for c in CLI):
            assert any(_matches(name, c) for c in CLI), f"{name} imports the command-line module {target}"


@pytest.mark.parametrize("name", sorted(n for n in GRAPH if any(_matches(n, p) for p in TORCH_FREE)))
def test_torch_free_layers(name: str) -> None:
    heavy = sorted(t for t in GRAPH[name] if t.split(".")[0] in FOREIGN_TORCH)
    assert not heavy, f"{name} imports {heavy}"


def test_no_import_cycles() -> None:
    """Depth-first search over module -> module edges (a package's face, its ``__init__``, counts as a
    module, so a cycle through a re-export is a cycle too)."""
    edges = {n: {t for t in ts if t in GRAPH and t != n} for n, ts in GRAPH.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_the_checker_sees_violations(tmp_path: Path) -> None:
    """The walker finds relative, absolute and in-function imports (a check that cannot fail is none)."""
    source = tmp_path / "mod.py"
    source.write_text("import rcc_kernels\nfrom . import codec\n\ndef f():\n    from diffc.cli import main\n")
    found = imports("diffc.models.mod", source, {"diffc.models.codec"})
    assert {"rcc_kernels", "diffc.models.codec", "diffc.cli"} <= found
    assert layer("diffc.cli._common") > layer("diffc.tools.sweep") > layer("diffc.codec") \
        > layer("diffc.models.pixel") > layer("diffc.imaging.io") > layer("diffc.diffusion.samplers") \
        > layer("rcc.gaussian.channel") > layer("rcc_kernels.search")
