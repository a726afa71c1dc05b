"""Invalid checkpoints: every error names the tensor or the file."""

from __future__ import annotations

import json

import pytest
import torch
from llama3_core.loading import load_model, open_checkpoint
from mltk_core.errors import UserInputError
from safetensors.torch import load_file, save_file


def test_missing_tensor_named(reference_model, write_meta_folder):
    folder = write_meta_folder(reference_model("gqa"))
    path = folder / "consolidated.00.pth"
    state = torch.load(path, weights_only=True)
    del state["layers.1.feed_forward.w3.weight"]
    torch.save(state, path)
    with pytest.raises(UserInputError, match=r"missing tensor layers\.1\.feed_forward\.w3\.weight"):
        load_model(folder)


def test_unexpected_tensor_named(reference_model, write_meta_folder):
    folder = write_meta_folder(reference_model("gqa"))
    path = folder / "consolidated.00.pth"
    state = torch.load(path, weights_only=True)
    state["layers.0.attention.bias"] = torch.zeros(3)
    torch.save(state, path)
    with pytest.raises(
        UserInputError, match=r"unexpected tensor layers\.0\.attention\.bias with shape \[3\]"
    ):
        load_model(folder)


def test_wrong_shape_names_both(reference_model, write_hf_folder):
    folder = write_hf_folder(reference_model("gqa"))
    path = folder / "model.safetensors"
    state = load_file(path)
    state["model.layers.0.mlp.up_proj.weight"] = torch.zeros(100, 64)
    save_file(state, path, metadata={"format": "pt"})
    message = r"layers\.0\.feed_forward\.w3\.weight has shape \[100, 64\], expected \[192, 64\]"
    with pytest.raises(UserInputError, match=message):
        load_model(folder)


def test_config_disagreeing_with_weights(reference_model, write_hf_folder):
    folder = write_hf_folder(reference_model("gqa"))
    config = json.loads((folder / "config.json").read_text())
    config["num_key_value_heads"] = 4
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        UserInputError, match=r"attention\.wk\.weight has shape \[32, 64\], expected \[64, 64\]"
    ):
        load_model(folder)


def test_truncated_pth_names_file(reference_model, write_meta_folder):
    folder = write_meta_folder(reference_model("gqa"))
    path = folder / "consolidated.00.pth"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(
        UserInputError, match="consolidated.00.pth: the file is truncated or corrupt"
    ):
        load_model(folder)


def test_corrupt_safetensors_names_file(reference_model, write_hf_folder):
    folder = write_hf_folder(reference_model("gqa"))
    path = folder / "model.safetensors"
    path.write_bytes(b"\xff" * 64 + path.read_bytes()[64:])
    with pytest.raises(UserInputError, match="model.safetensors: the file is truncated or corrupt"):
        load_model(folder)


def test_truncated_safetensors_names_file(reference_model, write_hf_folder):
    folder = write_hf_folder(reference_model("gqa"))
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(UserInputError, match="model.safetensors"):
        load_model(folder)


def test_truncated_gguf_names_file(reference_model, write_gguf):
    path = write_gguf(reference_model("gqa"))
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(UserInputError, match="tiny-F32.gguf"):
        load_model(path)


def test_missing_shard_named(reference_model, write_hf_folder):
    folder = write_hf_folder(reference_model("gqa"), sharded=True)
    shard = sorted(folder.glob("model-*.safetensors"))[-1]
    shard.unlink()
    with pytest.raises(UserInputError, match=f"missing checkpoint shard .*{shard.name}"):
        open_checkpoint(folder)


def test_missing_model_path(tmp_path):
    with pytest.raises(UserInputError, match="model not found"):
        open_checkpoint(tmp_path / "nothing")


def test_folder_without_config(tmp_path):
    with pytest.raises(UserInputError, match="neither params.json"):
        open_checkpoint(tmp_path)
