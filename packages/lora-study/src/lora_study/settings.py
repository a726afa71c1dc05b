"""Study settings, the presets that fill them, and the check that a resumed
``--out`` was written with the same settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from mltk_core.errors import UserInputError

# The shortest --seq-len, checked before any base is built. A math prompt is 75 to
# 101 characters and may fill at most three quarters of a row.
# NOTE: 32 is an estimate. A row that is still too short fails later, naming --seq-len.
MIN_SEQ_LEN = 32

ARM_KEYS = (
    "full",
    "full-wd",
    "full-dropout",
    "lora-low",
    "lora-mid",
    "lora-high",
    "lora-attn",
    "lora-alpha-r",
)


@dataclass(frozen=True)
class StudySettings:
    """Every setting that changes a study's numbers. Each one is also a CLI flag."""

    base: str = "tiny"
    source_corpus: str | None = None
    domain: str = "math"
    regime: str = "instruction"
    arms: tuple[str, ...] = ARM_KEYS
    # LoRA ranks of the low, mid and high arms; attention-only and alpha = r use the high rank.
    ranks: tuple[int, int, int] = (2, 8, 32)
    # Modules that the low, mid, high and alpha = r arms adapt: every linear module of the blocks.
    lora_targets: tuple[str, ...] = ("wq", "wk", "wv", "wo", "w1", "w2", "w3")
    # Training lengths in optimizer steps; each is a checkpoint of one run to the longest.
    steps: tuple[int, ...] = (40, 80)
    batch_size: int = 16
    micro_batch_size: int = 0  # 0: no gradient accumulation
    seq_len: int = 64
    # One fixed rate per method in the quick preset, LoRA's 10x full finetuning's.
    full_lrs: tuple[float, ...] = (5e-4,)
    lora_lrs: tuple[float, ...] = (5e-3,)
    warmup_steps: int = 10
    weight_decay: float = 0.1
    dropout: float = 0.1
    lora_dropout: float = 0.0
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    # torch intra-op threads; 0 keeps torch's default. The tiny base's matrices
    # (64 to 96 wide) are too small for threads to pay: one thread ran a
    # training step in 0.12 s against 2.1 s for two on a loaded 2-core machine.
    threads: int = 1
    # Evaluation sizes.
    eval_rows: int = 48
    source_eval_rows: int = 48
    math_train_problems: int = 4000
    math_eval_problems: int = 50
    code_chars: int = 400_000
    humaneval: bool = False
    humaneval_problems: int = 164
    # Save each run's final weights (a peft adapter, or the full state dict) under runs/.
    save_weights: bool = True
    intruder_top_k: int = 10
    intruder_threshold: float = 0.5
    # The tiny base model's recipe (ignored for other bases).
    base_vocab_size: int = 1024
    base_dim: int = 64
    base_layers: int = 4
    base_heads: int = 4
    base_kv_heads: int = 2
    base_hidden_dim: int = 192
    base_steps: int = 250
    base_batch_size: int = 16
    base_lr: float = 3e-3

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        for key, value in record.items():
            if isinstance(value, tuple):
                record[key] = list(value)
        return record

    @property
    def longest(self) -> int:
        return max(self.steps)


# quick: under 3 minutes on 2 CPU cores with the tiny base trained from scratch.
# default: under 20 minutes on 2 CPU cores, with a three-rate grid per arm.
# gpu: SmolLM2-135M and longer training, for one or more GPUs.
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {},
    "default": {
        "steps": (40, 80, 160),
        "full_lrs": (2.5e-4, 5e-4, 1e-3),
        "lora_lrs": (2.5e-3, 5e-3, 1e-2),
        "warmup_steps": 10,
        "eval_rows": 64,
        "source_eval_rows": 64,
        "math_eval_problems": 100,
        "base_vocab_size": 2048,
        "base_dim": 96,
        "base_hidden_dim": 256,
        "base_steps": 600,
    },
    "gpu": {
        "base": "smollm2",
        "ranks": (16, 64, 192),
        "steps": (250, 500, 1000, 2000),
        "batch_size": 64,
        "micro_batch_size": 16,
        "seq_len": 512,
        "full_lrs": (1e-5, 2e-5, 5e-5),
        "lora_lrs": (1e-4, 2e-4, 5e-4),
        "warmup_steps": 50,
        "dropout": 0.1,
        "device": "auto",
        "dtype": "bfloat16",
        "threads": 0,
        "save_weights": False,
        "eval_rows": 256,
        "source_eval_rows": 256,
        "math_train_problems": 20000,
        "math_eval_problems": 500,
        "code_chars": 4_000_000,
    },
}
PRESET_NAMES = tuple(PRESETS)


def settings_from_preset(preset: str, overrides: dict[str, Any]) -> StudySettings:
    """Start from ``preset`` and apply every flag the user gave (None means not given)."""
    if preset not in PRESETS:
        raise UserInputError(
            f"invalid preset {preset!r}: expected one of {', '.join(PRESET_NAMES)}"
        )
    settings = replace(StudySettings(), **PRESETS[preset])
    known = {field.name for field in fields(StudySettings)}
    given = {key: value for key, value in overrides.items() if value is not None}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"unknown study settings: {', '.join(unknown)}")
    settings = replace(settings, **given)
    validate(settings)
    return settings


def validate(settings: StudySettings) -> None:
    """Raise ``UserInputError`` for settings that cannot run, naming the flag."""
    from lora_study.domains import DOMAINS, REGIMES

    if settings.domain not in DOMAINS:
        raise UserInputError(
            f"invalid --domain {settings.domain!r}: expected one of {', '.join(DOMAINS)}"
        )
    if settings.regime not in REGIMES:
        raise UserInputError(
            f"invalid --regime {settings.regime!r}: expected one of {', '.join(REGIMES)}"
        )
    unknown_arms = [arm for arm in settings.arms if arm not in ARM_KEYS]
    if unknown_arms:
        raise UserInputError(
            f"unknown arm{'s' if len(unknown_arms) > 1 else ''} in --arms: "
            f"{', '.join(unknown_arms)}; the arms are {', '.join(ARM_KEYS)}"
        )
    if not settings.arms:
        raise UserInputError(f"--arms names no arm; the arms are {', '.join(ARM_KEYS)}")
    if len(settings.ranks) != 3 or any(rank <= 0 for rank in settings.ranks):
        raise UserInputError(
            f"invalid --ranks {_join(settings.ranks)}: "
            "expected three positive integers, low,mid,high"
        )
    if not settings.steps or any(step <= 0 for step in settings.steps):
        raise UserInputError(f"invalid --steps {_join(settings.steps)}: expected positive integers")
    if settings.batch_size <= 0:
        raise UserInputError(f"invalid --batch-size {settings.batch_size}: expected 1 or more")
    if settings.seq_len < MIN_SEQ_LEN:
        raise UserInputError(
            f"invalid --seq-len {settings.seq_len}: expected at least {MIN_SEQ_LEN} tokens, "
            "room for a prompt and its answer"
        )
    _check_targets(settings)
    if settings.threads < 0:
        raise UserInputError(
            f"invalid --threads {settings.threads}: expected 0 (torch's default) or more"
        )
    if settings.micro_batch_size < 0:
        raise UserInputError(
            f"invalid --micro-batch-size {settings.micro_batch_size}: expected 0 or more"
        )
    for name in ("full_lrs", "lora_lrs"):
        rates = getattr(settings, name)
        if not rates or any(rate <= 0 for rate in rates):
            flag = "--" + name.replace("_", "-")
            raise UserInputError(f"invalid {flag} {_join(rates)}: expected positive learning rates")
    if settings.base == "tiny" and settings.base_dim % settings.base_heads:
        raise UserInputError(
            f"invalid tiny base: --base-dim {settings.base_dim} is not divisible by "
            f"--base-heads {settings.base_heads}"
        )
    if settings.base == "tiny":
        _check_tiny_ranks(settings)
    if settings.humaneval and settings.domain != "code":
        raise UserInputError("--humaneval scores the code domain; add --domain code")


def _check_targets(settings: StudySettings) -> None:
    """Reject the embedding or output layer as a LoRA target, and for the tiny base any
    name that is not one of its block modules, before any base is built."""
    from lora_study.arms import ALL_LINEAR_MODULES, FROZEN_MODULES

    if not settings.lora_targets:
        raise UserInputError(
            f"--lora-targets names no module; the block modules are {', '.join(ALL_LINEAR_MODULES)}"
        )
    frozen = [name for name in settings.lora_targets if name in FROZEN_MODULES]
    if frozen:
        raise UserInputError(
            f"LoRA target {', '.join(frozen)} is the embedding or output layer, which stays "
            f"frozen; target block modules such as {', '.join(ALL_LINEAR_MODULES)}"
        )
    unknown = [name for name in settings.lora_targets if name not in ALL_LINEAR_MODULES]
    if settings.base == "tiny" and unknown:
        raise UserInputError(
            f"LoRA target module {unknown[0]!r} matches no module of the tiny base; its block "
            f"modules are: {', '.join(sorted(ALL_LINEAR_MODULES))}"
        )


def _check_tiny_ranks(settings: StudySettings) -> None:
    """Reject a rank larger than a target matrix of the tiny base allows, from its recipe."""
    from lora_study.arms import ATTENTION_MODULES

    head_dim = settings.base_dim // settings.base_heads
    kv_dim = settings.base_kv_heads * head_dim
    # min(out, in) of each block matrix, as llama3_core builds it.
    limits = {
        "wq": settings.base_dim,
        "wk": min(kv_dim, settings.base_dim),
        "wv": min(kv_dim, settings.base_dim),
        "wo": settings.base_dim,
        "w1": min(settings.base_hidden_dim, settings.base_dim),
        "w2": min(settings.base_hidden_dim, settings.base_dim),
        "w3": min(settings.base_hidden_dim, settings.base_dim),
    }
    low, mid, high = settings.ranks
    ranked_targets = {
        "lora-low": (low, settings.lora_targets),
        "lora-mid": (mid, settings.lora_targets),
        "lora-high": (high, settings.lora_targets),
        "lora-attn": (high, ATTENTION_MODULES),
        "lora-alpha-r": (high, settings.lora_targets),
    }
    for arm in settings.arms:
        if arm not in ranked_targets:
            continue
        rank, targets = ranked_targets[arm]
        name = min(targets, key=lambda target: limits[target])
        if rank > limits[name]:
            raise UserInputError(
                f"LoRA rank {rank} is larger than the tiny base's {name} allows (arm {arm}): "
                f"the rank can be at most {limits[name]}; lower --ranks"
            )


def differing_settings(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Name each setting whose value differs, as ``name (saved → current)``."""
    differences = []
    for key in sorted(set(saved) | set(current)):
        if saved.get(key) != current.get(key):
            differences.append(f"{key} ({saved.get(key)!r} there, {current.get(key)!r} now)")
    return differences


def _join(values) -> str:
    return ",".join(str(value) for value in values)
