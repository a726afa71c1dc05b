"""``ml-toolkit lora``: LoRA against full finetuning, on what each learns, what each forgets,
and the rank of its update."""

from __future__ import annotations

from pathlib import Path

import typer

from ml_toolkit.options import flag_option
from ml_toolkit.output import human_console, print_json

app = typer.Typer(
    help="Compare LoRA with full finetuning: what each learns and forgets, and its update's rank.",
    no_args_is_help=True,
)

PRESET_HELP = (
    "Settings to start from: quick (under 3 min on 2 CPU cores), default (under 20 min), "
    "gpu (SmolLM2-135M, longer training). Every other flag overrides one preset setting."
)


@app.command("compare")
def compare(
    preset: str = typer.Option("default", "--preset", help=PRESET_HELP),
    base: str | None = typer.Option(
        None, "--base", help="Base model: tiny (pretrained here), smollm2, or a checkpoint path."
    ),
    source_corpus: str | None = typer.Option(
        None,
        "--source-corpus",
        help="Source-domain text file for the tiny base (default: pydoc_data.topics). "
        "A relative path that does not exist is looked up in the data directory.",
    ),
    data_dir: str | None = typer.Option(
        None, "--data-dir", help="Data directory with corpora/ (default: $MLTK_DATA_DIR)."
    ),
    domain: str | None = typer.Option(None, "--domain", help="Target domain: math or code."),
    regime: str | None = typer.Option(
        None, "--regime", help="instruction (loss on responses only) or continued (raw text)."
    ),
    arms: str | None = typer.Option(
        None,
        "--arms",
        help="Comma-separated arms: full, full-wd, full-dropout, lora-low, lora-mid, lora-high, "
        "lora-attn, lora-alpha-r.",
    ),
    ranks: str | None = typer.Option(
        None, "--ranks", help="LoRA ranks low,mid,high; attention-only and alpha=r use high."
    ),
    lora_targets: str | None = typer.Option(
        None,
        "--lora-targets",
        help="Comma-separated block modules that the LoRA arms adapt "
        "(default: wq,wk,wv,wo,w1,w2,w3).",
    ),
    steps: str | None = typer.Option(
        None, "--steps", help="Comma-separated training lengths in optimizer steps."
    ),
    batch_size: int | None = typer.Option(
        None, "--batch-size", help="Global batch in sequences, split across torchrun processes."
    ),
    micro_batch_size: int | None = typer.Option(
        None, "--micro-batch-size", help="Sequences per forward pass per process (0: whole batch)."
    ),
    seq_len: int | None = typer.Option(None, "--seq-len", help="Tokens per training sequence."),
    full_lrs: str | None = typer.Option(
        None, "--full-lrs", help="Comma-separated learning-rate grid of the full-finetuning arms."
    ),
    lora_lrs: str | None = typer.Option(
        None, "--lora-lrs", help="Comma-separated learning-rate grid of the LoRA arms."
    ),
    warmup_steps: int | None = typer.Option(None, "--warmup-steps", help="Linear warmup steps."),
    weight_decay: float | None = typer.Option(
        None, "--weight-decay", help="AdamW weight decay of the full-wd arm (other arms use 0)."
    ),
    dropout: float | None = typer.Option(
        None, "--dropout", help="Dropout probability of the full-dropout arm."
    ),
    lora_dropout: float | None = typer.Option(
        None, "--lora-dropout", help="Dropout on the LoRA adapters' input."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed of data, initialisation and order."),
    device: str | None = typer.Option(
        None,
        "--device",
        help="auto, cpu, cuda, cuda:N or mps (under torchrun: one GPU per process).",
    ),
    dtype: str | None = typer.Option(
        None,
        "--dtype",
        help="Compute dtype: auto, float32, bfloat16 or float16 (weights stay float32).",
    ),
    threads: int | None = typer.Option(
        None, "--threads", help="torch CPU threads per process (0: torch's default)."
    ),
    eval_rows: int | None = typer.Option(
        None, "--eval-rows", help="Held-out target sequences scored for loss."
    ),
    source_eval_rows: int | None = typer.Option(
        None, "--source-eval-rows", help="Held-out source sequences scored for forgetting."
    ),
    math_train_problems: int | None = typer.Option(
        None, "--math-train-problems", help="Generated training problems of the math domain."
    ),
    math_eval_problems: int | None = typer.Option(
        None, "--math-eval-problems", help="Held-out math problems scored by exact match."
    ),
    code_chars: int | None = typer.Option(
        None, "--code-chars", help="Characters of standard-library source read for the code domain."
    ),
    humaneval: bool | None = flag_option(
        None, "--humaneval/--no-humaneval", help="Also score HumanEval pass@1 (code domain)."
    ),
    humaneval_problems: int | None = typer.Option(
        None,
        "--humaneval-problems",
        help="HumanEval problems scored, from the first (at most 164).",
    ),
    save_weights: bool | None = flag_option(
        None,
        "--save-weights/--no-save-weights",
        help="Save each run's adapter or weights under runs/.",
    ),
    intruder_top_k: int | None = typer.Option(
        None, "--intruder-top-k", help="Top singular vectors tested for intruder dimensions."
    ),
    intruder_threshold: float | None = typer.Option(
        None, "--intruder-threshold", help="Cosine similarity below which a vector is an intruder."
    ),
    base_vocab_size: int | None = typer.Option(
        None, "--base-vocab-size", help="Tiny base: BPE vocabulary size (at most 4096)."
    ),
    base_dim: int | None = typer.Option(None, "--base-dim", help="Tiny base: model width."),
    base_layers: int | None = typer.Option(None, "--base-layers", help="Tiny base: blocks."),
    base_heads: int | None = typer.Option(None, "--base-heads", help="Tiny base: query heads."),
    base_kv_heads: int | None = typer.Option(
        None, "--base-kv-heads", help="Tiny base: key/value heads."
    ),
    base_hidden_dim: int | None = typer.Option(
        None, "--base-hidden-dim", help="Tiny base: SwiGLU hidden size."
    ),
    base_steps: int | None = typer.Option(
        None, "--base-steps", help="Tiny base: pretraining steps."
    ),
    base_batch_size: int | None = typer.Option(
        None, "--base-batch-size", help="Tiny base: pretraining batch in sequences."
    ),
    base_lr: float | None = typer.Option(None, "--base-lr", help="Tiny base: pretraining rate."),
    out: str = typer.Option(
        "runs/lora-compare", "--out", help="Folder for results, plots and report.md."
    ),
    overwrite: bool = flag_option(
        False, "--overwrite", help="Replace results in --out that were made with other settings."
    ),
    json_output: bool = flag_option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Finetune a base model with full finetuning and LoRA arms, and measure learning,
    forgetting and update rank.

    Run it under 'torchrun --nproc-per-node N -m ml_toolkit lora compare ...' to
    train each arm with DistributedDataParallel; rank 0 writes the results.
    """
    from lora_study.cli_support import parse_floats, parse_ints, parse_names, resolve_source_corpus
    from lora_study.settings import settings_from_preset

    overrides = {
        "base": base,
        "source_corpus": resolve_source_corpus(source_corpus, data_dir),
        "domain": domain,
        "regime": regime,
        "arms": parse_names(arms, "--arms"),
        "ranks": parse_ints(ranks, "--ranks"),
        "lora_targets": parse_names(lora_targets, "--lora-targets"),
        "steps": parse_ints(steps, "--steps"),
        "batch_size": batch_size,
        "micro_batch_size": micro_batch_size,
        "seq_len": seq_len,
        "full_lrs": parse_floats(full_lrs, "--full-lrs"),
        "lora_lrs": parse_floats(lora_lrs, "--lora-lrs"),
        "warmup_steps": warmup_steps,
        "weight_decay": weight_decay,
        "dropout": dropout,
        "lora_dropout": lora_dropout,
        "seed": seed,
        "device": device,
        "dtype": dtype,
        "threads": threads,
        "eval_rows": eval_rows,
        "source_eval_rows": source_eval_rows,
        "math_train_problems": math_train_problems,
        "math_eval_problems": math_eval_problems,
        "code_chars": code_chars,
        "humaneval": humaneval,
        "humaneval_problems": humaneval_problems,
        "save_weights": save_weights,
        "intruder_top_k": intruder_top_k,
        "intruder_threshold": intruder_threshold,
        "base_vocab_size": base_vocab_size,
        "base_dim": base_dim,
        "base_layers": base_layers,
        "base_heads": base_heads,
        "base_kv_heads": base_kv_heads,
        "base_hidden_dim": base_hidden_dim,
        "base_steps": base_steps,
        "base_batch_size": base_batch_size,
        "base_lr": base_lr,
    }
    settings = settings_from_preset(preset, overrides)

    from lora_study.study import run_study
    from mltk_core.progress import stderr_console

    log_console = stderr_console()
    payload = run_study(
        settings, Path(out), overwrite=overwrite, json_mode=json_output, log=log_console.print
    )
    if payload is None:
        return  # a torchrun process other than rank 0
    if json_output:
        print_json(payload)
        return
    from lora_study.summary_table import print_summary

    print_summary(payload, human_console(json_output))


@app.command("spectrum")
def spectrum(
    base: str = typer.Argument(
        ...,
        help="Base checkpoint: a tiny-base folder, a state-dict file or a GGUF file.",
    ),
    finetuned: str = typer.Argument(
        ..., help="Finetuned checkpoint of the same kind, or a saved peft LoRA adapter folder."
    ),
    top_k: int = typer.Option(
        10, "--intruder-top-k", help="Top singular vectors tested for intruders."
    ),
    threshold: float = typer.Option(
        0.5, "--intruder-threshold", help="Cosine similarity below which a vector is an intruder."
    ),
    out: str | None = typer.Option(
        None, "--out", help="Folder for spectrum.json and its plots (default: print only)."
    ),
    json_output: bool = flag_option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Analyse ΔW = finetuned − base for every block matrix: 90%-energy rank and intruders."""
    from lora_study.spectrum_command import analyse_checkpoints

    out_path = Path(out) if out is not None else None
    payload = analyse_checkpoints(Path(base), Path(finetuned), top_k, threshold, out_path)
    if json_output:
        print_json(payload)
        return
    from lora_study.summary_table import print_spectrum

    print_spectrum(payload, human_console(json_output))
