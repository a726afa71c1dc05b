"""Tiny models and data shared by the LoRA study tests."""

from __future__ import annotations

import pytest
import torch
from llama3_core.config import ModelConfig
from llama3_core.model import Transformer


@pytest.fixture(autouse=True)
def one_thread():
    """Run each test on one torch thread: the tiny models' matrices are too small for
    intra-op threads to pay, and on a loaded machine they slow a step tenfold."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_config(**changes) -> ModelConfig:
    settings = dict(
        dim=32,
        n_layers=2,
        n_heads=4,
        n_kv_heads=2,
        vocab_size=300,
        hidden_dim=64,
        max_seq_len=64,
        rope_theta=10000.0,
    )
    settings.update(changes)
    return ModelConfig(**settings)


@pytest.fixture
def tiny_model() -> Transformer:
    torch.manual_seed(0)
    return Transformer(tiny_config())
