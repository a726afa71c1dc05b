"""The Transformer on its own: numerics, attention layout, KV cache and training."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from llama3_core.config import ModelConfig, RopeScaling
from llama3_core.model import RMSNorm, Transformer, apply_rotary, rope_frequencies


def tiny_config(**changes) -> ModelConfig:
    base = dict(
        dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=97, hidden_dim=96, max_seq_len=64
    )
    base.update(changes)
    return ModelConfig(**base)


def tiny_model(**changes) -> Transformer:
    torch.manual_seed(0)
    return Transformer(tiny_config(**changes)).eval()


def test_rope_angle_float32_in_bfloat16_model():
    config = tiny_config(
        max_seq_len=8192, rope_theta=500000.0, rope_scaling=RopeScaling(factor=8.0)
    )
    model = Transformer(config).to(torch.bfloat16)
    cos, sin = model.rope(torch.device("cpu"))

    freqs = rope_frequencies(config.head_dim, config.rope_theta, config.rope_scaling)
    angles = torch.tensor(4097.0, dtype=torch.float32) * freqs
    assert cos.dtype == torch.float32
    assert torch.equal(cos[4097], angles.cos())
    assert torch.equal(sin[4097], angles.sin())


def test_rope_scaling_keeps_high_frequencies():
    plain = rope_frequencies(128, 500000.0, None)
    scaled = rope_frequencies(128, 500000.0, RopeScaling(factor=8.0))
    assert torch.equal(scaled[0], plain[0])
    assert torch.allclose(scaled[-1], plain[-1] / 8)


def test_rotary_rotates_interleaved_pairs():
    x = torch.tensor([[[[1.0, 0.0, 0.0, 1.0]]]])  # (batch, seq, heads, head_dim)
    angle = torch.tensor([[math.pi / 2, math.pi]])
    rotated = apply_rotary(x, angle.cos()[:, None, None], angle.sin()[:, None, None])
    expected = torch.tensor([[[[0.0, 1.0, 0.0, -1.0]]]])
    torch.testing.assert_close(rotated, expected, atol=1e-6, rtol=0)


def test_rmsnorm_computes_in_float32():
    norm = RMSNorm(8, eps=1e-5).to(torch.bfloat16)
    x = (torch.randn(3, 8) * 100).to(torch.bfloat16)
    expected = (x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + 1e-5)).to(
        torch.bfloat16
    )
    out = norm(x)
    assert out.dtype == torch.bfloat16
    assert torch.equal(out, expected)


def test_gqa_repeat_interleave_head_order():
    model = tiny_model(n_layers=1, n_heads=4, n_kv_heads=2)
    attention = model.layers[0].attention
    x = torch.randn(1, 5, 64)
    cos, sin = model.rope(torch.device("cpu"))
    cos, sin = cos[:5][None, :, None], sin[:5][None, :, None]

    q = apply_rotary(attention.wq(x).view(1, 5, 4, 16), cos, sin).transpose(1, 2)
    k = apply_rotary(attention.wk(x).view(1, 5, 2, 16), cos, sin).transpose(1, 2)
    v = attention.wv(x).view(1, 5, 2, 16).transpose(1, 2)
    heads = [
        F.scaled_dot_product_attention(q[:, h], k[:, h // 2], v[:, h // 2], is_causal=True)
        for h in range(4)
    ]
    expected = attention.wo(torch.stack(heads, dim=2).reshape(1, 5, 64))
    with torch.no_grad():
        torch.testing.assert_close(attention(x, cos, sin), expected, atol=1e-6, rtol=0)


def test_tied_output_shares_embedding():
    model = tiny_model(tie_embeddings=True)
    assert model.output.weight is model.tok_embeddings.weight


def test_cached_decode_equals_full_forward():
    model = tiny_model()
    tokens = torch.randint(0, 97, (1, 40))
    with torch.no_grad():
        full = model(tokens)
        cache = model.new_cache(1, 40)
        steps = [model(tokens[:, :25], torch.arange(25), cache)]
        for position in range(25, 40):
            steps.append(model(tokens[:, position : position + 1], torch.tensor([position]), cache))
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=0)


def test_batch_unequal_lengths_equal_recompute():
    model = tiny_model()
    lengths = torch.tensor([7, 19, 12])
    total = 30
    tokens = torch.randint(0, 97, (3, total))
    with torch.no_grad():
        full = model(tokens)  # each row recomputed from scratch as one sequence
        cache = model.new_cache(3, total)
        padded = int(lengths.max())
        prefill = model(tokens[:, :padded], torch.arange(padded).expand(3, padded), cache)
        for row, length in enumerate(lengths.tolist()):
            torch.testing.assert_close(prefill[row, :length], full[row, :length], atol=1e-5, rtol=0)

        positions = lengths.clone()
        while int(positions.max()) < total:
            step_tokens = tokens[torch.arange(3), positions.clamp(max=total - 1)][:, None]
            logits = model(step_tokens, positions[:, None].clamp(max=total - 1), cache)
            for row in range(3):
                position = int(positions[row])
                if position < total:
                    torch.testing.assert_close(
                        logits[row, 0], full[row, position], atol=1e-5, rtol=0
                    )
            positions += 1


def test_training_forward_has_gradients():
    model = tiny_model()
    model.train()
    tokens = torch.randint(0, 97, (2, 16))
    loss = F.cross_entropy(model(tokens).flatten(0, 1), tokens.flatten())
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads)
    assert all(torch.isfinite(g).all() for g in grads)


def test_training_after_inference_mode_forward():
    model = tiny_model()
    tokens = torch.randint(0, 97, (1, 8))
    with torch.inference_mode():
        model(tokens)
    model.train()
    loss = F.cross_entropy(model(tokens).flatten(0, 1), tokens.flatten())
    loss.backward()
    assert model.tok_embeddings.weight.grad is not None


def test_dropout_only_in_training_mode():
    model = tiny_model(dropout=0.5)
    tokens = torch.randint(0, 97, (1, 16))
    with torch.no_grad():
        model.eval()
        assert torch.equal(model(tokens), model(tokens))
        model.train()
        assert not torch.equal(model(tokens), model(tokens))


def test_forward_rejects_too_long_sequence():
    model = tiny_model(max_seq_len=8)
    with pytest.raises(ValueError, match="exceeds max_seq_len 8"):
        model(torch.zeros(1, 9, dtype=torch.long))
