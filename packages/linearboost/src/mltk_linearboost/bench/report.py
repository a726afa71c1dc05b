"""Result files and tables of a benchmark run.

Every file is written atomically into the output folder; JSON has NaN and
infinity replaced by null, because JSON has no spelling for them.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from mltk_core.atomic import atomic_write_json, atomic_write_text
from mltk_core.errors import UserInputError

RESULT_FILES = (
    "results.json",
    "results.csv",
    "scores.png",
    "fit_time_vs_f1.png",
    "scaling.json",
    "scaling.csv",
    "scaling.png",
)


def check_output_dir(out: Path, overwrite: bool) -> None:
    """Raise ``UserInputError`` if ``out`` already contains files and ``overwrite`` is not set."""
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {str(out)!r} is a file; pass a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UserInputError(
            f"output folder {str(out)!r} is not empty; pass --overwrite to replace its results "
            "or choose another --out"
        )


def json_safe(value: Any) -> Any:
    """Return ``value`` with every NaN or infinite float replaced by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def write_json(target: Path, payload: dict[str, Any]) -> Path:
    return atomic_write_json(target, json_safe(payload))


def write_csv(target: Path, rows: list[dict[str, Any]]) -> Path:
    """Write ``rows`` as CSV with the union of their keys as header; dicts become JSON strings."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                key: json.dumps(value) if isinstance(value, dict) else value
                for key, value in row.items()
            }
        )
    return atomic_write_text(target, buffer.getvalue())


# Rich tables.


def results_table(summary: list[dict[str, Any]], comparisons: list[dict[str, Any]], ours: str):
    """Build one row per (dataset, model), with the corrected t-test p-value on weighted F1."""
    from rich.table import Table

    p_values = {(c["dataset"], c["peer"]): c for c in comparisons if c["metric"] == "f1_weighted"}
    any_failed = any(row["failed_folds"] for row in summary)
    table = Table(title="mean ± std over folds; fit and predict per fold, latency for one row")
    for column in ("dataset", "model", "weighted F1", "ROC-AUC", "accuracy"):
        table.add_column(column, no_wrap=True)
    # Without our model in the run there is nothing to compare against.
    has_ours = any(row["model"] == ours for row in summary)
    columns = ["fit ms", "fit CPU ms", "predict ms", "latency ms"]
    columns += [f"F1 p vs {ours}"] if has_ours else []
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)
    if any_failed:
        table.add_column("failed folds", justify="right")

    previous = None
    for row in summary:
        if previous is not None and row["dataset"] != previous:
            table.add_section()
        previous = row["dataset"]
        comparison = p_values.get((row["dataset"], row["model"]))
        cells = [
            row["dataset"],
            row["model"],
            _mean_std(row, "f1_weighted"),
            _mean_std(row, "roc_auc"),
            _mean_std(row, "accuracy"),
            _milliseconds(row["fit_seconds_mean"]),
            _milliseconds(row["fit_cpu_seconds_mean"]),
            _milliseconds(row["predict_seconds_mean"]),
            _milliseconds(row["latency_seconds_mean"], digits=3),
        ]
        if has_ours:
            cells.append(_p_value(comparison))
        if any_failed:
            cells.append(str(row["failed_folds"]))
        table.add_row(*cells)
    return table


def ranks_table(rankings: list[dict[str, Any]]):
    """Build a table of average ranks (1 = best) with the Friedman p-value of each metric."""
    from rich.table import Table

    table = Table(title="average rank across datasets (1 = best), Friedman test")
    table.add_column("model", no_wrap=True)
    for ranking in rankings:
        table.add_column(ranking["metric"], justify="right")
    for index, model in enumerate(rankings[0]["models"]):
        table.add_row(model, *(f"{ranking['average_ranks'][index]:.2f}" for ranking in rankings))
    table.add_section()
    table.add_row("Friedman p", *(_friedman_p(ranking, "chi_square_p_value") for ranking in rankings))
    table.add_row(
        "Iman–Davenport p", *(_friedman_p(ranking, "iman_davenport_p_value") for ranking in rankings)
    )
    return table


def _friedman_p(ranking: dict[str, Any], key: str) -> str:
    """Format a Friedman p-value; "n/a" when it is undefined or fewer than 2 datasets were ranked."""
    value = ranking.get(key)
    if ranking.get("n_datasets", 0) < 2 or value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.3g}"


def scaling_table(results: list[dict[str, Any]]):
    from rich.table import Table

    table = Table(title="scaling: seconds on synthetic data with 20 features")
    for column in ("model", "rows", "fit s", "fit CPU s", "predict s", "note"):
        table.add_column(column, justify="left" if column in ("model", "note") else "right")
    for result in results:
        table.add_row(
            result["model"],
            f"{result['rows']:,}",
            _seconds(result["fit_seconds"]),
            _seconds(result["fit_cpu_seconds"]),
            _seconds(result["predict_seconds"]),
            result["error"] or "",
        )
    return table


def _mean_std(row: dict[str, Any], metric: str) -> str:
    mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
    if mean is None:
        return "-"
    return f"{mean:.3f}±{std:.3f}" if std is not None else f"{mean:.3f}"


def _milliseconds(seconds: float | None, digits: int = 1) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.{digits}f}"


def _seconds(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.3f}"


def _p_value(comparison: dict[str, Any] | None) -> str:
    if comparison is None:
        return ""
    marker = "*" if comparison["significant"] else ""
    return f"{comparison['p_value']:.3f}{marker}"
