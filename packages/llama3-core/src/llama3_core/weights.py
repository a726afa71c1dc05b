"""Checkpoint contents: the common interface of the three readers and the strict load.

Each reader (Meta ``.pth``, Hugging Face safetensors, GGUF) returns a
``Checkpoint``: the model config, the shape of every tensor under Meta's
parameter names, a function that reads one tensor, and the tokenizer and chat
format. ``build_model`` checks every name and shape against the config before
reading any weight, then fills a model built on the meta device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from mltk_core.errors import UserInputError

from llama3_core.config import ModelConfig
from llama3_core.model import Transformer
from llama3_core.tokenizer import Tokenizer


@dataclass
class Checkpoint:
    """A checkpoint opened by one of the readers, with its tensors not yet read."""

    path: Path
    format: str  # "meta", "hf" or "gguf"
    config: ModelConfig
    shapes: dict[str, tuple[int, ...]]  # Meta parameter name -> shape
    read_tensor: Callable[[str], torch.Tensor]
    tokenizer: Tokenizer
    chat_template: str | None = None  # Jinja2 source; None means Meta's dialog format or none
    is_instruct: bool = False


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Return every parameter name and shape a model of ``config`` needs (tied output omitted)."""
    with torch.device("meta"):
        model = Transformer(config)
    shapes = {name: tuple(p.shape) for name, p in model.state_dict().items()}
    if config.tie_embeddings:
        del shapes["output.weight"]
    return shapes


def check_shapes(found: dict[str, tuple[int, ...]], config: ModelConfig, source: Path) -> None:
    """Raise ``UserInputError`` naming each missing, unexpected or mis-shaped tensor."""
    expected = expected_shapes(config)
    problems = []
    for name in sorted(set(expected) - set(found)):
        problems.append(f"missing tensor {name} (expected shape {list(expected[name])})")
    for name in sorted(set(found) - set(expected)):
        problems.append(f"unexpected tensor {name} with shape {list(found[name])}")
    for name in sorted(set(expected) & set(found)):
        if tuple(found[name]) != expected[name]:
            problems.append(
                f"tensor {name} has shape {list(found[name])}, expected {list(expected[name])}"
            )
    if problems:
        shown = "; ".join(problems[:5])
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        preset = config.matching_preset()
        claim = f" (config matches preset {preset})" if preset else ""
        raise UserInputError(f"checkpoint {source} does not match its config{claim}: {shown}{more}")


def build_model(
    checkpoint: Checkpoint,
    device: torch.device,
    dtype: torch.dtype,
    on_tensor: Callable[[str], None] | None = None,
) -> Transformer:
    """Check the checkpoint's tensors, then read each into a model on ``device`` in ``dtype``.

    ``on_tensor`` is called after each tensor, for progress reporting.
    """
    check_shapes(checkpoint.shapes, checkpoint.config, checkpoint.path)
    with torch.device("meta"):
        model = Transformer(checkpoint.config)

    state = {}
    for name in checkpoint.shapes:
        state[name] = checkpoint.read_tensor(name).to(device=device, dtype=dtype)
        if on_tensor is not None:
            on_tensor(name)
    if checkpoint.config.tie_embeddings:
        state["output.weight"] = state["tok_embeddings.weight"]
    model.load_state_dict(state, strict=True, assign=True)
    model.tie_weights()  # assignment replaced the shared Parameter
    return model.eval()
