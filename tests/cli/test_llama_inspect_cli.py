"""End-to-end runs of `ml-toolkit llama explain` and `llama bench` on a tiny Hugging Face folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

SPECIAL_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml_toolkit", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run_tiny_bench(tiny_model, *options: str) -> subprocess.CompletedProcess[str]:
    """Run ``llama bench`` on the tiny test model: an 8-token prompt, 4 new tokens, one timed run."""
    return run_cli(
        "llama", "bench", "--model", str(tiny_model), "--prompt-tokens", "8", "--new-tokens", "4",
        "--repeats", "1", *options,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """Write a random 2-layer Llama as a Hugging Face folder with a byte-level tokenizer.json."""
    from llama3_core.byte_level_bpe import byte_to_char
    from llama3_core.config import ModelConfig
    from llama3_core.hf_export import to_transformers
    from llama3_core.model import Transformer
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    torch.manual_seed(0)
    vocab_size = 256 + len(SPECIAL_TOKENS)
    config = ModelConfig(
        dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=vocab_size, hidden_dim=96, max_seq_len=128
    )
    folder = tmp_path_factory.mktemp("tiny-hf")
    hf_model = to_transformers(Transformer(config).eval())
    hf_model.config.bos_token_id = 256
    hf_model.config.eos_token_id = 257
    hf_model.save_pretrained(folder, safe_serialization=True)

    chars = byte_to_char()
    vocab = {chars[byte]: byte for byte in range(256)}
    vocab.update({token: 256 + index for index, token in enumerate(SPECIAL_TOKENS)})
    tokenizer = Tokenizer(models.BPE(vocab, []))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    tokenizer.save(str(folder / "tokenizer.json"))
    return folder


@pytest.fixture(scope="module")
def explained(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("explain") / "out"
    result = run_cli("llama", "explain", "the cat sat", "--model", str(tiny_model), "--out", str(out), "--json")
    return out, result


def test_explain_json_lists_files(explained):
    out, result = explained
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["layer"] == 1
    assert summary["heads"] == [0, 1, 2, 3]
    assert len(summary["top_next_tokens"]) == 5
    for name in summary["files"]:
        assert Path(name).is_file(), name
    assert str(out / "index.html") in summary["files"]


def test_explain_pictures_not_blank(explained):
    out, _ = explained
    pictures = sorted(out.glob("*.png"))
    assert len(pictures) == 1 + 4 + 1 + 1  # rotary, one q·k per head, all heads, logit lens
    for path in pictures:
        image = np.asarray(Image.open(path).convert("L"))
        assert image.std() > 10, path.name


def test_explain_existing_out_exits_2(explained, tiny_model):
    out, _ = explained
    result = run_cli("llama", "explain", "again", "--model", str(tiny_model), "--out", str(out))
    assert result.returncode == 2
    assert "--overwrite" in result.stderr
    assert "Traceback" not in result.stderr


def test_explain_bad_layer_exits_2(tiny_model, tmp_path):
    result = run_cli("llama", "explain", "hi", "--model", str(tiny_model), "--out", str(tmp_path), "--layer", "7")
    assert result.returncode == 2
    assert "--layer 7" in result.stderr
    assert "Traceback" not in result.stderr


def test_bench_json_compare_and_int8(tiny_model):
    result = run_tiny_bench(
        tiny_model, "--quantize", "int8", "--compare", "transformers", "--dtype", "bfloat16", "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for side in ("ours", "transformers"):
        assert report[side]["prefill_tokens_per_s"] > 0, side
        assert report[side]["decode_tokens_per_s"] > 0, side
        assert report[side]["roofline_fraction"] > 0, side
    assert report["decode_speedup"] == pytest.approx(
        report["ours"]["decode_tokens_per_s"] / report["transformers"]["decode_tokens_per_s"]
    )
    assert report["int8_quality"]["quantized_layers"] == 2 * 4 + 1  # wqkv, wo, w13, w2 per layer, and output
    assert set(report["int8_quality"]["prompts"]) == {
        "chat-capital-of-france", "plain-photosynthesis", "plain-thermodynamics", "plain-python-function"
    }
    assert report["bandwidth"]["copy_bytes_per_s"] > 0
    assert report["int8_quality"]["decode_step"] == "eager"


def test_bench_int8_compile_checks_compiled_text(tiny_model):
    result = run_tiny_bench(tiny_model, "--quantize", "int8", "--compile", "--dtype", "bfloat16", "--json")
    assert result.returncode == 0, result.stderr
    quality = json.loads(result.stdout)["int8_quality"]
    assert quality["decode_step"] == "torch.compile"
    assert len(quality["prompts"]["plain-photosynthesis"]["reference_text"]) > 0


@pytest.mark.parametrize(
    ("option", "value"),
    [("--new-tokens", "1"), ("--quantize", "int4"), ("--compare", "vllm"), ("--batch-size", "0")],
)
def test_bench_invalid_option_exits_2(option, value):
    result = run_cli("llama", "bench", option, value)
    assert result.returncode == 2
    assert option in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["explain", "bench"])
def test_help_imports_no_torch(command):
    probe = (
        "import sys\n"
        "from ml_toolkit.cli import app\n"
        f"try:\n    app(['llama', {command!r}, '--help'])\nexcept SystemExit:\n    pass\n"
        "print('TORCH:' + str('torch' in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert "TORCH:False" in result.stderr


def test_bench_random_weights_rejects_quantize():
    result = run_cli("llama", "bench", "--random-weights", "llama3-8b", "--quantize", "int8")
    assert result.returncode == 2
    assert "--random-weights" in result.stderr
    assert "--quantize" in result.stderr


def test_bench_random_weights_rejects_model(tiny_model):
    result = run_cli("llama", "bench", "--random-weights", "llama3-8b", "--model", str(tiny_model))
    assert result.returncode == 2
    assert "--model" in result.stderr
    assert "--quantize" not in result.stderr


def test_bench_human_output_shows_both_int8_texts(tiny_model):
    result = run_tiny_bench(
        tiny_model, "--quantize", "int8", "--compare", "transformers", "--dtype", "bfloat16",
    )
    assert result.returncode == 0, result.stderr
    assert "ours: bfloat16, int8 weights, dense weights, not compiled" not in result.stdout
    assert "ours: bfloat16, int8 weights, not compiled; transformers: bfloat16, dense weights" in result.stdout
    assert "measuring memory bandwidth" not in result.stdout
    differing = [line for line in result.stdout.splitlines() if "differs from token index" in line]
    equal = [line for line in result.stdout.splitlines() if ": equal: " in line]
    assert len(differing) + len(equal) == 4
    assert result.stdout.count("    int8: ") == len(differing)


def test_generate_saves_attention_heatmap(tiny_model, tmp_path):
    target = tmp_path / "attention.png"
    result = run_cli(
        "llama", "generate", "the cat", "--model", str(tiny_model), "--no-chat", "--max-new-tokens", "4",
        "--attention-heatmap", str(target), "--json",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["attention_heatmap"] == str(target)
    image = np.asarray(Image.open(target).convert("L"))
    assert image.shape == (900, 1000)
    assert image.std() > 10


def test_generate_heatmap_needs_png_name(tmp_path):
    result = run_cli("llama", "generate", "hi", "--attention-heatmap", str(tmp_path / "a.jpg"))
    assert result.returncode == 2
    assert "--attention-heatmap" in result.stderr


def invoke(*args: str):
    from ml_toolkit.cli import app
    from typer.testing import CliRunner

    return CliRunner().invoke(app, list(args))


def test_explain_overwrite_removes_old_pictures(tiny_model, tmp_path):
    out = tmp_path / "out"
    invoke("llama", "explain", "the cat", "--model", str(tiny_model), "--out", str(out))
    (out / "notes.txt").write_text("mine")
    result = invoke(
        "llama", "explain", "the dog", "--model", str(tiny_model), "--out", str(out),
        "--layer", "0", "--head", "1", "--overwrite",
    )
    assert result.exit_code == 0, result.output
    names = sorted(path.name for path in out.iterdir())
    assert names == [
        "heads_layer0.png", "index.html", "logit_lens.png", "notes.txt", "qk_layer0_head1.png", "rotary.png"
    ]


@pytest.mark.parametrize("prompt", ["", "   "])
def test_explain_empty_prompt_exits_2(tiny_model, tmp_path, prompt):
    from mltk_core.errors import UserInputError

    result = invoke("llama", "explain", prompt, "--model", str(tiny_model), "--out", str(tmp_path / "out"))
    assert isinstance(result.exception, UserInputError)
    assert "the prompt is empty" in str(result.exception)


def test_bench_reorders_for_onednn_by_default(tiny_model):
    from llama3_core.onednn_linear import onednn_linear_available

    result = run_tiny_bench(tiny_model, "--dtype", "float32", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["onednn"] is onednn_linear_available(torch.float32)


def test_bench_onednn_with_compile_exits_2():
    result = run_cli("llama", "bench", "--onednn", "--compile")
    assert result.returncode == 2
    assert "--onednn" in result.stderr


def test_bench_onednn_float16_rejected_before_loading():
    result = run_cli("llama", "bench", "--onednn", "--dtype", "float16")
    assert result.returncode == 2
    assert "--dtype float32 or bfloat16" in result.stderr
    assert "measuring memory bandwidth" not in result.stderr
