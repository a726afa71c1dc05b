"""The torch-only roofline check meant for GPU machines without the workspace's CLI dependencies."""

import subprocess
import sys

import torch

from llama3_core.config import ModelConfig
from llama3_core.roofline_check import run_roofline_check


def test_roofline_report_tiny_config():
    config = ModelConfig(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=97, hidden_dim=96, max_seq_len=32)
    report = run_roofline_check(config, torch.device("cpu"), torch.float32, prompt_tokens=8, new_tokens=4, repeats=1)
    assert report["ours"]["decode_tokens_per_s"] > 0
    assert report["roofline_fraction_of_read_bandwidth"] > 0
    assert report["weight_bytes_per_decode_step"] > 0


def test_roofline_imports_only_torch():
    probe = (
        "import sys, llama3_core.roofline_check\n"
        "print(sorted(m for m in ('typer', 'rich', 'transformers', 'tiktoken', 'gguf') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
