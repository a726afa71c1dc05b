"""Hugging Face model folders: ``config.json``, safetensors weights and ``tokenizer.json``.

Weights are one ``model.safetensors`` or shards listed in
``model.safetensors.index.json``. Hugging Face's conversion script permutes the
rows of wq and wk so that rotary embeddings can rotate the two halves of each
head instead of interleaved pairs. ``unpermute_rows`` undoes that, giving
Meta's layout, which this model uses.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from mltk_core.errors import UserInputError

from llama3_core.byte_level_bpe import tokenizer_from_hf
from llama3_core.config import ModelConfig
from llama3_core.weights import Checkpoint

_LAYER_NAMES = {
    "self_attn.q_proj.weight": "attention.wq.weight",
    "self_attn.k_proj.weight": "attention.wk.weight",
    "self_attn.v_proj.weight": "attention.wv.weight",
    "self_attn.o_proj.weight": "attention.wo.weight",
    "mlp.gate_proj.weight": "feed_forward.w1.weight",
    "mlp.down_proj.weight": "feed_forward.w2.weight",
    "mlp.up_proj.weight": "feed_forward.w3.weight",
    "input_layernorm.weight": "attention_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
}
_TOP_NAMES = {
    "model.embed_tokens.weight": "tok_embeddings.weight",
    "model.norm.weight": "norm.weight",
    "lm_head.weight": "output.weight",
}
_LAYER_PATTERN = re.compile(r"model\.layers\.(\d+)\.(.+)")


def is_hf_folder(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def meta_name(hf_name: str) -> str:
    """Translate a Hugging Face Llama parameter name to Meta's; unknown names pass through."""
    if hf_name in _TOP_NAMES:
        return _TOP_NAMES[hf_name]
    match = _LAYER_PATTERN.fullmatch(hf_name)
    if match and match.group(2) in _LAYER_NAMES:
        return f"layers.{match.group(1)}.{_LAYER_NAMES[match.group(2)]}"
    return hf_name


def unpermute_rows(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Turn Hugging Face's half-split q/k rows back into Meta's interleaved pairs.

    Per head, Hugging Face stores rows (0, 2, 4, ..., 1, 3, 5, ...) of Meta's
    rows, so row i of the first half and row i of the second half form pair i.
    """
    out_features, in_features = weight.shape
    head_dim = out_features // n_heads
    halves = weight.view(n_heads, 2, head_dim // 2, in_features)
    return halves.transpose(1, 2).reshape(out_features, in_features)


def permute_rows(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Inverse of ``unpermute_rows``: Meta's layout to Hugging Face's (for writing test files)."""
    out_features, in_features = weight.shape
    head_dim = out_features // n_heads
    pairs = weight.view(n_heads, head_dim // 2, 2, in_features)
    return pairs.transpose(1, 2).reshape(out_features, in_features)


def open_hf_checkpoint(folder: Path) -> Checkpoint:
    """Open a Hugging Face folder; safetensors files are memory-mapped, tensors read on demand."""
    from safetensors import SafetensorError, safe_open

    config_json = _read_json(folder / "config.json")
    config = ModelConfig.from_hf_config(config_json)
    files = _weight_files(folder)

    handles = {}
    shapes: dict[str, tuple[int, ...]] = {}
    source: dict[str, tuple[Path, str]] = {}
    for path in files:
        try:
            handle = safe_open(str(path), framework="pt")
            keys = list(handle.keys())
            handle_shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in keys}
        except (SafetensorError, OSError) as error:
            raise UserInputError(
                f"cannot read checkpoint {path}: the file is truncated or corrupt ({error}); "
                "download it again"
            ) from None
        handles[path] = handle
        for key, shape in handle_shapes.items():
            name = meta_name(key)
            shapes[name] = shape
            source[name] = (path, key)

    def read_tensor(name: str) -> torch.Tensor:
        path, key = source[name]
        try:
            tensor = handles[path].get_tensor(key)
        except (SafetensorError, OSError) as error:
            raise UserInputError(f"cannot read tensor {key} from {path}: {error}") from None
        if name.endswith("attention.wq.weight"):
            return unpermute_rows(tensor, config.n_heads)
        if name.endswith("attention.wk.weight"):
            return unpermute_rows(tensor, config.n_kv_heads)
        return tensor

    eos_ids = _eos_ids(config_json)
    generation_path = folder / "generation_config.json"
    if generation_path.is_file():
        eos_ids += _eos_ids(_read_json(generation_path))
    tokenizer = tokenizer_from_hf(folder, eos_ids)
    template = _chat_template(folder)
    return Checkpoint(
        path=folder,
        format="hf",
        config=config,
        shapes=shapes,
        read_tensor=read_tensor,
        tokenizer=tokenizer,
        chat_template=template,
        is_instruct=template is not None,
    )


def _weight_files(folder: Path) -> list[Path]:
    index_path = folder / "model.safetensors.index.json"
    if index_path.is_file():
        weight_map = _read_json(index_path).get("weight_map") or {}
        files = sorted({folder / name for name in weight_map.values()})
        for path in files:
            if not path.is_file():
                raise UserInputError(f"missing checkpoint shard {path}, listed in {index_path}")
        return files
    single = folder / "model.safetensors"
    if single.is_file():
        return [single]
    raise UserInputError(
        f"no safetensors weights in {folder}: expected model.safetensors or "
        "model.safetensors.index.json"
    )


def _eos_ids(config: dict) -> list[int]:
    value = config.get("eos_token_id")
    if value is None:
        return []
    return [int(v) for v in value] if isinstance(value, list) else [int(value)]


def _chat_template(folder: Path) -> str | None:
    """Return the chat template from tokenizer_config.json or chat_template.jinja, if any."""
    jinja_path = folder / "chat_template.jinja"
    if jinja_path.is_file():
        return jinja_path.read_text(encoding="utf-8")
    config_path = folder / "tokenizer_config.json"
    if not config_path.is_file():
        return None
    template = _read_json(config_path).get("chat_template")
    if isinstance(template, list):  # named templates: take "default"
        named = {entry["name"]: entry["template"] for entry in template}
        template = named.get("default")
    return template


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"missing file {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserInputError(f"invalid JSON file {path}: {error}") from None
