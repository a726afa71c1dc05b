"""`llama generate` and `llama tokenize` in-process, on tiny checkpoints the tests write."""

from __future__ import annotations

import json

import pytest
from ml_toolkit.cli import app
from mltk_core.errors import UserInputError
from typer.testing import CliRunner

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_generate_gguf_no_chat_json(reference_model, write_gguf):
    path = write_gguf(reference_model("gqa"))
    result = invoke(
        "llama",
        "generate",
        "the then",
        "--model",
        str(path),
        "--json",
        "--max-new-tokens",
        "5",
        "--dtype",
        "float32",
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["chat"] is False
    assert report["format"] == "gguf"
    assert report["stop_reason"] in ("max_new_tokens", "stop_token")
    assert len(report["generated_ids"]) <= 5


def test_generate_hf_folder_sampled_is_seeded(reference_model, write_hf_folder):
    folder = write_hf_folder(reference_model("tied"))
    args = (
        "llama",
        "generate",
        "in the",
        "--model",
        str(folder),
        "--json",
        "--max-new-tokens",
        "6",
        "--temperature",
        "1.0",
        "--top-k",
        "20",
        "--seed",
        "7",
        "--dtype",
        "float32",
    )
    first = json.loads(invoke(*args).stdout)
    second = json.loads(invoke(*args).stdout)
    assert first["generated_ids"] == second["generated_ids"]


def test_generate_meta_instruct_uses_dialog(reference_model, write_meta_folder, tmp_path):
    folder = write_meta_folder(reference_model("gqa"))
    instruct = folder.rename(tmp_path / "Tiny-Instruct")
    result = invoke(
        "llama",
        "generate",
        "hi",
        "--model",
        str(instruct),
        "--json",
        "--max-new-tokens",
        "2",
        "--dtype",
        "float32",
    )
    # Meta's tokenizer has 128,256 ids but the tiny model only 300, so the
    # dialog's control tokens are outside its vocabulary.
    assert isinstance(result.exception, UserInputError)
    assert "token id 128000 is outside the model's vocabulary of 300" in str(result.exception)


def test_chat_without_template_rejected(reference_model, write_gguf):
    path = write_gguf(reference_model("gqa"))
    result = invoke("llama", "generate", "hi", "--model", str(path), "--chat", "--dtype", "float32")
    assert isinstance(result.exception, UserInputError)
    assert "has no chat template" in str(result.exception)


def test_tokenize_hf_folder_json(reference_model, write_hf_folder):
    folder = write_hf_folder(reference_model("gqa"))
    result = invoke("llama", "tokenize", " the then <|eot_id|>", "--model", str(folder), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["pieces"][0] == " the"
    assert "".join(report["pieces"]) == " the then <|eot_id|>"


@pytest.mark.parametrize("option", [["--top-p", "0"], ["--max-new-tokens", "-1"]])
def test_invalid_options_rejected_before_loading(option):
    result = invoke("llama", "generate", "hi", "--model", "/nonexistent", *option)
    assert isinstance(result.exception, UserInputError)
    assert "invalid" in str(result.exception)


@pytest.mark.parametrize("mode", ["--chat", "--no-chat", None])
@pytest.mark.parametrize("prompt", ["", "  \n "])
def test_generate_empty_prompt_rejected(reference_model, write_gguf, mode, prompt):
    path = write_gguf(reference_model("gqa"))
    args = ["llama", "generate", prompt, "--model", str(path), "--device", "cpu"]
    result = invoke(*args, *([mode] if mode else []))
    assert isinstance(result.exception, UserInputError)
    assert "the prompt is empty" in str(result.exception)


def test_generate_summary_stays_one_line(reference_model, write_gguf):
    path = write_gguf(reference_model("gqa"))
    result = invoke(
        "llama", "generate", "the then", "--model", str(path), "--no-chat",
        "--max-new-tokens", "3", "--dtype", "float32", "--device", "cpu", "--no-onednn",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "stopped by" in line]
    assert lines[0].endswith("(cpu, float32)")
