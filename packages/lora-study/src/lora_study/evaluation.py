"""Evaluation: held-out loss over mask tokens, and exact-match accuracy of
greedy answers to held-out math problems."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch
from torch import nn

from lora_study.math_problems import MathProblem, parse_answer
from lora_study.token_rows import TokenRows
from lora_study.tokenizer import TextTokenizer
from lora_study.training import masked_loss_sum


@torch.no_grad()
def held_out_loss(
    model: nn.Module, rows: TokenRows, device: torch.device, batch_size: int = 32
) -> float:
    """Return the mean cross-entropy (nats per token) over the rows' mask tokens."""
    model.eval()
    total = 0.0
    count = 0
    for start in range(0, len(rows), batch_size):
        part = rows.take(torch.arange(start, min(start + batch_size, len(rows))))
        part = TokenRows(part.tokens.to(device), part.loss_mask.to(device))
        loss_sum, tokens = masked_loss_sum(model, part)
        total += float(loss_sum)
        count += tokens
    return total / max(count, 1)


@torch.no_grad()
def greedy_completions(
    model: nn.Module,
    prompts: Sequence[list[int]],
    device: torch.device,
    max_new_tokens: int,
    stop_ids: set[int],
    max_seq_len: int,
    batch_size: int = 64,
) -> list[list[int]]:
    """Decode greedily from each prompt until a stop token or ``max_new_tokens``.

    Prompts of equal length are decoded together, so no padding or attention
    mask is needed. Each step reruns the full sequence, which is cheap at the
    study's short answers.
    """
    model.eval()
    by_length: dict[int, list[int]] = defaultdict(list)
    for index, prompt in enumerate(prompts):
        by_length[len(prompt)].append(index)
    completions: list[list[int]] = [[] for _ in prompts]
    for indices in by_length.values():
        for start in range(0, len(indices), batch_size):
            group = indices[start : start + batch_size]
            tokens = torch.tensor([prompts[i] for i in group], dtype=torch.long, device=device)
            finished = torch.zeros(len(group), dtype=torch.bool, device=device)
            for _ in range(max_new_tokens):
                if tokens.shape[1] >= max_seq_len:
                    break
                next_ids = model(tokens)[:, -1].argmax(dim=-1)  # (group,)
                tokens = torch.cat([tokens, next_ids[:, None]], dim=1)
                for row, token in enumerate(next_ids.tolist()):
                    if not finished[row]:
                        if token in stop_ids:
                            finished[row] = True
                        else:
                            completions[group[row]].append(token)
                if bool(finished.all()):
                    break
    return completions


def math_accuracy(
    model: nn.Module,
    tokenizer: TextTokenizer,
    problems: Sequence[MathProblem],
    device: torch.device,
    max_seq_len: int,
    max_new_tokens: int = 16,
) -> float:
    """Return the share of problems whose greedy answer's last integer equals the exact answer."""
    if not problems:
        return 0.0
    prompts = [[tokenizer.bos_id, *tokenizer.encode(problem.prompt)] for problem in problems]
    newline_ids = {token for token in tokenizer.encode("\n")}
    stop_ids = {tokenizer.eos_id, *newline_ids}
    completions = greedy_completions(model, prompts, device, max_new_tokens, stop_ids, max_seq_len)
    correct = sum(
        parse_answer(tokenizer.decode(ids)) == problem.answer
        for ids, problem in zip(completions, problems, strict=True)
    )
    return correct / len(problems)
