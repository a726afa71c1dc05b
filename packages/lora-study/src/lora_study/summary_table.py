"""Rich tables for the terminal: the study's summary and a spectrum analysis."""

from __future__ import annotations

from typing import Any


def print_summary(payload: dict[str, Any], console) -> None:
    """Print every arm at every training length, then the findings."""
    from rich.table import Table

    base = payload["base"]
    table = Table(title="LoRA against full finetuning")
    for column in (
        "arm",
        "lr",
        "steps",
        "target loss",
        "accuracy",
        "forgetting",
        "trainable",
        "peak MiB",
        "step ms",
        "tokens/s",
        "90% rank",
        "intruders",
    ):
        table.add_column(column, justify="left" if column == "arm" else "right")
    table.add_row(
        "base",
        "",
        "0",
        f"{base['target_loss']:.4f}",
        _accuracy(base.get("target_accuracy")),
        "0",
        "",
        "",
        "",
        "",
        "",
        "",
    )
    for row in payload["rows"]:
        if row.get("status") != "finished":
            table.add_row(row["label"], "diverged", *[""] * 10)
            continue
        table.add_row(
            row["label"],
            f"{row['lr']:g}",
            str(row["steps"]),
            f"{row['target_loss']:.4f}",
            _accuracy(row["target_accuracy"]),
            f"{row['forgetting']:+.4f}",
            f"{row['trainable_parameters']:,}",
            f"{(row['peak_memory_bytes'] or 0) / 2**20:.0f}",
            f"{1000 * (row['step_seconds'] or 0):.0f}",
            f"{row['tokens_per_second'] or 0:,.0f}",
            f"{row['mean_rank90_fraction']:.1%}",
            f"{row['mean_intruders']:.1f}",
        )
    console.print(table)
    for finding in payload["findings"]:
        verdict = {
            True: "[green]reproduced[/]",
            False: "[red]not reproduced[/]",
            None: "not tested",
        }[finding["reproduced"]]
        console.print(f"{verdict}: {finding['claim']}", highlight=False)
    console.print(
        f"results, plots and report.md in {payload['out']} ({payload['wall_seconds']:.0f} s)"
    )


def print_spectrum(payload: dict[str, Any], console) -> None:
    from rich.table import Table

    table = Table(title=f"ΔW spectrum: {payload['finetuned']} against {payload['base']}")
    for column in ("matrix", "shape", "90% rank", "share", "Gaussian", "intruders", "‖ΔW‖"):
        table.add_column(column, justify="left" if column == "matrix" else "right")
    for matrix in payload["matrices"]:
        table.add_row(
            matrix["name"],
            "×".join(str(size) for size in matrix["shape"]),
            str(matrix["rank90"]),
            f"{matrix['rank90_fraction']:.1%}",
            str(matrix["gaussian_rank90"]),
            str(matrix["intruders"]),
            f"{matrix['update_norm']:.3g}",
        )
    console.print(table)
    summary = payload["summary"]
    console.print(
        f"{summary['updated_matrices']} updated matrices: "
        f"mean 90% rank {summary['mean_rank90']:.1f} "
        f"({summary['mean_rank90_fraction']:.1%} of full rank; Gaussian "
        f"{summary['mean_gaussian_rank90_fraction']:.1%}), "
        f"mean intruders {summary['mean_intruders']:.1f}"
    )


def _accuracy(value) -> str:
    return "" if value is None else f"{value:.3f}"
