"""The PyTorch block dequantizer against gguf.quants.dequantize."""

from __future__ import annotations

import numpy as np
import pytest
from gguf import GGMLQuantizationType
from gguf.quants import dequantize, quantize
from llama3_core import ggml_blocks
from llama3_core.gguf_checkpoint import read_gguf
from llama3_core.loading import default_model_path


@pytest.mark.parametrize("type_name", ["Q4_0", "Q4_1", "Q8_0"])
def test_blocks_equal_gguf_dequantize(type_name):
    kind = GGMLQuantizationType[type_name]
    weights = np.random.default_rng(0).normal(size=(48, 256)).astype(np.float32)
    raw = quantize(weights, kind)
    expected = dequantize(raw, kind).reshape(-1)
    assert np.array_equal(ggml_blocks.dequantize_blocks(raw, type_name).numpy(), expected)


def test_blocks_equal_on_default_model():
    _, tensors = read_gguf(default_model_path())
    for name in ("token_embd.weight", "blk.3.ffn_down.weight"):
        tensor = tensors[name]
        kind = GGMLQuantizationType(tensor.tensor_type)
        expected = dequantize(tensor.data, kind).reshape(-1)
        actual = ggml_blocks.dequantize_blocks(tensor.data, kind.name).numpy()
        assert np.array_equal(actual, expected), name
