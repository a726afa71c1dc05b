"""The study's arms: full finetuning and its regularised variants, and LoRA
through ``peft`` at several ranks, targets and scalings.

LoRA arms follow three rules from peft's and torchtune's experience: the base
model is deep-copied before ``get_peft_model`` (which edits it in place), every
target pattern must match a module, and the embeddings and output layer stay
frozen.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import torch
from mltk_core.errors import UserInputError
from torch import nn

from lora_study.settings import StudySettings

ATTENTION_MODULES = ("wq", "wk", "wv", "wo")
FEED_FORWARD_MODULES = ("w1", "w2", "w3")
ALL_LINEAR_MODULES = ATTENTION_MODULES + FEED_FORWARD_MODULES
FROZEN_MODULES = ("tok_embeddings", "output")


@dataclass(frozen=True)
class ArmSpec:
    """One way of finetuning: which weights train, and how they are regularised."""

    key: str
    label: str
    method: str  # "full" or "lora"
    rank: int = 0
    alpha: float = 0.0
    targets: tuple[str, ...] = ()
    weight_decay: float = 0.0
    dropout: float = 0.0

    @property
    def is_lora(self) -> bool:
        return self.method == "lora"


def arm_specs(settings: StudySettings) -> list[ArmSpec]:
    """Build the arms named in ``settings.arms``, in that order."""
    low, mid, high = settings.ranks
    targets = settings.lora_targets
    catalogue = {
        "full": ArmSpec("full", "full FT", "full"),
        "full-wd": ArmSpec(
            "full-wd",
            f"full FT, weight decay {settings.weight_decay:g}",
            "full",
            weight_decay=settings.weight_decay,
        ),
        "full-dropout": ArmSpec(
            "full-dropout",
            f"full FT, dropout {settings.dropout:g}",
            "full",
            dropout=settings.dropout,
        ),
        "lora-low": _lora("lora-low", low, 2 * low, targets),
        "lora-mid": _lora("lora-mid", mid, 2 * mid, targets),
        "lora-high": _lora("lora-high", high, 2 * high, targets),
        "lora-attn": _lora("lora-attn", high, 2 * high, ATTENTION_MODULES, "attention only"),
        "lora-alpha-r": _lora("lora-alpha-r", high, high, targets, "alpha = r"),
    }
    return [catalogue[key] for key in settings.arms]


def _lora(key: str, rank: int, alpha: float, targets: tuple[str, ...], note: str = "") -> ArmSpec:
    label = f"LoRA r={rank}" + (f", {note}" if note else "")
    return ArmSpec(key, label, "lora", rank=rank, alpha=alpha, targets=targets)


def learning_rates(arm: ArmSpec, settings: StudySettings) -> tuple[float, ...]:
    return settings.lora_lrs if arm.is_lora else settings.full_lrs


def linear_module_names(model: nn.Module) -> list[str]:
    """List the distinct leaf names of the linear modules inside the blocks, such as ``wq``:
    the names accepted as LoRA targets."""
    names = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and name.startswith("layers.")
    }
    return sorted(names)


def target_module_paths(model: nn.Module, targets: tuple[str, ...]) -> list[str]:
    """Resolve target leaf names to the full paths of matching linear modules inside the blocks.

    Raises ``UserInputError`` when a target matches no module (the message
    lists the model's block module names) or names the embeddings or output.
    """
    frozen = sorted(set(targets) & set(FROZEN_MODULES))
    if frozen:
        raise UserInputError(
            f"LoRA target {', '.join(frozen)} is the embedding or output layer, "
            "which stays frozen; "
            f"target block modules such as {', '.join(ALL_LINEAR_MODULES)}"
        )
    paths: list[str] = []
    for target in targets:
        matched = [
            name
            for name, module in model.named_modules()
            if isinstance(module, nn.Linear)
            and name.startswith("layers.")
            and name.rsplit(".", 1)[-1] == target
        ]
        if not matched:
            raise UserInputError(
                f"LoRA target module {target!r} matches no module of the model; its block "
                f"modules are: {', '.join(linear_module_names(model))}"
            )
        paths.extend(matched)
    return paths


def check_rank(model: nn.Module, paths: list[str], rank: int) -> None:
    """Raise ``UserInputError`` when ``rank`` exceeds min(out, in) of a target matrix."""
    modules = dict(model.named_modules())
    for path in paths:
        weight = modules[path].weight
        limit = min(weight.shape)
        if rank > limit:
            raise UserInputError(
                f"LoRA rank {rank} is larger than {path} allows: its weight is "
                f"{tuple(weight.shape)}, so the rank can be at most {limit}; lower --ranks"
            )


def check_arms(base: nn.Module, arms: list[ArmSpec]) -> None:
    """Check every LoRA arm's targets and rank against ``base`` before any training starts."""
    for arm in arms:
        if arm.is_lora:
            check_rank(base, target_module_paths(base, arm.targets), arm.rank)


def build_arm_model(base: nn.Module, arm: ArmSpec, lora_dropout: float = 0.0) -> nn.Module:
    """Return a trainable copy of ``base`` for ``arm``; ``base`` itself is never changed."""
    model = copy.deepcopy(base)
    if arm.dropout:
        _set_dropout(model, arm.dropout)
    if not arm.is_lora:
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        return model

    from peft import LoraConfig, get_peft_model

    paths = target_module_paths(model, arm.targets)
    check_rank(model, paths, arm.rank)
    config = LoraConfig(
        r=arm.rank,
        lora_alpha=arm.alpha,
        lora_dropout=lora_dropout,
        target_modules=paths,
        bias="none",
    )
    peft_model = get_peft_model(model, config)
    _check_adapters(peft_model, paths)
    return peft_model


def _set_dropout(model: nn.Module, probability: float) -> None:
    """Switch on the model's dropout: its config and every dropout site it built."""
    if hasattr(model, "config") and hasattr(model.config, "dropout"):
        model.config = replace(model.config, dropout=probability)
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = probability
        elif hasattr(module, "dropout") and isinstance(module.dropout, float):
            # Attention applies its dropout through scaled_dot_product_attention.
            module.dropout = probability


def _check_adapters(peft_model: nn.Module, paths: list[str]) -> None:
    """Check that every target gained an adapter and that only adapter weights train."""
    from peft.tuners.lora import LoraLayer

    adapted = {
        name.removeprefix("base_model.model.")
        for name, module in peft_model.named_modules()
        if isinstance(module, LoraLayer)
    }
    missing = sorted(set(paths) - adapted)
    if missing:
        raise RuntimeError(f"peft added no adapter to: {', '.join(missing)}")
    leaking = [
        name
        for name, parameter in peft_model.named_parameters()
        if parameter.requires_grad and "lora_" not in name
    ]
    if leaking:
        raise RuntimeError(f"non-adapter parameters are trainable under LoRA: {', '.join(leaking)}")


def trainable_parameters(model: nn.Module) -> list[torch.nn.Parameter]:
    return [parameter for parameter in model.parameters() if parameter.requires_grad]
