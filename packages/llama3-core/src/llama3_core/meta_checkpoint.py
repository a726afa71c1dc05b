"""Meta's own download: ``params.json``, ``consolidated.NN.pth`` shards and ``tokenizer.model``.

Shards come from model-parallel training (one per GPU: 8 for 70B). Each contains a
slice of every parallel layer, so the full tensor is the concatenation of the
slices along the layer's split dimension. Column-parallel weights (wq, wk, wv,
w1, w3, output) and the vocabulary-parallel embedding split dimension 0 (rows),
row-parallel weights (wo, w2) split dimension 1, and norms are replicated.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import torch
from mltk_core.errors import UserInputError

from llama3_core.config import ModelConfig
from llama3_core.tokenizer import load_meta_tokenizer
from llama3_core.weights import Checkpoint

_SPLIT_DIM = {
    "tok_embeddings.weight": 0,
    "output.weight": 0,
    "attention.wq.weight": 0,
    "attention.wk.weight": 0,
    "attention.wv.weight": 0,
    "attention.wo.weight": 1,
    "feed_forward.w1.weight": 0,
    "feed_forward.w3.weight": 0,
    "feed_forward.w2.weight": 1,
}

# Keys of older reference checkpoints that hold no parameters of this model.
_IGNORED = {"rope.freqs"}


def is_meta_folder(path: Path) -> bool:
    return path.is_dir() and (path / "params.json").is_file()


def open_meta_checkpoint(folder: Path) -> Checkpoint:
    """Open a Meta download folder; tensors are memory-mapped, read on demand."""
    params_path = folder / "params.json"
    try:
        params = json.loads(params_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserInputError(f"invalid params.json {params_path}: {error}") from None

    shard_paths = sorted(folder.glob("consolidated.*.pth"))
    if not shard_paths:
        raise UserInputError(f"no consolidated.*.pth checkpoint found in {folder}")
    shards = [_load_shard(path) for path in shard_paths]

    config = ModelConfig.from_meta_params(params)
    names = [name for name in shards[0] if name not in _IGNORED]
    if "output.weight" not in names:
        # Llama 3.2 1B and 3B reuse the embedding as the output projection.
        config = config.with_overrides(tie_embeddings=True)

    shapes = {name: _merged_shape(name, shards, shard_paths) for name in names}

    def read_tensor(name: str) -> torch.Tensor:
        parts = [shard[name] for shard in shards]
        dim = _split_dim(name)
        if len(parts) == 1 or dim is None:
            return parts[0]
        return torch.cat(parts, dim=dim)

    tokenizer_path = folder / "tokenizer.model"
    if not tokenizer_path.is_file():
        raise UserInputError(f"missing tokenizer.model in {folder}: copy it from Meta's download")
    version = "3.1" if config.rope_scaling is not None else "3"
    return Checkpoint(
        path=folder,
        format="meta",
        config=config,
        shapes=shapes,
        read_tensor=read_tensor,
        tokenizer=load_meta_tokenizer(tokenizer_path, version=version),
        chat_template=None,
        # params.json has no instruct flag, but Meta names instruct downloads "...-Instruct".
        is_instruct="instruct" in folder.name.lower(),
    )


def _load_shard(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, OSError) as error:
        first_line = (
            str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        )
        raise UserInputError(
            f"cannot read checkpoint {path}: the file is truncated or corrupt ({first_line}); "
            "download it again"
        ) from None
    if not isinstance(state, dict):
        raise UserInputError(
            f"invalid checkpoint {path}: expected a dict of tensors, found {type(state).__name__}"
        )
    return state


def _split_dim(name: str) -> int | None:
    suffix = name.split(".", 2)[-1] if name.startswith("layers.") else name
    return _SPLIT_DIM.get(suffix)


def _merged_shape(
    name: str, shards: list[dict[str, torch.Tensor]], paths: list[Path]
) -> tuple[int, ...]:
    for shard, path in zip(shards, paths, strict=True):
        if name not in shard:
            raise UserInputError(
                f"checkpoint shard {path} lacks tensor {name}, which {paths[0].name} has"
            )
    shapes = [tuple(shard[name].shape) for shard in shards]
    dim = _split_dim(name)
    if len(shards) == 1 or dim is None:
        return shapes[0]
    merged = list(shapes[0])
    merged[dim] = sum(shape[dim] for shape in shapes)
    return tuple(merged)
