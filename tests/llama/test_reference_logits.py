"""Logits of every checkpoint reader against transformers' LlamaForCausalLM on the same weights."""

from __future__ import annotations

import pytest
import torch
from llama3_core.loading import load_model

CASE_NAMES = ["gqa", "tied", "rope_scaling"]
ATOL = 1e-4


def tokens_for(vocab_size: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.randint(0, vocab_size, (2, 96), generator=generator)


def reference_logits(reference, tokens: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return reference(tokens).logits


def loaded_logits(path, tokens: torch.Tensor) -> torch.Tensor:
    loaded = load_model(path, "cpu", torch.float32)
    with torch.no_grad():
        return loaded.model(tokens)


@pytest.mark.parametrize("case", CASE_NAMES)
def test_hf_folder_matches_transformers(case, reference_model, write_hf_folder):
    reference = reference_model(case)
    tokens = tokens_for(reference.config.vocab_size)
    folder = write_hf_folder(reference)
    torch.testing.assert_close(
        loaded_logits(folder, tokens), reference_logits(reference, tokens), atol=ATOL, rtol=0
    )


def test_hf_sharded_folder_matches_transformers(reference_model, write_hf_folder):
    reference = reference_model("gqa")
    tokens = tokens_for(reference.config.vocab_size)
    folder = write_hf_folder(reference, sharded=True)
    assert (folder / "model.safetensors.index.json").is_file()
    torch.testing.assert_close(
        loaded_logits(folder, tokens), reference_logits(reference, tokens), atol=ATOL, rtol=0
    )


@pytest.mark.parametrize("case", CASE_NAMES)
def test_meta_folder_matches_transformers(case, reference_model, write_meta_folder):
    reference = reference_model(case)
    tokens = tokens_for(reference.config.vocab_size)
    folder = write_meta_folder(reference)
    torch.testing.assert_close(
        loaded_logits(folder, tokens), reference_logits(reference, tokens), atol=ATOL, rtol=0
    )


def test_meta_shards_merge(reference_model, write_meta_folder):
    reference = reference_model("gqa")
    tokens = tokens_for(reference.config.vocab_size)
    folder = write_meta_folder(reference, n_shards=2)
    assert len(list(folder.glob("consolidated.*.pth"))) == 2
    torch.testing.assert_close(
        loaded_logits(folder, tokens), reference_logits(reference, tokens), atol=ATOL, rtol=0
    )


@pytest.mark.parametrize("case", CASE_NAMES)
def test_gguf_matches_transformers(case, reference_model, write_gguf):
    reference = reference_model(case)
    tokens = tokens_for(reference.config.vocab_size)
    path = write_gguf(reference)
    torch.testing.assert_close(
        loaded_logits(path, tokens), reference_logits(reference, tokens), atol=ATOL, rtol=0
    )


def test_gguf_q8_0_close_to_float32(reference_model, write_gguf):
    reference = reference_model("gqa")
    tokens = tokens_for(reference.config.vocab_size)
    expected = reference_logits(reference, tokens)
    actual = loaded_logits(write_gguf(reference, quantization="Q8_0"), tokens)
    # Q8_0 stores 8 bits per weight and one scale per block of 32 weights, so
    # logits move by a few percent of their spread, not more.
    assert (actual - expected).abs().mean() < 0.05 * expected.std()
    assert not torch.allclose(actual, expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("case", CASE_NAMES)
def test_gguf_config_round_trip(case, reference_model, write_gguf):
    reference = reference_model(case)
    loaded = load_model(write_gguf(reference), "cpu", torch.float32)
    config = loaded.model.config
    assert config.n_kv_heads == reference.config.num_key_value_heads
    assert config.tie_embeddings == reference.config.tie_word_embeddings
    assert (config.rope_scaling is not None) == (case == "rope_scaling")


def test_bfloat16_load_casts_weights(reference_model, write_hf_folder):
    reference = reference_model("gqa")
    loaded = load_model(write_hf_folder(reference), "cpu", torch.bfloat16)
    dtypes = {parameter.dtype for parameter in loaded.model.parameters()}
    assert dtypes == {torch.bfloat16}
