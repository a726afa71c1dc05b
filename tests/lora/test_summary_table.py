"""The human-readable tables of ``ml-toolkit lora``."""

from lora_study.summary_table import print_spectrum
from rich.console import Console


def spectrum_payload() -> dict:
    names = [f"layers.0.attention.{leaf}" for leaf in ("wq", "wk", "wv", "wo")]
    names += [f"layers.11.feed_forward.{leaf}" for leaf in ("w1", "w2", "w3")]
    matrix = {
        "shape": [576, 1536],
        "rank90": 12,
        "rank90_fraction": 0.021,
        "gaussian_rank90": 480,
        "intruders": 3,
        "update_norm": 0.0123,
    }
    return {
        "finetuned": "runs/lora-compare/runs/lora-high__lr0.0001",
        "base": "smollm2",
        "matrices": [{"name": name, **matrix} for name in names],
        "summary": {
            "updated_matrices": len(names),
            "mean_rank90": 12.0,
            "mean_rank90_fraction": 0.021,
            "mean_gaussian_rank90_fraction": 0.8,
            "mean_intruders": 3.0,
        },
    }


def test_spectrum_names_stay_whole_at_80_columns():
    console = Console(width=80, record=True, color_system=None)
    payload = spectrum_payload()
    print_spectrum(payload, console)
    text = console.export_text()
    for matrix in payload["matrices"]:
        assert matrix["name"] in text, matrix["name"]
