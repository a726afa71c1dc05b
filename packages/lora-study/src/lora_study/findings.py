"""The five findings of Biderman et al., "LoRA Learns Less and Forgets Less"
(TMLR 2024, arXiv 2405.09673), each tested on this study's numbers at the
longest training length.

Learning is compared by target-domain held-out loss (lower is better), because
every domain has it and it separates arms even where exact-match accuracy is
tied at zero. Accuracy is quoted beside it. Forgetting is the rise of the
source-domain held-out loss over the base model's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

LORA_ALL_LINEAR = ("lora-low", "lora-mid", "lora-high")


@dataclass(frozen=True)
class Finding:
    key: str
    claim: str
    reproduced: bool | None  # None: the arms it needs were not run or diverged
    evidence: str

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_findings(final: dict[str, dict], ranks: tuple[int, int, int]) -> list[Finding]:
    """Test every finding on ``final`` (each arm's row at its longest length)."""
    return [
        _learns_less(final),
        _forgets_less(final),
        _rank(final, ranks),
        _regularises(final),
        _all_linear(final),
        _alpha(final),
    ]


def _fmt(row: dict, field: str) -> str:
    value = row.get(field)
    return "n/a" if value is None else f"{value:.4f}"


def _describe(row: dict) -> str:
    accuracy = row.get("target_accuracy")
    extra = "" if accuracy is None else f", accuracy {accuracy:.3f}"
    loss, forgetting = _fmt(row, "target_loss"), _fmt(row, "forgetting")
    return f"{row['label']}: target loss {loss}{extra}, forgetting {forgetting}"


def _missing(key: str, claim: str, arms: list[str]) -> Finding:
    return Finding(key, claim, None, f"not tested: needs the arms {', '.join(arms)} to finish")


def _learns_less(final: dict[str, dict]) -> Finding:
    claim = (
        "LoRA learns less: full finetuning reaches a lower target-domain loss than every LoRA arm"
    )
    loras = [final[key] for key in LORA_ALL_LINEAR if key in final]
    if "full" not in final or not loras:
        return _missing("learns_less", claim, ["full", "lora-*"])
    full = final["full"]
    reproduced = all(full["target_loss"] < lora["target_loss"] for lora in loras)
    evidence = "; ".join(_describe(row) for row in [full, *loras])
    return Finding("learns_less", claim, reproduced, evidence)


def _forgets_less(final: dict[str, dict]) -> Finding:
    claim = (
        "LoRA forgets less: every LoRA arm's source-domain loss rises less than full finetuning's"
    )
    loras = [final[key] for key in LORA_ALL_LINEAR if key in final]
    if "full" not in final or not loras:
        return _missing("forgets_less", claim, ["full", "lora-*"])
    full = final["full"]
    reproduced = all(lora["forgetting"] < full["forgetting"] for lora in loras)
    evidence = "; ".join(_describe(row) for row in [full, *loras])
    return Finding("forgets_less", claim, reproduced, evidence)


def _rank(final: dict[str, dict], ranks: tuple[int, int, int]) -> Finding:
    claim = (
        "Full finetuning's update has a far higher rank than LoRA's: its 90%-energy rank, as a "
        "share of the full rank, exceeds the share that the highest LoRA rank allows"
    )
    if "full" not in final:
        return _missing("rank", claim, ["full"])
    full = final["full"]
    fraction = full["mean_rank90_fraction"]
    rank90 = full["mean_rank90"]
    # A rank-r update reaches at most r / full rank. mean_rank90 / fraction is the mean full rank.
    full_rank = rank90 / fraction if fraction else 0.0
    allowed = max(ranks) / full_rank if full_rank else 1.0
    ratios = ", ".join(f"{rank90 / rank:.1f}x rank {rank}" for rank in ranks)
    reproduced = fraction > allowed
    evidence = (
        f"full FT mean 90% rank {rank90:.1f} of a mean full rank {full_rank:.1f} "
        f"({fraction:.1%}), against {allowed:.1%} for LoRA rank {max(ranks)}; "
        f"full FT's rank is {ratios}"
    )
    return Finding("rank", claim, reproduced, evidence)


def _regularises(final: dict[str, dict]) -> Finding:
    claim = (
        "LoRA regularises more than weight decay or dropout: the highest-rank LoRA arm forgets "
        "less than full finetuning with weight decay and with dropout"
    )
    needed = ["lora-high", "full-wd", "full-dropout"]
    if any(key not in final for key in needed):
        return _missing("regularises", claim, needed)
    lora = final["lora-high"]
    reproduced = all(lora["forgetting"] < final[key]["forgetting"] for key in needed[1:])
    evidence = "; ".join(_describe(final[key]) for key in needed)
    return Finding("regularises", claim, reproduced, evidence)


def _all_linear(final: dict[str, dict]) -> Finding:
    claim = "Targeting all linear modules beats attention only, at the same rank"
    needed = ["lora-high", "lora-attn"]
    if any(key not in final for key in needed):
        return _missing("all_linear", claim, needed)
    reproduced = final["lora-high"]["target_loss"] < final["lora-attn"]["target_loss"]
    evidence = "; ".join(_describe(final[key]) for key in needed)
    return Finding("all_linear", claim, reproduced, evidence)


def _alpha(final: dict[str, dict]) -> Finding:
    claim = "alpha = 2r matters: at the same rank it learns more than alpha = r"
    needed = ["lora-high", "lora-alpha-r"]
    if any(key not in final for key in needed):
        return _missing("alpha", claim, needed)
    reproduced = final["lora-high"]["target_loss"] < final["lora-alpha-r"]["target_loss"]
    evidence = "; ".join(_describe(final[key]) for key in needed)
    return Finding("alpha", claim, reproduced, evidence)
