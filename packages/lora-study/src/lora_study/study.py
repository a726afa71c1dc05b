"""The study recipe: prepare the base, finetune every arm at every learning
rate of its grid, evaluate each training length, analyse the updates' spectra,
and write the results, plots and report.

Every arm gets the same optimizer (AdamW), global batch, schedule, data order
and token budget. Only the trainable weights, the learning rate and the arm's
own regulariser differ.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from mltk_core.devices import resolve_device
from mltk_core.dtypes import resolve_dtype
from mltk_core.errors import UserInputError
from mltk_core.metadata import run_metadata
from mltk_core.progress import make_progress
from mltk_core.seeding import seed_everything

from lora_study.arms import (
    ArmSpec,
    arm_specs,
    build_arm_model,
    check_arms,
    learning_rates,
    trainable_parameters,
)
from lora_study.base_loading import load_study_base
from lora_study.base_model import LoadedBase
from lora_study.distributed import WorldInfo, barrier, close_world, init_world, process_device
from lora_study.domains import TargetData, build_target_data, source_held_out_rows
from lora_study.evaluation import held_out_loss, math_accuracy
from lora_study.prose_corpus import load_prose_corpus
from lora_study.results_store import ResultsStore
from lora_study.settings import StudySettings
from lora_study.spectrum import analyse_updates, summarise
from lora_study.token_rows import TokenRows
from lora_study.training import TrainConfig, TrainingDiverged, train
from lora_study.weights import block_weights


@dataclass
class StudyContext:
    settings: StudySettings
    device: torch.device
    dtype: torch.dtype
    world: WorldInfo
    base: LoadedBase
    target: TargetData
    source_rows: TokenRows
    base_weights: dict[str, torch.Tensor]
    log: Callable[[str], None]
    weights_dir: Path


def run_study(
    settings: StudySettings,
    out: Path,
    overwrite: bool = False,
    json_mode: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any] | None:
    """Run the whole study into ``out``; return the results payload on rank 0, None elsewhere."""
    started = time.perf_counter()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    device = resolve_device(settings.device)
    dtype = resolve_dtype(settings.dtype, device)
    world = init_world(device)
    try:
        device = process_device(device, world)
        return _run(settings, out, overwrite, json_mode, log, device, dtype, world, started)
    finally:
        close_world(world)


def _run(settings, out, overwrite, json_mode, log, device, dtype, world, started) -> dict | None:
    store = ResultsStore(out)
    settings_record = settings.to_dict()
    # Every process checks, so that no rank waits at a barrier for one that raised.
    if not overwrite:
        store.check_settings(settings_record)
    barrier(world)

    seed_everything(settings.seed)
    corpus = load_prose_corpus(settings.source_corpus)
    with make_progress(json_mode or not world.is_main) as progress:
        base = load_study_base(settings, corpus, device, world, progress, log)
    context = _context(settings, device, dtype, world, base, corpus, log, store.runs_dir)
    arms = arm_specs(settings)
    check_arms(base.model, arms)

    # settings.json is written only once every setting has passed its checks,
    # so that a rejected command leaves --out as it found it.
    barrier(world)
    if world.is_main:
        if store.prepare(settings_record, overwrite):
            log(f"resuming the study in {out}")
    barrier(world)

    base_record = _base_record(context, store)
    runs: dict[str, dict] = {}
    with make_progress(json_mode or not world.is_main) as progress:
        total = sum(len(learning_rates(arm, settings)) for arm in arms)
        arm_task = progress.add_task("arms", total=total)
        for arm in arms:
            for lr in learning_rates(arm, settings):
                run_id = f"{arm.key}__lr{lr:g}"
                record = store.load_run(run_id)
                if record is None:
                    record = _finetune(context, arm, lr, base_record, progress)
                    if world.is_main:
                        store.save_run(run_id, record)
                    barrier(world)
                runs[run_id] = record
                progress.advance(arm_task)

    if not world.is_main:
        return None
    from lora_study.reporting import write_outputs

    wall_seconds = time.perf_counter() - started
    metadata = run_metadata(device, dtype)
    metadata["world_size"] = world.world_size
    return write_outputs(store, settings, arms, base_record, runs, metadata, wall_seconds)


def _context(
    settings, device, dtype, world, base: LoadedBase, corpus, log, weights_dir
) -> StudyContext:
    max_seq_len = base.model.config.max_seq_len
    if settings.seq_len >= max_seq_len:
        raise UserInputError(
            f"--seq-len {settings.seq_len} is not below the base model's context "
            f"of {max_seq_len} tokens; lower --seq-len"
        )
    target = build_target_data(
        settings.domain,
        settings.regime,
        base.tokenizer,
        settings.seq_len,
        settings.seed,
        math_train_problems=settings.math_train_problems,
        math_held_out_problems=settings.math_eval_problems,
        code_chars=settings.code_chars,
    )
    target = TargetData(
        target.domain,
        target.regime,
        target.train,
        target.held_out.head(settings.eval_rows),
        target.held_out_problems,
        target.corpus_sha256,
    )
    source_rows = source_held_out_rows(
        base.tokenizer, corpus, settings.seq_len, settings.source_eval_rows
    )
    return StudyContext(
        settings,
        device,
        dtype,
        world,
        base,
        target,
        source_rows,
        block_weights(base.model),
        log,
        weights_dir,
    )


def _evaluate(
    context: StudyContext, model: torch.nn.Module, final: bool = True
) -> dict[str, float | None]:
    """Measure the target held-out loss, the math accuracy and the source held-out loss, and
    with ``--humaneval`` HumanEval pass@1 (at the longest length only, since it is slow)."""
    settings = context.settings
    accuracy = None
    if settings.domain == "math":
        accuracy = math_accuracy(
            model,
            context.base.tokenizer,
            context.target.held_out_problems,
            context.device,
            max_seq_len=model_max_seq_len(model),
        )
    metrics = {
        "target_loss": held_out_loss(model, context.target.held_out, context.device),
        "target_accuracy": accuracy,
        "source_loss": held_out_loss(model, context.source_rows, context.device),
    }
    if settings.humaneval and final:
        from lora_study.humaneval import load_problems, pass_at_1

        problems = load_problems(settings.humaneval_problems)
        metrics["humaneval_pass_at_1"] = pass_at_1(
            model, context.base.tokenizer, problems, context.device, model_max_seq_len(model)
        )
    return metrics


def model_max_seq_len(model: torch.nn.Module) -> int:
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return inner.config.max_seq_len


def _base_record(context: StudyContext, store: ResultsStore) -> dict:
    """Read base.json, or evaluate the base on rank 0 and write it."""
    saved = store.load_base()
    # Every rank reads before rank 0 may write, so all ranks take the same branch
    # and meet at the same barriers.
    barrier(context.world)
    if saved is not None:
        return saved
    record: dict = {}
    if context.world.is_main:
        record = {
            "name": context.base.name,
            "parameters": sum(p.numel() for p in context.base.model.parameters()),
            "vocab_size": context.base.tokenizer.vocab_size,
            "record": context.base.record,
            "target_train_rows": len(context.target.train),
            "target_held_out_rows": len(context.target.held_out),
            "source_held_out_rows": len(context.source_rows),
            **_evaluate(context, context.base.model),
        }
        store.save_base(record)
    barrier(context.world)
    return store.load_base() or record


def _finetune(context: StudyContext, arm: ArmSpec, lr: float, base_record: dict, progress) -> dict:
    """Train one (arm, learning rate) run to the longest length, evaluating at every length."""
    settings = context.settings
    seed_everything(settings.seed)
    model = build_arm_model(context.base.model, arm, settings.lora_dropout).to(context.device)
    trainable = sum(parameter.numel() for parameter in trainable_parameters(model))
    config = TrainConfig(
        steps=settings.longest,
        batch_size=settings.batch_size,
        lr=lr,
        weight_decay=arm.weight_decay,
        warmup_steps=settings.warmup_steps,
        micro_batch_size=settings.micro_batch_size,
        seed=settings.seed,
        autocast_dtype=None if context.dtype == torch.float32 else context.dtype,
    )
    lengths: list[dict] = []
    step_task = progress.add_task(f"{arm.label}, lr {lr:g}", total=settings.longest)

    def on_checkpoint(step: int) -> None:
        if context.world.is_main:
            lengths.append(
                _length_record(context, model, step, base_record, step == settings.longest)
            )
        barrier(context.world)

    record = {
        "arm": arm.key,
        "label": arm.label,
        "method": arm.method,
        "rank": arm.rank or None,
        "alpha": arm.alpha or None,
        "targets": list(arm.targets),
        "weight_decay": arm.weight_decay,
        "dropout": arm.dropout,
        "lr": lr,
        "trainable_parameters": trainable,
        "status": "finished",
        "message": None,
    }
    try:
        stats = train(
            model,
            context.target.train,
            config,
            context.device,
            context.world,
            on_checkpoint=on_checkpoint,
            checkpoints=tuple(sorted(set(settings.steps))),
            on_step=lambda step, loss: progress.update(step_task, completed=step),
        )
    except TrainingDiverged as error:
        record["status"] = "diverged"
        record["message"] = f"{arm.label} at lr {lr:g} stopped: {error}"
        context.log(f"warning: {record['message']}; the study goes on without it")
        stats = None
    finally:
        progress.remove_task(step_task)

    if stats is not None and settings.save_weights and context.world.is_main:
        record["weights"] = _save_weights(model, arm, context.weights_dir / f"{arm.key}__lr{lr:g}")
    if stats is not None:
        step_seconds = stats.median_step_seconds()
        tokens_per_step = settings.batch_size * settings.seq_len
        memory = stats.peak_memory
        record.update(
            {
                "step_seconds": step_seconds,
                "tokens_per_second": tokens_per_step / step_seconds if step_seconds else None,
                "peak_memory": memory,
                "peak_memory_bytes": memory.get("cuda_max_allocated_bytes")
                or memory.get("process_rss_bytes"),
                "train_losses": [round(loss, 6) for loss in stats.losses],
            }
        )
    record["lengths"] = lengths
    return record


def _save_weights(model: torch.nn.Module, arm: ArmSpec, folder: Path) -> str:
    """Save a LoRA adapter with peft's ``save_pretrained``, or a full state dict as model.pt."""
    import shutil
    import tempfile

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    if arm.is_lora:
        model.save_pretrained(staging)
    else:
        state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
        torch.save(state, staging / "model.pt")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return str(folder)


def _length_record(
    context: StudyContext, model, step: int, base_record: dict, is_last: bool
) -> dict:
    settings = context.settings
    metrics = _evaluate(context, model, final=is_last)
    spectra = analyse_updates(
        context.base_weights,
        block_weights(model),
        top_k=settings.intruder_top_k,
        threshold=settings.intruder_threshold,
        seed=settings.seed,
    )
    forgetting = metrics["source_loss"] - base_record["source_loss"]
    return {
        "steps": step,
        "tokens": step * settings.batch_size * settings.seq_len,
        **metrics,
        "forgetting": forgetting if math.isfinite(forgetting) else None,
        "spectrum": summarise(spectra),
        "matrices": [s.to_dict(with_values=is_last) for s in spectra],
    }
