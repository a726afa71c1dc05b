"""The finetuning loop shared by every arm: AdamW, warmup then cosine decay,
gradient clipping, and a loss averaged over the loss-mask tokens of the global
batch.

Under ``torchrun`` each process takes a contiguous slice of every global batch
and DistributedDataParallel averages the gradients. Each process divides its
summed token loss by the global token count and multiplies by the world size,
so the averaged gradient equals one process's gradient on the whole batch.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from mltk_core.memory import (
    peak_memory,
    process_peak_rss_bytes,
    reset_peak_memory,
    reset_process_peak_rss,
)
from mltk_core.timing import Timer
from torch import nn

from lora_study.distributed import WorldInfo, all_reduce_sum
from lora_study.token_rows import TokenRows, batch_indices


@dataclass(frozen=True)
class TrainConfig:
    steps: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    micro_batch_size: int = 0
    seed: int = 0
    autocast_dtype: torch.dtype | None = None


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the step and the value."""

    def __init__(self, step: int, loss: float) -> None:
        super().__init__(f"loss is {loss} at step {step}")
        self.step = step
        self.loss = loss


@dataclass
class TrainStats:
    losses: list[float] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    peak_memory: dict = field(default_factory=dict)

    def median_step_seconds(self) -> float:
        # The first step pays for allocation and kernel selection, so it is left out.
        timed = self.step_seconds[1:] or self.step_seconds
        return statistics.median(timed) if timed else 0.0


def lr_factor(step: int, config: TrainConfig) -> float:
    """Return the learning-rate factor at ``step``: linear warmup, then cosine to min_lr_ratio."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    span = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine


def masked_loss_sum(model: nn.Module, rows: TokenRows) -> tuple[torch.Tensor, int]:
    """Return the summed cross-entropy over mask tokens, and how many there are."""
    inputs = rows.tokens[:, :-1]
    targets = rows.tokens[:, 1:]
    logits = model(inputs)  # (batch, seq, vocab)
    losses = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none")
    mask = rows.loss_mask.flatten()
    return (losses * mask).sum(), int(mask.sum().item())


def train(
    model: nn.Module,
    rows: TokenRows,
    config: TrainConfig,
    device: torch.device,
    world: WorldInfo,
    on_checkpoint: Callable[[int], None] | None = None,
    checkpoints: tuple[int, ...] = (),
    on_step: Callable[[int, float], None] | None = None,
) -> TrainStats:
    """Train ``model`` in place for ``config.steps`` steps.

    ``on_checkpoint(step)`` runs after each step listed in ``checkpoints`` (a
    count of finished steps). Raises ``TrainingDiverged`` on a non-finite loss,
    before that step updates the weights.
    """
    parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(
        parameters, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, config))
    trained = _wrap_for_world(model, device, world)
    local_size = _local_batch_size(config.batch_size, world)
    stats = TrainStats()
    reset_peak_memory(device)
    # On the CPU the peak RSS then covers this arm's training only, where Linux allows a reset.
    reset_process_peak_rss()
    # Right after a reset the peak equals the current RSS, the baseline of this run's growth.
    start_rss = process_peak_rss_bytes()

    for step in range(config.steps):
        model.train()
        indices = batch_indices(len(rows), config.batch_size, step, config.seed)
        batch = rows.take(indices)
        global_tokens = int(batch.loss_mask.sum().item())
        local = batch.take(torch.arange(world.rank * local_size, (world.rank + 1) * local_size))

        with Timer(device) as timer:
            loss_sum = _forward_backward(trained, local, global_tokens, config, device, world)
            loss = all_reduce_sum(loss_sum, world).item() / max(global_tokens, 1)
            if not math.isfinite(loss):
                optimizer.zero_grad(set_to_none=True)
                raise TrainingDiverged(step + 1, loss)
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(parameters, config.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)

        stats.losses.append(loss)
        stats.step_seconds.append(timer.seconds)
        if on_step is not None:
            on_step(step + 1, loss)
        if on_checkpoint is not None and step + 1 in checkpoints:
            if step + 1 == max(checkpoints):
                stats.peak_memory = _memory_record(device, start_rss)
            on_checkpoint(step + 1)

    if not stats.peak_memory:
        stats.peak_memory = _memory_record(device, start_rss)
    return stats


def _memory_record(device: torch.device, start_rss: int) -> dict:
    """Return the peak readings, plus the RSS growth over the run's start.

    The growth covers the training state and activations, not the libraries.
    """
    record = peak_memory(device).to_dict()
    record["process_rss_growth_bytes"] = max(0, record["process_rss_bytes"] - start_rss)
    return record


def _forward_backward(
    model, local: TokenRows, global_tokens: int, config, device, world
) -> torch.Tensor:
    """Accumulate gradients over micro-batches; return the detached local loss sum."""
    micro = config.micro_batch_size or len(local)
    starts = list(range(0, len(local), micro))
    total = torch.zeros((), device=device, dtype=torch.float64)
    # DDP averages over processes, so scaling by world size turns the average into the global sum.
    scale = world.world_size / max(global_tokens, 1)
    for index, start in enumerate(starts):
        part = local.take(torch.arange(start, min(start + micro, len(local))))
        part = TokenRows(part.tokens.to(device), part.loss_mask.to(device))
        is_last = index == len(starts) - 1
        with _maybe_no_sync(model, is_last):
            with _autocast(device, config.autocast_dtype):
                loss_sum, _ = masked_loss_sum(model, part)
            (loss_sum * scale).backward()
        total += loss_sum.detach().double()
    return total


def _wrap_for_world(model: nn.Module, device: torch.device, world: WorldInfo) -> nn.Module:
    if not world.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def _local_batch_size(batch_size: int, world: WorldInfo) -> int:
    from mltk_core.errors import UserInputError

    if batch_size % world.world_size:
        raise UserInputError(
            f"--batch-size {batch_size} is not divisible by the {world.world_size} processes; "
            "choose a multiple of the process count"
        )
    return batch_size // world.world_size


def _maybe_no_sync(model: nn.Module, is_last: bool):
    import contextlib

    if is_last or not hasattr(model, "no_sync"):
        return contextlib.nullcontext()
    return model.no_sync()


def _autocast(device: torch.device, dtype: torch.dtype | None):
    import contextlib

    if dtype is None or dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
