"""A small byte-level BPE tokenizer trained by the tool for the tiny base model.

Built with the Hugging Face ``tokenizers`` library: byte-level, so any text
encodes without unknown tokens, and with every digit split on its own, as in
Llama 3 and SmolLM2, so that arithmetic sees one token per digit.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

BOS = "<|begin_of_text|>"
EOS = "<|end_of_text|>"
PAD = "<|pad|>"
SPECIAL_TOKENS = (BOS, EOS, PAD)

MAX_VOCAB_SIZE = 4096
# 256 byte tokens plus the special tokens are the least a byte-level BPE needs.
MIN_VOCAB_SIZE = 256 + len(SPECIAL_TOKENS)


class TextTokenizer:
    """Encoder and decoder with the ids a training loop needs: BOS, EOS and padding."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.bos_id = backend.token_to_id(BOS)
        self.eos_id = backend.token_to_id(EOS)
        self.pad_id = backend.token_to_id(PAD)

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.backend.encode(text).ids

    def decode(self, ids: Iterable[int]) -> str:
        return self.backend.decode(list(ids))

    def save(self, path: str | os.PathLike[str]) -> None:
        self.backend.save(str(path))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TextTokenizer:
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_file(str(path)))


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> TextTokenizer:
    """Train a byte-level BPE of ``vocab_size`` tokens (special tokens included) on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if not MIN_VOCAB_SIZE <= vocab_size <= MAX_VOCAB_SIZE:
        raise ValueError(
            f"invalid vocabulary size {vocab_size}: expected {MIN_VOCAB_SIZE} to {MAX_VOCAB_SIZE}"
        )
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer)
    return TextTokenizer(backend)


def tokenizer_path(folder: Path) -> Path:
    return folder / "tokenizer.json"
