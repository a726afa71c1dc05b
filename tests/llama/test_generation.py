"""Generation: sampling rules, stop tokens, limits and streaming text."""

from __future__ import annotations

import pytest
import torch
from llama3_core.config import ModelConfig
from llama3_core.generation import SamplingConfig, TextStream, generate, sample_next
from llama3_core.model import Transformer
from mltk_core.errors import UserInputError


@pytest.fixture(scope="module")
def model() -> Transformer:
    torch.manual_seed(0)
    config = ModelConfig(
        dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=97, hidden_dim=96, max_seq_len=48
    )
    return Transformer(config).eval()


def greedy_by_recompute(model: Transformer, prompt: list[int], steps: int) -> list[int]:
    tokens = list(prompt)
    with torch.no_grad():
        for _ in range(steps):
            tokens.append(int(model(torch.tensor([tokens]))[0, -1].argmax()))
    return tokens[len(prompt) :]


def test_greedy_equals_recompute(model):
    result = generate(model, [5, 9, 2], max_new_tokens=10)
    assert result.generated_ids == greedy_by_recompute(model, [5, 9, 2], 10)
    assert result.stop_reason == "max_new_tokens"


def test_stop_token_excluded(model):
    expected = greedy_by_recompute(model, [5, 9, 2], 10)
    result = generate(model, [5, 9, 2], max_new_tokens=10, stop_ids=[expected[3]])
    first_stop = expected.index(expected[3])
    assert result.generated_ids == expected[:first_stop]
    assert result.stop_reason == "stop_token"


def test_seed_reproduces_sampling(model):
    sampling = SamplingConfig(temperature=1.0, seed=3)
    first = generate(model, [1, 2], max_new_tokens=12, sampling=sampling)
    second = generate(model, [1, 2], max_new_tokens=12, sampling=sampling)
    assert first.generated_ids == second.generated_ids


def test_top_k_one_is_greedy(model):
    sampled = generate(
        model, [1, 2], max_new_tokens=8, sampling=SamplingConfig(temperature=2.0, top_k=1, seed=0)
    )
    greedy = generate(model, [1, 2], max_new_tokens=8)
    assert sampled.generated_ids == greedy.generated_ids


def test_top_p_keeps_only_likely_tokens():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    sampling = SamplingConfig(temperature=1.0, top_p=0.75)
    generator = torch.Generator().manual_seed(0)
    picks = {int(sample_next(logits, sampling, generator)) for _ in range(300)}
    assert picks == {0, 1}


def test_top_p_tiny_keeps_argmax():
    logits = torch.tensor([[0.1, 3.0, 0.2]])
    sampling = SamplingConfig(temperature=1.0, top_p=1e-6)
    assert int(sample_next(logits, sampling, None)) == 1


def test_new_tokens_capped_by_context(model):
    result = generate(model, list(range(40)), max_new_tokens=100)
    assert len(result.generated_ids) == 8  # context 48


def test_prompt_longer_than_context_rejected(model):
    with pytest.raises(
        UserInputError, match="the prompt is 60 tokens long, but the model's context is 48 tokens"
    ):
        generate(model, list(range(60)), max_new_tokens=4)


def test_token_outside_vocabulary_rejected(model):
    with pytest.raises(UserInputError, match="token id 97 is outside the model's vocabulary of 97"):
        generate(model, [1, 97], max_new_tokens=4)


def test_empty_prompt_rejected(model):
    with pytest.raises(UserInputError, match="prompt is empty"):
        generate(model, [], max_new_tokens=4)


def test_streamed_tokens_match_result(model):
    streamed = []
    result = generate(model, [3, 4], max_new_tokens=6, on_token=streamed.append)
    assert streamed == result.generated_ids


def test_text_stream_holds_partial_character():
    pieces = {1: "é".encode()[:1], 2: "é".encode()[1:], 3: b"!"}
    stream = TextStream(pieces.__getitem__)
    assert stream.push(1) == ""
    assert stream.push(2) == "é"
    assert stream.push(3) == "!"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"temperature": -1.0}, "temperature"),
        ({"top_p": 0.0}, "top-p"),
        ({"top_k": -2}, "top-k"),
    ],
)
def test_invalid_sampling_rejected(options, message):
    with pytest.raises(UserInputError, match=message):
        SamplingConfig(**options)
