"""Base models: the tiny Llama pretrained by the tool on the source corpus, and
checkpoints loaded through ``llama3_core``.

The tiny base is cached under ``<cache>/lora-study/tiny-base-<hash>``, where
the hash covers its whole recipe (shape, tokenizer size, training settings,
the corpus's SHA-256 and the recipe version). A changed recipe therefore gets
a new folder and is rebuilt, and a finished folder is never rewritten.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from mltk_core.data_dir import cache_dir
from mltk_core.seeding import seed_everything

from lora_study.prose_corpus import ProseCorpus
from lora_study.token_rows import pack_documents
from lora_study.tokenizer import TextTokenizer, train_tokenizer
from lora_study.training import TrainConfig, train

# Bump when the pretraining code changes what a recipe produces.
RECIPE_VERSION = 1


@dataclass(frozen=True)
class TinyRecipe:
    corpus_name: str
    corpus_sha256: str
    vocab_size: int
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    hidden_dim: int
    seq_len: int
    steps: int
    batch_size: int
    lr: float
    seed: int
    version: int = RECIPE_VERSION

    def digest(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def model_config(self):
        from llama3_core.config import ModelConfig

        return ModelConfig(
            dim=self.dim,
            n_layers=self.n_layers,
            n_heads=self.n_heads,
            n_kv_heads=self.n_kv_heads,
            vocab_size=self.vocab_size,
            hidden_dim=self.hidden_dim,
            rope_theta=10000.0,
            max_seq_len=max(self.seq_len, 256),
            norm_eps=1e-5,
            tie_embeddings=False,
        )


@dataclass
class LoadedBase:
    """A base model with its tokenizer, and how it was made."""

    model: torch.nn.Module
    tokenizer: TextTokenizer
    name: str
    record: dict


def tiny_folder(recipe: TinyRecipe) -> Path:
    return cache_dir() / "lora-study" / f"tiny-base-{recipe.digest()[:16]}"


def prepare_tiny_base(
    recipe: TinyRecipe, corpus: ProseCorpus, device: torch.device, on_step=None
) -> tuple[Path, bool]:
    """Build the tiny base unless its folder exists; return the folder and whether it was built.

    The model is built in a temporary folder beside the final one and renamed
    into place, so an interrupted build leaves no half-written model behind.
    """
    folder = tiny_folder(recipe)
    if (folder / "record.json").is_file():
        return folder, False
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        _build_tiny_base(recipe, corpus, device, staging, on_step)
        try:
            staging.rename(folder)
        except OSError:
            # Another process finished the same recipe first; its folder is equivalent.
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder, True


def _build_tiny_base(
    recipe: TinyRecipe, corpus: ProseCorpus, device, staging: Path, on_step
) -> None:
    from llama3_core.model import Transformer

    from lora_study.distributed import WorldInfo

    started = time.perf_counter()
    seed_everything(recipe.seed)
    tokenizer = train_tokenizer(corpus.train_documents, recipe.vocab_size)
    tokenizer.save(staging / "tokenizer.json")

    config = recipe.model_config()
    model = Transformer(config).to(device)
    rows = pack_documents(tokenizer, corpus.train_documents, recipe.seq_len)
    train_config = TrainConfig(
        steps=recipe.steps,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        weight_decay=0.1,
        warmup_steps=max(1, recipe.steps // 20),
        seed=recipe.seed,
    )
    stats = train(model, rows, train_config, device, WorldInfo(), on_step=on_step)

    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, staging / "model.pt")
    (staging / "config.json").write_text(json.dumps(_config_dict(config), indent=2) + "\n")
    record = {
        "recipe": asdict(recipe),
        "recipe_sha256": recipe.digest(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_rows": len(rows),
        "final_train_loss": stats.losses[-1],
        "seconds": time.perf_counter() - started,
    }
    (staging / "record.json").write_text(json.dumps(record, indent=2) + "\n")


def load_tiny_folder(folder: Path, device: torch.device) -> LoadedBase:
    """Load a tiny base saved by ``prepare_tiny_base`` (config.json, model.pt, tokenizer.json)."""
    from llama3_core.config import ModelConfig
    from llama3_core.model import Transformer

    config = ModelConfig(**json.loads((folder / "config.json").read_text()))
    model = Transformer(config)
    model.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
    tokenizer = TextTokenizer.load(folder / "tokenizer.json")
    record = (
        json.loads((folder / "record.json").read_text())
        if (folder / "record.json").is_file()
        else {}
    )
    return LoadedBase(model.to(device), tokenizer, str(folder), record)


def is_tiny_folder(path: Path) -> bool:
    return all((path / name).is_file() for name in ("config.json", "model.pt", "tokenizer.json"))


def _config_dict(config) -> dict:
    record = asdict(config)
    if record.get("rope_scaling") is not None:
        raise ValueError("the tiny base does not use rope scaling")
    return record
