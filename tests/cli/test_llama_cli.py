"""End-to-end runs of `ml-toolkit llama` on the default model (SmolLM2-135M-Instruct)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from llama3_core.onednn_linear import onednn_linear_available


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml_toolkit", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_generate_json_answers_paris():
    result = run_cli(
        "llama", "generate", "What is the capital of France?", "--json", "--device", "cpu"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert "Paris" in report["text"]
    assert report["stop_reason"] == "stop_token"
    assert 2 not in report["generated_ids"]  # <|im_end|> ends the answer but is not part of it
    assert report["prompt_ids"][:2] == [1, 9690]  # <|im_start|>system
    assert set(report["timings"]) == {"prefill_tokens_per_s", "decode_tokens_per_s"}
    assert report["model"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert report["onednn"] is onednn_linear_available(getattr(torch, report["dtype"]))


def test_generate_streams_text():
    result = run_cli(
        "llama",
        "generate",
        "What is the capital of France?",
        "--dtype",
        "float32",
        "--max-new-tokens",
        "16",
    )
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout
    assert "tokens/s" in result.stderr


def test_tokenize_json_keeps_control_spelling_as_text():
    result = run_cli("llama", "tokenize", "Hi <|im_end|> 42", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert 2 not in report["ids"]
    assert "".join(report["pieces"]) == "Hi <|im_end|> 42"
    assert report["pieces"][-2:] == ["4", "2"]


def test_prompt_longer_than_context_exits_2():
    result = run_cli(
        "llama", "generate", "1" * 9000, "--no-chat", "--device", "cpu", "--dtype", "float32"
    )
    assert result.returncode == 2
    assert "9000 tokens long" in result.stderr
    assert "8192 tokens" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--top-p", "1.5"], "invalid --top-p 1.5"),
        (["--temperature", "-1"], "invalid --temperature -1.0"),
        (["--max-new-tokens", "0"], "invalid --max-new-tokens 0"),
        (["--top-k", "-3"], "invalid --top-k -3"),
        (["--model", "/nonexistent/model.gguf"], "model not found: /nonexistent/model.gguf"),
        (["--device", "cuda:9"], "cuda"),
    ],
)
def test_bad_option_exits_2(options, message):
    result = run_cli("llama", "generate", "Hello", *options)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_system_without_chat_exits_2():
    result = run_cli(
        "llama", "generate", "Hello", "--no-chat", "--system", "Be brief.", "--dtype", "float32"
    )
    assert result.returncode == 2
    assert "--system applies only in chat mode" in result.stderr
    assert "Traceback" not in result.stderr


def test_tokenize_missing_model_exits_2():
    result = run_cli("llama", "tokenize", "Hello", "--model", "/nonexistent")
    assert result.returncode == 2
    assert "model not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_generate_no_onednn_same_answer():
    result = run_cli(
        "llama", "generate", "What is the capital of France?", "--json", "--device", "cpu", "--no-onednn"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["onednn"] is False
    assert "Paris" in report["text"]
