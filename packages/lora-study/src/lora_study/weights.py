"""Effective block weights of a model, a peft-wrapped model or a saved adapter,
in the base model's parameter names (``layers.0.attention.wq.weight``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from mltk_core.errors import UserInputError
from torch import nn

from lora_study.spectrum import BLOCK_MATRIX

PEFT_PREFIX = "base_model.model."


def block_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """Return float32 CPU copies of every block matrix, with LoRA updates merged in.

    For a LoRA layer the effective weight is W + (alpha / r) · B A, computed by
    peft's ``get_delta_weight``, so the model itself is not modified.
    """
    weights: dict[str, torch.Tensor] = {}
    lora_layers = _lora_layers(model)
    for name, parameter in model.named_parameters():
        clean = name.removeprefix(PEFT_PREFIX).replace(".base_layer.", ".")
        if BLOCK_MATRIX.match(clean):
            weights[clean] = parameter.detach().float().cpu().clone()
    for path, layer in lora_layers.items():
        key = f"{path}.weight"
        for adapter in layer.active_adapters:
            weights[key] += layer.get_delta_weight(adapter).detach().float().cpu()
    return weights


def _lora_layers(model: nn.Module) -> dict[str, nn.Module]:
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:
        return {}
    return {
        name.removeprefix(PEFT_PREFIX): module
        for name, module in model.named_modules()
        if isinstance(module, LoraLayer)
    }


def adapter_updates(adapter_dir: Path) -> dict[str, torch.Tensor]:
    """Read a saved peft LoRA adapter and return ΔW = scale · B A for every adapted matrix.

    The scale is alpha / r, or alpha / sqrt(r) with rsLoRA; per-module ranks
    and alphas (``rank_pattern``, ``alpha_pattern``) are honoured.
    """
    config_path = adapter_dir / "adapter_config.json"
    if not config_path.is_file():
        raise UserInputError(
            f"{adapter_dir} is not a peft adapter folder: adapter_config.json is missing"
        )
    config = json.loads(config_path.read_text())
    if config.get("peft_type", "LORA") != "LORA":
        raise UserInputError(f"adapter in {adapter_dir} is {config.get('peft_type')}, not LoRA")
    tensors = _read_adapter_tensors(adapter_dir)

    updates: dict[str, torch.Tensor] = {}
    for key, a_matrix in tensors.items():
        if not key.endswith("lora_A.weight"):
            continue
        path = key.removeprefix(PEFT_PREFIX).removesuffix(".lora_A.weight")
        b_matrix = tensors[key.replace("lora_A", "lora_B")]
        rank = _pattern_value(config.get("rank_pattern") or {}, path, config["r"])
        alpha = _pattern_value(config.get("alpha_pattern") or {}, path, config["lora_alpha"])
        scale = alpha / (rank**0.5 if config.get("use_rslora") else rank)
        updates[f"{path}.weight"] = scale * (b_matrix.float() @ a_matrix.float())
    if not updates:
        raise UserInputError(f"adapter in {adapter_dir} contains no lora_A/lora_B weights")
    return updates


def _read_adapter_tensors(adapter_dir: Path) -> dict[str, torch.Tensor]:
    safetensors_path = adapter_dir / "adapter_model.safetensors"
    if safetensors_path.is_file():
        from safetensors.torch import load_file

        return load_file(str(safetensors_path))
    bin_path = adapter_dir / "adapter_model.bin"
    if bin_path.is_file():
        return torch.load(bin_path, map_location="cpu", weights_only=True)
    raise UserInputError(
        f"adapter in {adapter_dir} has no adapter_model.safetensors or adapter_model.bin"
    )


def _pattern_value(patterns: dict, path: str, default):
    for pattern, value in patterns.items():
        if re.search(rf"(^|\.){pattern}$", path):
            return value
    return default
