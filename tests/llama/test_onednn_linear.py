"""oneDNN-reordered Linear layers: same products as F.linear, the layer swap, and decode bytes."""

import pytest
import torch
from torch import nn

from llama3_core.bench import decode_weight_bytes, greedy_ours
from llama3_core.config import ModelConfig
from llama3_core.model import Transformer
from llama3_core.onednn_linear import OneDNNLinear, onednn_linear_available, reorder_linears_onednn

pytestmark = pytest.mark.skipif(
    not onednn_linear_available(torch.float32), reason="this PyTorch build cannot reorder weights for oneDNN"
)


def tiny_model(**changes) -> Transformer:
    torch.manual_seed(0)
    settings = dict(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=97, hidden_dim=96, max_seq_len=64)
    settings.update(changes)
    return Transformer(ModelConfig(**settings)).eval()


@pytest.mark.parametrize("shape", [(1, 64), (3, 5, 64)])
def test_onednn_linear_matches_f_linear(shape):
    torch.manual_seed(0)
    weight = torch.randn(40, 64)
    x = torch.randn(*shape)
    out = OneDNNLinear(weight)(x)
    assert out.shape == (*shape[:-1], 40)
    assert torch.allclose(out, torch.nn.functional.linear(x, weight), atol=1e-4, rtol=1e-4)


@pytest.mark.skipif(not onednn_linear_available(torch.bfloat16), reason="no oneDNN bfloat16 on this CPU")
def test_onednn_linear_bfloat16_close():
    torch.manual_seed(0)
    weight = torch.randn(40, 64, dtype=torch.bfloat16)
    x = torch.randn(7, 64, dtype=torch.bfloat16)
    out = OneDNNLinear(weight)(x)
    assert out.dtype == torch.bfloat16
    assert torch.allclose(out.float(), torch.nn.functional.linear(x, weight).float(), atol=5e-2, rtol=5e-2)


def test_reorder_replaces_every_linear():
    model = tiny_model().fuse_projections()
    replaced = reorder_linears_onednn(model)
    plain = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    assert replaced == 2 * 4 + 1  # wqkv, wo, w13, w2 per layer, and the output
    assert plain == []


@torch.inference_mode()
def test_reordered_decode_equals_dense():
    model = tiny_model(tie_embeddings=True).fuse_projections()
    prompt = torch.tensor([[3, 14, 15, 92, 65, 35, 89]])
    expected, _, _ = greedy_ours(model, prompt, 8)
    reference_logits = model(prompt)
    reorder_linears_onednn(model)
    got, _, _ = greedy_ours(model, prompt, 8)
    assert torch.equal(got, expected)
    assert torch.allclose(model(prompt), reference_logits, atol=1e-4, rtol=1e-4)


def test_decode_bytes_unchanged_by_reorder():
    model = tiny_model().fuse_projections()
    dense_bytes = decode_weight_bytes(model)
    reorder_linears_onednn(model)
    assert decode_weight_bytes(model) == dense_bytes
