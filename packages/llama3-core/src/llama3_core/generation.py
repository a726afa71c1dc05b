"""Autoregressive generation with the KV cache: one prefill, then one token per step.

Sampling is greedy at temperature 0, else softmax sampling of the logits divided
by the temperature, restricted to the ``top_k`` most likely tokens and to the
smallest set whose probability reaches ``top_p``. Generation stops at one of the
model's stop tokens (not included in the output) or after ``max_new_tokens``.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from mltk_core.errors import UserInputError
from mltk_core.timing import Timer

from llama3_core.model import Transformer


@dataclass(frozen=True)
class SamplingConfig:
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0  # 1 disables nucleus filtering
    top_k: int = 0  # 0 disables top-k filtering
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise UserInputError(
                f"invalid temperature {self.temperature}: expected 0 (greedy) or more"
            )
        if not 0 < self.top_p <= 1:
            raise UserInputError(f"invalid top-p {self.top_p}: expected a value in (0, 1]")
        if self.top_k < 0:
            raise UserInputError(
                f"invalid top-k {self.top_k}: expected 0 (off) or a positive count"
            )


@dataclass
class GenerationResult:
    prompt_ids: list[int]
    generated_ids: list[int]  # without the stop token
    stop_reason: str  # "stop_token" or "max_new_tokens"
    prefill_seconds: float
    decode_seconds: float
    decode_steps: int

    @property
    def prefill_tokens_per_s(self) -> float:
        return len(self.prompt_ids) / self.prefill_seconds if self.prefill_seconds > 0 else 0.0

    @property
    def decode_tokens_per_s(self) -> float:
        return self.decode_steps / self.decode_seconds if self.decode_seconds > 0 else 0.0


def sample_next(
    logits: torch.Tensor, sampling: SamplingConfig, generator: torch.Generator | None
) -> torch.Tensor:
    """Pick one token per row from logits (batch, vocab); returns ids (batch,)."""
    if sampling.temperature == 0:
        return logits.argmax(dim=-1)

    scores = logits.float() / sampling.temperature
    if sampling.top_k and sampling.top_k < scores.shape[-1]:
        kth = torch.topk(scores, sampling.top_k, dim=-1).values[:, -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if sampling.top_p < 1.0:
        sorted_scores, order = torch.sort(scores, dim=-1, descending=True)
        cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
        # Drop a token when the tokens before it already reach top_p; the first always stays.
        drop_sorted = (cumulative - sorted_scores.softmax(dim=-1)) >= sampling.top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        scores = scores.masked_fill(drop, float("-inf"))
    probs = scores.softmax(dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)


def check_prompt_text(prompt: str) -> None:
    """Raise ``UserInputError`` when ``prompt`` is empty or only whitespace, in any mode.

    A chat template wraps even an empty message in header tokens, so the
    token count alone cannot tell an empty prompt apart; the text can.
    """
    if not prompt.strip():
        raise UserInputError(f"the prompt is empty ({prompt!r}): pass some text to continue or ask about")


@torch.inference_mode()
def generate(
    model: Transformer,
    prompt_ids: Sequence[int],
    max_new_tokens: int,
    stop_ids: Sequence[int] = (),
    sampling: SamplingConfig | None = None,
    on_token: Callable[[int], None] | None = None,
) -> GenerationResult:
    """Generate up to ``max_new_tokens`` after ``prompt_ids``; ``on_token`` receives each new id.

    Raises ``UserInputError`` when the prompt is empty, does not fit the
    model's context, or contains an id outside the vocabulary. The number of new
    tokens is capped so the sequence fits.
    """
    sampling = sampling or SamplingConfig()
    context = model.config.max_seq_len
    prompt = list(prompt_ids)
    if not prompt:
        raise UserInputError("the prompt is empty: it encodes to 0 tokens")
    if len(prompt) >= context:
        raise UserInputError(
            f"the prompt is {len(prompt)} tokens long, but the model's context is {context} "
            "tokens: "
            "shorten the prompt"
        )
    vocab_size = model.config.vocab_size
    if max(prompt) >= vocab_size or min(prompt) < 0:
        bad = next(i for i in prompt if not 0 <= i < vocab_size)
        raise UserInputError(
            f"prompt token id {bad} is outside the model's vocabulary of {vocab_size}: "
            "the tokenizer does not belong to this model"
        )
    if max_new_tokens < 1:
        raise UserInputError(f"invalid max new tokens {max_new_tokens}: expected 1 or more")
    max_new_tokens = min(max_new_tokens, context - len(prompt))

    device = model.tok_embeddings.weight.device
    generator = None
    if sampling.seed is not None:
        generator = torch.Generator(device=device).manual_seed(sampling.seed)
    stops = set(stop_ids)
    cache = model.new_cache(batch_size=1, max_seq_len=len(prompt) + max_new_tokens)

    tokens = torch.tensor([prompt], device=device)
    with Timer(device) as prefill_timer:
        logits = model(tokens, torch.arange(len(prompt), device=device), cache, last_only=True)
        next_id = sample_next(logits[:, -1], sampling, generator)
        token = int(next_id)

    generated: list[int] = []
    stop_reason = "max_new_tokens"
    steps = 0
    with Timer(device) as decode_timer:
        position = len(prompt)
        while True:
            if token in stops:
                stop_reason = "stop_token"
                break
            generated.append(token)
            if on_token is not None:
                on_token(token)
            if len(generated) >= max_new_tokens:
                break
            logits = model(next_id.view(1, 1), torch.tensor([position], device=device), cache)
            next_id = sample_next(logits[:, -1], sampling, generator)
            token = int(next_id)
            position += 1
            steps += 1

    return GenerationResult(
        prompt_ids=prompt,
        generated_ids=generated,
        stop_reason=stop_reason,
        prefill_seconds=prefill_timer.seconds,
        decode_seconds=decode_timer.seconds,
        decode_steps=steps,
    )


class TextStream:
    """Turn token ids into text pieces as they arrive, holding back a UTF-8 character
    until all of its bytes are in."""

    def __init__(self, token_bytes: Callable[[int], bytes]) -> None:
        self._token_bytes = token_bytes
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token_id: int) -> str:
        return self._decoder.decode(self._token_bytes(token_id))

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)
