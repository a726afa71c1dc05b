"""Token rows for causal language modelling, with a loss mask per target token.

A row contains ``seq_len + 1`` tokens: inputs are ``row[:-1]`` and targets are
``row[1:]``. The mask says which targets count in the loss: all of them for
continued pretraining, only the response and its end token for instruction
finetuning, never the padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from mltk_core.errors import UserInputError

from lora_study.tokenizer import TextTokenizer


@dataclass(frozen=True)
class TokenRows:
    tokens: torch.Tensor  # (rows, seq_len + 1) int64
    loss_mask: torch.Tensor  # (rows, seq_len) bool, aligned with tokens[:, 1:]

    def __len__(self) -> int:
        return self.tokens.shape[0]

    @property
    def seq_len(self) -> int:
        return self.tokens.shape[1] - 1

    def take(self, indices: torch.Tensor) -> TokenRows:
        return TokenRows(self.tokens[indices], self.loss_mask[indices])

    def head(self, count: int) -> TokenRows:
        return TokenRows(self.tokens[:count], self.loss_mask[:count])


def pack_documents(tokenizer: TextTokenizer, documents: Sequence[str], seq_len: int) -> TokenRows:
    """Concatenate ``BOS doc EOS`` for every document and cut the stream into full rows.

    The tail shorter than a row is dropped. Every target counts in the loss.
    """
    stream: list[int] = []
    for document in documents:
        stream.append(tokenizer.bos_id)
        stream.extend(tokenizer.encode(document))
        stream.append(tokenizer.eos_id)
    width = seq_len + 1
    count = len(stream) // width
    if count == 0:
        raise ValueError(f"{len(stream)} tokens do not fill one row of {width} tokens")
    tokens = torch.tensor(stream[: count * width], dtype=torch.long).view(count, width)
    return TokenRows(tokens, torch.ones(count, seq_len, dtype=torch.bool))


def pair_rows(
    tokenizer: TextTokenizer, pairs: Sequence[tuple[str, str]], seq_len: int
) -> TokenRows:
    """Build one row per ``(prompt, response)`` pair: ``BOS prompt response EOS``, right-padded.

    Only the response tokens and the EOS are targets in the loss. Pairs whose
    prompt leaves less than a quarter of the row for the response are skipped,
    and a long response is cut at the row's end.
    """
    width = seq_len + 1
    rows: list[list[int]] = []
    masks: list[list[bool]] = []
    for prompt, response in pairs:
        prompt_ids = [tokenizer.bos_id, *tokenizer.encode(prompt)]
        if len(prompt_ids) > width - width // 4:
            continue
        response_ids = [*tokenizer.encode(response), tokenizer.eos_id]
        ids = (prompt_ids + response_ids)[:width]
        # Target j is token j + 1, so the first response target sits at len(prompt) - 1.
        mask = [False] * (len(prompt_ids) - 1) + [True] * (len(ids) - len(prompt_ids))
        padding = width - len(ids)
        rows.append(ids + [tokenizer.pad_id] * padding)
        masks.append(mask + [False] * padding)
    if not rows:
        raise UserInputError(
            f"no prompt fits in three quarters of --seq-len {seq_len} tokens; raise --seq-len"
        )
    return TokenRows(torch.tensor(rows, dtype=torch.long), torch.tensor(masks, dtype=torch.bool))


def batch_indices(row_count: int, batch_size: int, step: int, seed: int) -> torch.Tensor:
    """Return the row indices of global batch ``step``: a seeded shuffle, epoch after epoch.

    Every arm with the same seed gets the same rows in the same order.
    """
    start = step * batch_size
    indices = []
    for position in range(start, start + batch_size):
        epoch, offset = divmod(position, row_count)
        indices.append(int(_epoch_order(row_count, seed, epoch)[offset]))
    return torch.tensor(indices, dtype=torch.long)


_ORDER_CACHE: dict[tuple[int, int, int], torch.Tensor] = {}


def _epoch_order(row_count: int, seed: int, epoch: int) -> torch.Tensor:
    key = (row_count, seed, epoch)
    if key not in _ORDER_CACHE:
        if len(_ORDER_CACHE) > 8:
            _ORDER_CACHE.clear()
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        _ORDER_CACHE[key] = torch.randperm(row_count, generator=generator)
    return _ORDER_CACHE[key]
