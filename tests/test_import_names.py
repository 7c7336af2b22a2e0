"""The name ``kernels`` belongs to Hugging Face's distribution (``pip install transformers`` brings it).

Our kernels import as ``rcc_kernels`` from ``kernels/rcc_kernels/``; the folder ``kernels/`` has no
``__init__.py``, so it never shadows an installed package of that name. Both directions of the clash,
in fresh interpreters, installing nothing: the toolkit never imports a package named ``kernels``, and
an interpreter started in the repository root imports the installed one, so transformers' text
encoders load there.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_unet import save_tiny_model, smooth_image

from diffc.imaging.io import write_png

ROOT = Path(__file__).resolve().parents[1]
STUB = '"""A package named kernels that is not ours (none of our names: BACKENDS, stream_key, ...)."""\n'


def _foreign_kernels(folder: Path) -> Path:
    """A foreign ``kernels`` package in ``folder``: a copy of Hugging Face's when it is installed (what
    transformers and diffusers then import), else a stub that they ignore (no distribution metadata)."""
    spec = importlib.util.find_spec("kernels")
    installed = spec is not None and spec.origin is not None and "site-packages" in spec.origin
    if installed:
        shutil.copytree(Path(spec.origin).parent, folder / "kernels")
    else:
        (folder / "kernels").mkdir(parents=True)
        (folder / "kernels" / "__init__.py").write_text(STUB)
    return folder


def _python(args: list[str], cwd: Path, pythonpath: list[str]) -> subprocess.CompletedProcess[str]:
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*pythonpath, *inherited]))
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_the_kernels_folder_is_not_an_importable_package() -> None:
    assert not (ROOT / "kernels" / "__init__.py").exists()
    assert (ROOT / "kernels" / "rcc_kernels" / "__init__.py").is_file()


@pytest.mark.slow
def test_the_tools_run_with_a_foreign_kernels_package_first_on_the_path(tmp_path: Path) -> None:
    first = [str(_foreign_kernels(tmp_path / "foreign"))]
    model = save_tiny_model(tmp_path / "model")
    write_png(tmp_path / "a.png", smooth_image(8, 8))
    where = "import kernels, rcc_kernels; print(kernels.__file__); print(rcc_kernels.__file__)"
    probe = _python(["-c", where], tmp_path, first)
    foreign, ours = probe.stdout.split()
    assert foreign.startswith(first[0]) and not ours.startswith(first[0])  # the foreign one comes first
    for args in (["-m", "diffc.cli", "compress", "a.png", "a.dfc", "--model", str(model), "--quiet"],
                 ["-m", "diffc.cli", "info", "a.dfc"],
                 ["-m", "diffc.cli", "decompress", "a.dfc", "b.png", "--model", str(model), "--quiet",
                  "--method", "mmse"],
                 ["-m", "rcc.cli", "philox-check"]):
        done = _python(args, tmp_path, first)
        assert done.returncode == 0, f"{' '.join(args[1:3])}: {done.stderr[-2000:]}"
    assert (tmp_path / "b.png").is_file()


@pytest.mark.slow
def test_transformers_text_encoders_load_in_the_repository_root() -> None:
    # transformers comes with the `latent` extra, which `make test` installs.
    code = (
        "import importlib.metadata, torch, kernels\n"
        "from transformers import CLIPTextConfig, CLIPTextModel\n"
        "try:\n"
        "    importlib.metadata.distribution('kernels')\n"
        "    assert kernels.__file__ and 'site-packages' in kernels.__file__, kernels.__path__\n"
        "except importlib.metadata.PackageNotFoundError:\n"
        "    pass  # nothing installed under that name: no clash to avoid\n"
        "torch.manual_seed(0)\n"
        "config = CLIPTextConfig(vocab_size=99, hidden_size=16, intermediate_size=32, num_hidden_layers=1,\n"
        "                        num_attention_heads=2, max_position_embeddings=8)\n"
        "out = CLIPTextModel(config)(torch.tensor([[1, 2, 3]]))\n"
        "print(tuple(out.last_hidden_state.shape))\n"
    )
    done = _python(["-c", code], ROOT, [])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "(1, 3, 16)"
