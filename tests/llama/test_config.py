"""ModelConfig: Meta's hidden-size rule, presets and the three config sources."""

from __future__ import annotations

import pytest
from llama3_core.config import PRESETS, ModelConfig
from mltk_core.errors import UserInputError


def test_hidden_size_rule_llama3_8b():
    config = ModelConfig(dim=4096, ffn_dim_multiplier=1.3, multiple_of=1024)
    assert config.ffn_hidden_dim == 14336


@pytest.mark.parametrize(
    ("preset", "hidden"),
    [
        ("llama3-8b", 14336),
        ("llama3-70b", 28672),
        ("llama3.1-405b", 53248),
        ("llama3.2-1b", 8192),
        ("llama3.2-3b", 8192),
    ],
)
def test_preset_hidden_sizes(preset, hidden):
    assert PRESETS[preset].ffn_hidden_dim == hidden


@pytest.mark.parametrize(("preset", "factor"), [("llama3.1-8b", 8.0), ("llama3.2-1b", 32.0)])
def test_preset_rope_factors(preset, factor):
    assert PRESETS[preset].rope_scaling.factor == factor


def test_meta_params_scaled_rope_factor_from_file():
    params = {
        "dim": 4096,
        "n_layers": 32,
        "n_heads": 32,
        "n_kv_heads": 8,
        "use_scaled_rope": True,
        "rope_scaling_factor": 16.0,
        "multiple_of": 1024,
        "ffn_dim_multiplier": 1.3,
    }
    config = ModelConfig.from_meta_params(params)
    assert config.rope_scaling.factor == 16.0
    assert config.max_seq_len == 131072


def test_meta_params_llama32_default_factor():
    params = {
        "dim": 2048,
        "n_layers": 16,
        "n_heads": 32,
        "n_kv_heads": 8,
        "use_scaled_rope": True,
        "multiple_of": 256,
        "ffn_dim_multiplier": 1.5,
        "rope_theta": 500000.0,
    }
    config = ModelConfig.from_meta_params(params)
    assert config.rope_scaling.factor == 32.0
    assert config.matching_preset() == "llama3.2-1b"


def test_meta_params_llama3_has_no_scaling():
    params = {
        "dim": 4096,
        "n_layers": 32,
        "n_heads": 32,
        "n_kv_heads": 8,
        "multiple_of": 1024,
        "ffn_dim_multiplier": 1.3,
        "rope_theta": 500000.0,
    }
    config = ModelConfig.from_meta_params(params)
    assert config.rope_scaling is None
    assert config.matching_preset() == "llama3-8b"


def test_hf_config_v4_rope_scaling():
    config = ModelConfig.from_hf_config(
        {
            "model_type": "llama",
            "hidden_size": 2048,
            "num_hidden_layers": 16,
            "num_attention_heads": 32,
            "num_key_value_heads": 8,
            "vocab_size": 128256,
            "intermediate_size": 8192,
            "rope_theta": 500000.0,
            "tie_word_embeddings": True,
            "max_position_embeddings": 131072,
            "rope_scaling": {
                "rope_type": "llama3",
                "factor": 32.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192,
            },
        }
    )
    assert config.rope_scaling.factor == 32.0
    assert config.rope_theta == 500000.0
    assert config.matching_preset() == "llama3.2-1b"


def test_hf_config_rejects_other_architecture():
    with pytest.raises(UserInputError, match="model_type 'mistral'"):
        ModelConfig.from_hf_config({"model_type": "mistral", "hidden_size": 64})


def test_gguf_metadata_without_output_is_tied():
    metadata = {
        "general.architecture": "llama",
        "llama.embedding_length": 576,
        "llama.block_count": 30,
        "llama.attention.head_count": 9,
        "llama.attention.head_count_kv": 3,
        "llama.feed_forward_length": 1536,
        "llama.vocab_size": 49152,
        "llama.rope.freq_base": 100000.0,
        "llama.context_length": 8192,
    }
    config = ModelConfig.from_gguf_metadata(metadata, {"token_embd.weight"})
    assert config.tie_embeddings
    assert config.n_rep == 3


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dim": 65}, "not divisible by n_heads"),
        ({"n_kv_heads": 3}, "not a multiple of n_kv_heads"),
        ({"dropout": 1.0}, "dropout"),
        ({"n_layers": 0}, "n_layers must be a positive integer"),
    ],
)
def test_invalid_config_rejected(changes, message):
    base = {"dim": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "vocab_size": 10}
    base.update(changes)
    with pytest.raises(UserInputError, match=message):
        ModelConfig(**base)
