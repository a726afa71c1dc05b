"""Rich tables for the terminal: the study's summary and a spectrum analysis."""

from __future__ import annotations

from typing import Any

# Column header, and the formatter of a finished row.
SUMMARY_COLUMNS = (
    ("arm", lambda row: row["arm"]),
    ("lr", lambda row: f"{row['lr']:g}"),
    ("steps", lambda row: str(row["steps"])),
    ("loss", lambda row: f"{row['target_loss']:.3f}"),
    ("acc", lambda row: _accuracy(row["target_accuracy"])),
    ("forget", lambda row: f"{row['forgetting']:+.3f}"),
    ("trainable", lambda row: f"{row['trainable_parameters']:,}"),
    ("MiB", lambda row: f"{(row['peak_memory_bytes'] or 0) / 2**20:.0f}"),
    ("ms", lambda row: f"{1000 * (row['step_seconds'] or 0):.0f}"),
    ("tok/s", lambda row: f"{row['tokens_per_second'] or 0:,.0f}"),
    ("rank90", lambda row: f"{row['mean_rank90_fraction']:.1%}"),
    ("intr", lambda row: f"{row['mean_intruders']:.1f}"),
)
# Left out below 110 columns, so that an 80-column terminal or a pipe shows whole numbers.
WIDE_ONLY = ("trainable", "MiB", "tok/s", "intr")


def print_summary(payload: dict[str, Any], console) -> None:
    """Print every arm at every training length, then the findings.

    Columns: target loss and accuracy, forgetting (source loss rise), trainable
    parameters, peak memory, step time, tokens/s, the mean 90%-energy rank as a
    share of full rank, and the mean count of intruder dimensions.
    """
    from rich import box
    from rich.table import Table

    columns = [
        column for column in SUMMARY_COLUMNS if console.width >= 110 or column[0] not in WIDE_ONLY
    ]
    table = Table(title="LoRA against full finetuning", box=box.SIMPLE_HEAD, padding=(0, 1))
    for header, _ in columns:
        table.add_column(header, justify="left" if header == "arm" else "right", no_wrap=True)

    base = payload["base"]
    base_cells = {"arm": "base", "steps": "0", "loss": f"{base['target_loss']:.3f}"}
    base_cells["acc"] = _accuracy(base.get("target_accuracy"))
    table.add_row(*[base_cells.get(header, "") for header, _ in columns])
    for row in payload["rows"]:
        if row.get("status") != "finished":
            table.add_row(row["arm"], "diverged", *[""] * (len(columns) - 2))
            continue
        table.add_row(*[format_cell(row) for _, format_cell in columns])
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
    # The matrix name never wraps or shortens: layers.0.attention.wq and .wk must stay apart.
    longest = max((len(matrix["name"]) for matrix in payload["matrices"]), default=6)
    table.add_column("matrix", justify="left", no_wrap=True, min_width=longest)
    for column in ("shape", "90% rank", "share", "Gaussian", "intruders", "‖ΔW‖"):
        table.add_column(column, justify="right")
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
