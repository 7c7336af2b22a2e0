"""The binary16 export in small files and its float32 restore: every file within the limit (shards
with an index when needed), the restored weights exactly the binary16 rounding of the trained ones
(so within half a binary16 ulp of them), loadable as the shipped format; out-of-range weights and
files that cannot fit refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from diffc.models import compact_weights, load_model, training

TINY = training.TrainConfig(size=16, steps=1, batch=2, warmup=1, block_out_channels=(8, 16),
                            norm_num_groups=4, attention=False, checkpoint_minutes=60.0, threads=1)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(1)
    photos = [(255 * rng.random((24, 24, 3))).astype(np.uint8) for _ in range(2)]
    run = tmp_path_factory.mktemp("run")
    training.train(photos, run, TINY, progress=False)
    return run / training.PIPELINE


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from diffusers import UNet2DModel

    return UNet2DModel.from_pretrained(folder / "unet", local_files_only=True, low_cpu_mem_usage=False,
                                       torch_dtype=torch.float32).state_dict()


def test_export_splits_into_files_within_the_limit_and_restores_to_the_binary16_rounding(
        pipeline: Path, tmp_path: Path) -> None:
    limit = 48 * 1024  # a tiny UNet's 60 KB of binary16 weights and ~20 KB of headers: several shards
    files = compact_weights.export_compact(pipeline, tmp_path / "compact", max_file_bytes=limit)
    assert files and all(p.stat().st_size <= limit for p in files)
    unet_files = [p.name for p in files if p.parent.name == "unet"]
    shards = [n for n in unet_files if n.endswith(".safetensors")]
    assert len(shards) >= 2 and "diffusion_pytorch_model.safetensors.index.json" in unet_files
    index = json.loads((tmp_path / "compact" / "unet" / unet_files[unet_files.index(
        "diffusion_pytorch_model.safetensors.index.json")]).read_text())
    assert set(index["weight_map"].values()) == set(shards)

    restored = compact_weights.restore_float32(tmp_path / "compact", tmp_path / "shipped")
    assert [p.name for p in restored if p.suffix == ".safetensors"] == ["diffusion_pytorch_model.safetensors"]
    trained, back = _weights(pipeline), _weights(tmp_path / "shipped")
    assert trained.keys() == back.keys()
    for name, w in trained.items():
        assert back[name].dtype == torch.float32
        assert torch.equal(back[name], w.half().float()), name  # exactly binary16's round to nearest
        # Half an ulp of binary16: 2^-11 relative in the normal range, 2^-25 absolute below 2^-14.
        bound = torch.maximum(w.abs() * 2.0**-11, torch.full_like(w, 2.0**-25))
        assert torch.all((back[name] - w).abs() <= bound), name
    assert any(not torch.equal(back[k], w) for k, w in trained.items())  # the rounding is real
    assert load_model(tmp_path / "shipped").fingerprint() == load_model(tmp_path / "compact").fingerprint()


def test_the_default_limit_holds_one_file_for_a_small_unet(pipeline: Path, tmp_path: Path) -> None:
    files = compact_weights.export_compact(pipeline, tmp_path / "compact")
    weights = [p for p in files if p.suffix == ".safetensors"]
    assert len(weights) == 1 and weights[0].stat().st_size <= compact_weights.MAX_FILE_BYTES
    with pytest.raises(FileExistsError):
        compact_weights.export_compact(pipeline, tmp_path / "compact")
    compact_weights.export_compact(pipeline, tmp_path / "compact", replace=True)


def test_weights_beyond_binary16_and_files_that_cannot_fit_are_refused(pipeline: Path,
                                                                       tmp_path: Path) -> None:
    from diffusers import UNet2DModel

    unet = UNet2DModel.from_pretrained(pipeline / "unet", local_files_only=True, low_cpu_mem_usage=False)
    with torch.no_grad():
        next(iter(unet.parameters())).view(-1)[0] = 70000.0
    big = tmp_path / "big"
    big.mkdir()
    for part in ("model_index.json", "scheduler"):
        (big / part).symlink_to(pipeline / part)
    unet.save_pretrained(big / "unet", safe_serialization=True)
    with pytest.raises(ValueError, match="range"):
        compact_weights.export_compact(big, tmp_path / "out")
    with pytest.raises(ValueError, match="files over"):
        compact_weights.export_compact(pipeline, tmp_path / "small", max_file_bytes=1024)
    assert not (tmp_path / "small").exists() and not (tmp_path / "out").exists()


def test_the_command_line_exports_and_restores(pipeline: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert compact_weights.main(["export", str(pipeline), str(tmp_path / "c")]) == 0
    assert compact_weights.main(["restore", str(tmp_path / "c"), str(tmp_path / "r")]) == 0
    assert compact_weights.main(["restore", str(tmp_path / "missing"), str(tmp_path / "r2")]) == 1
    assert "error:" in capsys.readouterr().err
