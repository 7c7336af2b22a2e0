"""The wheels that travel to the GPU machine (benchmarks/gpu/wheels.txt) are exactly what it lacks.

The closure is recomputed from this environment's installed metadata: the distributions of the
modules the GPU check imports (:func:`benchmarks.gpu.wheels.imported_modules`) and, transitively,
their requirements whose markers hold for CPython 3.12 on Linux x86-64, stopping at the GPU machine's
own packages. No network: a new import or requirement fails here, not on the GPU machine.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from benchmarks.gpu import wheels

# The GPU machine's interpreter (../shared/notes/gpu-device.md).
GPU_PYTHON = {"python_version": "3.12", "python_full_version": "3.12.0", "implementation_name": "cpython",
              "platform_python_implementation": "CPython", "sys_platform": "linux", "os_name": "posix",
              "platform_system": "Linux", "platform_machine": "x86_64"}
PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)\s*(?:#.*)?$")


def pinned() -> dict[str, str]:
    """wheels.txt as {canonical name: version}; every non-comment line must be a pin."""
    pins = {}
    for line in wheels.WHEELS_FILE.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = PIN.match(line.strip())
        assert match, f"wheels.txt: not a name==version line: {line!r}"
        pins[canonicalize_name(match[1])] = match[2]
    return pins


def on_machine() -> set[str]:
    return {canonicalize_name(d) for d in (*wheels.ON_GPU_MACHINE, *wheels.IMPLIED)}


def closure() -> dict[str, str]:
    """{distribution: why} the check needs for Python 3.12 that the GPU machine does not have."""
    providers = metadata.packages_distributions()
    todo = []
    for module in sorted(wheels.imported_modules()):
        if module not in providers:
            # Only a GPU-machine package may be absent here (cupy: the CPU environment has none).
            gpu_only = (canonicalize_name(d).replace("-", "_") for d in wheels.ON_GPU_MACHINE)
            assert any(d.startswith(module) for d in gpu_only), f"import {module}: not installed"
            continue
        todo += [(canonicalize_name(d), frozenset(), f"import {module}") for d in providers[module]]
    needed: dict[str, str] = {}
    extras_seen: dict[str, frozenset[str]] = {}
    while todo:
        name, extras, why = todo.pop()
        if name in on_machine() or (name in needed and extras <= extras_seen[name]):
            continue
        needed.setdefault(name, why)
        extras_seen[name] = extras_seen.get(name, frozenset()) | extras
        for line in metadata.distribution(name).requires or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({**GPU_PYTHON, "extra": e})
                                         for e in (extras or {""})):
                todo.append((canonicalize_name(req.name), frozenset(req.extras), name))
    return needed


def test_every_missing_distribution_travels_as_a_wheel():
    needed, pins = closure(), pinned()
    not_brought = {canonicalize_name(d) for d in wheels.NOT_BROUGHT}
    missing = {name: why for name, why in needed.items() if name not in pins and name not in not_brought}
    assert not missing, f"add to benchmarks/gpu/wheels.txt (needed on the GPU machine, by): {missing}"
    assert not_brought <= set(needed), "NOT_BROUGHT names a distribution the check no longer needs"


def test_no_wheel_is_brought_for_nothing():
    extra = set(pinned()) - set(closure())
    assert not extra, f"benchmarks/gpu/wheels.txt pins what the check does not need: {sorted(extra)}"


def _specifiers_on(name: str):  # noqa: ANN202
    """Every version specifier that an installed distribution's requirements put on ``name``, with
    markers evaluated for the GPU machine's interpreter."""
    for dist in metadata.distributions():
        for text in dist.requires or ():
            req = Requirement(text)
            if canonicalize_name(req.name) == name and (
                    req.marker is None or req.marker.evaluate(GPU_PYTHON | {"extra": ""})):
                yield dist.metadata["Name"], req.specifier


@pytest.mark.parametrize("name", sorted(pinned()))
def test_wheel_pinned_at_a_version_its_requirers_accept(name):
    # A fresh environment resolves the newest versions the requirements allow (a pin of the
    # development environment's version goes stale on the next release), so what must hold is that
    # the pinned wheel satisfies every requirement on it that the check's code path installs.
    version = pinned()[name]
    refused = [(who, str(spec)) for who, spec in _specifiers_on(name)
               if not spec.contains(version, prereleases=True)]
    assert not refused, f"wheels.txt pins {name}=={version}, which these requirements refuse: {refused}"


def test_scan_finds_the_imports_the_parts_need():
    # What the scan must see for the closure to mean anything: the parts' direct and indirect imports.
    found = wheels.imported_modules()
    assert {"diffusers", "constriction", "pytorch_msssim", "sklearn", "torch", "numba", "cupy"} <= found
    assert not found & set(wheels.NOT_RUN)


def test_probe_names_a_module_that_does_not_import():
    assert wheels.probe(["json", "rcc_no_such_module_xyz"]) == {
        "rcc_no_such_module_xyz": "ModuleNotFoundError: No module named 'rcc_no_such_module_xyz'"}
