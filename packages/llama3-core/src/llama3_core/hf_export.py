"""Build a Hugging Face ``LlamaForCausalLM`` with a copy of the weights of a ``Transformer``.

``llama bench --compare transformers`` runs both models on the same weights,
and tests compare attention weights with ``transformers``' own. The q and k
rows go from Meta's interleaved rotary pairs to Hugging Face's half-split
layout (``permute_rows``). The copy shares no storage with the source model.
"""

from __future__ import annotations

import torch

from llama3_core.hf_checkpoint import permute_rows
from llama3_core.model import Transformer

_LAYER_NAMES = {
    "attention.wq.weight": "self_attn.q_proj.weight",
    "attention.wk.weight": "self_attn.k_proj.weight",
    "attention.wv.weight": "self_attn.v_proj.weight",
    "attention.wo.weight": "self_attn.o_proj.weight",
    "feed_forward.w1.weight": "mlp.gate_proj.weight",
    "feed_forward.w2.weight": "mlp.down_proj.weight",
    "feed_forward.w3.weight": "mlp.up_proj.weight",
    "attention_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
}


def transformers_config(model: Transformer, attn_implementation: str = "sdpa"):
    """Return the ``transformers.LlamaConfig`` with ``model``'s shapes and numerics."""
    from transformers import LlamaConfig

    config = model.config
    rope_scaling = None
    if config.rope_scaling is not None:
        rope_scaling = {
            "rope_type": "llama3",
            "factor": config.rope_scaling.factor,
            "low_freq_factor": config.rope_scaling.low_freq_factor,
            "high_freq_factor": config.rope_scaling.high_freq_factor,
            "original_max_position_embeddings": config.rope_scaling.original_max_position_embeddings,
        }
    hf_config = LlamaConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.dim,
        intermediate_size=config.ffn_hidden_dim,
        num_hidden_layers=config.n_layers,
        num_attention_heads=config.n_heads,
        num_key_value_heads=config.n_kv_heads,
        rms_norm_eps=config.norm_eps,
        rope_theta=config.rope_theta,
        rope_scaling=rope_scaling,
        max_position_embeddings=config.max_seq_len,
        tie_word_embeddings=config.tie_embeddings,
        attention_bias=False,
        mlp_bias=False,
    )
    hf_config._attn_implementation = attn_implementation
    return hf_config


def transformers_state_dict(model: Transformer) -> dict[str, torch.Tensor]:
    """Rename ``model``'s parameters to Hugging Face's names, with q and k rows permuted."""
    config = model.config
    state: dict[str, torch.Tensor] = {}
    for name, tensor in model.state_dict().items():
        if name == "tok_embeddings.weight":
            state["model.embed_tokens.weight"] = tensor
        elif name == "norm.weight":
            state["model.norm.weight"] = tensor
        elif name == "output.weight":
            if not config.tie_embeddings:
                state["lm_head.weight"] = tensor
        else:
            _, index, rest = name.split(".", 2)  # "layers", "{i}", "attention.wq.weight"
            if rest == "attention.wq.weight":
                tensor = permute_rows(tensor, config.n_heads)
            elif rest == "attention.wk.weight":
                tensor = permute_rows(tensor, config.n_kv_heads)
            state[f"model.layers.{index}.{_LAYER_NAMES[rest]}"] = tensor
    return state


def to_transformers(model: Transformer, attn_implementation: str = "sdpa"):
    """Return a ``LlamaForCausalLM`` in eval mode with a copy of ``model``'s weights, device and dtype."""
    from transformers import LlamaForCausalLM

    weight = model.tok_embeddings.weight
    hf_config = transformers_config(model, attn_implementation)
    with torch.device("meta"):
        hf_model = LlamaForCausalLM(hf_config)
    state = {
        name: tensor.detach().clone() for name, tensor in transformers_state_dict(model).items()
    }
    hf_model.load_state_dict(state, strict=not model.config.tie_embeddings, assign=True)
    if model.config.tie_embeddings:
        hf_model.tie_weights()
    # The rotary inverse frequencies are a non-persistent buffer, so they are still on "meta".
    with torch.device(weight.device):
        hf_model.model.rotary_emb = type(hf_model.model.rotary_emb)(config=hf_config)
    return hf_model.to(device=weight.device, dtype=weight.dtype).eval()
