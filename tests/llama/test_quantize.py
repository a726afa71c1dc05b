"""Weight-only int8 quantization: per-channel scales, the layer swap, and accuracy."""

import pytest
import torch
from torch import nn

from llama3_core.config import ModelConfig
from llama3_core.model import Transformer
from llama3_core.quantize import Int8Linear, fusion_barrier, quantize_linears_int8, quantize_per_channel


def tiny_config(**changes) -> ModelConfig:
    base = dict(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=97, hidden_dim=96, max_seq_len=64)
    base.update(changes)
    return ModelConfig(**base)


def test_scales_are_row_absmax_over_127():
    weight = torch.tensor([[1.0, -2.54, 0.5], [0.1, 0.2, -0.05]])
    _, scales = quantize_per_channel(weight)
    assert torch.allclose(scales, torch.tensor([2.54 / 127, 0.2 / 127]))


def test_row_absmax_maps_to_127():
    weight = torch.randn(8, 16)
    quantized, _ = quantize_per_channel(weight)
    assert (quantized.abs().amax(dim=1) == 127).all()


def test_zero_row_dequantizes_to_zero():
    weight = torch.zeros(2, 4)
    weight[1] = torch.tensor([1.0, -1.0, 0.5, 0.25])
    quantized, scales = quantize_per_channel(weight)
    assert (quantized[0] == 0).all()
    assert scales[0] == 1.0


def test_dequantize_error_within_half_step():
    torch.manual_seed(0)
    weight = torch.randn(32, 48)
    quantized, scales = quantize_per_channel(weight)
    layer = Int8Linear(quantized, scales, torch.float32)
    error = (layer.dequantize() - weight).abs()
    assert (error <= scales[:, None] / 2 + 1e-6).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_int8_linear_matches_dequantized_matmul(dtype):
    torch.manual_seed(0)
    linear = nn.Linear(64, 40, bias=False).to(dtype)
    layer = Int8Linear.from_linear(linear)
    x = torch.randn(3, 5, 64, dtype=dtype)
    expected = x.float() @ layer.dequantize().T
    out = layer(x)
    assert out.shape == (3, 5, 40)
    assert out.dtype == dtype
    tolerance = 1e-4 if dtype == torch.float32 else 5e-2
    assert torch.allclose(out.float(), expected, atol=tolerance, rtol=tolerance)


def test_many_tokens_take_dequantized_path():
    torch.manual_seed(0)
    layer = Int8Linear.from_linear(nn.Linear(64, 40, bias=False).to(torch.bfloat16))
    x = torch.randn(40, 64, dtype=torch.bfloat16)
    expected = torch.cat([layer(x[:10]), layer(x[10:20]), layer(x[20:30]), layer(x[30:])])
    assert torch.allclose(layer(x).float(), expected.float(), atol=5e-2, rtol=5e-2)


def test_bias_linear_rejected():
    with pytest.raises(ValueError, match="bias-free"):
        Int8Linear.from_linear(nn.Linear(4, 4, bias=True))


def test_quantize_replaces_every_linear():
    model = Transformer(tiny_config())
    replaced = quantize_linears_int8(model)
    plain = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    assert replaced == 2 * 7 + 1
    assert plain == []


def test_tied_embedding_keeps_float_weight():
    model = Transformer(tiny_config(tie_embeddings=True))
    embedding_before = model.tok_embeddings.weight.detach().clone()
    quantize_linears_int8(model)
    assert model.tok_embeddings.weight.dtype == torch.float32
    assert torch.equal(model.tok_embeddings.weight, embedding_before)
    assert isinstance(model.output, Int8Linear)


@torch.inference_mode()
def test_quantized_logits_close_to_float():
    torch.manual_seed(0)
    model = Transformer(tiny_config()).eval()
    tokens = torch.randint(0, 97, (2, 12))
    reference = model(tokens)
    quantize_linears_int8(model)
    logits = model(tokens)
    relative = (logits - reference).abs().mean() / reference.abs().mean()
    assert relative < 0.02


@torch.inference_mode()
def test_quantized_cached_decode_runs_bfloat16():
    torch.manual_seed(0)
    model = Transformer(tiny_config()).to(torch.bfloat16).eval()
    quantize_linears_int8(model)
    cache = model.new_cache(1, 16)
    logits = model(torch.tensor([[1, 2, 3]]), torch.arange(3), cache)
    step = model(logits[:, -1:].argmax(-1), torch.tensor([3]), cache)
    assert step.shape == (1, 1, 97)
    assert torch.isfinite(step.float()).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_compiled_single_row_matches_dequantized_matmul(dtype):
    torch.manual_seed(0)
    layer = Int8Linear.from_linear(nn.Linear(64, 40, bias=False).to(dtype))
    # SiLU before the layer is the pointwise producer that the fusion barrier keeps out of its loop.
    compiled = torch.compile(lambda x: layer(torch.nn.functional.silu(x)), dynamic=False)
    x = torch.randn(1, 1, 64, dtype=dtype)
    expected = torch.nn.functional.silu(x).float() @ layer.dequantize().T
    out = compiled(x)
    assert out.shape == (1, 1, 40)
    assert out.dtype == dtype
    tolerance = 1e-4 if dtype == torch.float32 else 5e-2
    assert torch.allclose(out.float(), expected, atol=tolerance, rtol=tolerance)


def test_fusion_barrier_copies():
    x = torch.randn(3, 4)
    copy = fusion_barrier(x)
    assert torch.equal(copy, x)
    assert copy.data_ptr() != x.data_ptr()
