"""PNG plots of a benchmark run: scores per dataset, fit time against score, and scaling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from mltk_core.plots import new_figure, save_png


def plot_scores(summary: list[dict[str, Any]], target: Path, metric: str = "f1_weighted") -> Path:
    """Grouped bars: the mean of ``metric`` per dataset and model, with ±1 std error bars."""
    datasets = list(dict.fromkeys(row["dataset"] for row in summary))
    models = list(dict.fromkeys(row["model"] for row in summary))
    rows = {(row["dataset"], row["model"]): row for row in summary}

    figure, axes = new_figure(width=max(7.0, 1.6 * len(datasets)), height=4.5)
    width = 0.8 / len(models)
    positions = np.arange(len(datasets))
    for index, model in enumerate(models):
        means = [_value(rows, dataset, model, f"{metric}_mean") for dataset in datasets]
        stds = [_value(rows, dataset, model, f"{metric}_std", 0.0) for dataset in datasets]
        axes.bar(positions + index * width, means, width, yerr=stds, capsize=2, label=model)

    axes.set_xticks(positions + width * (len(models) - 1) / 2, datasets)
    axes.set_ylabel(f"{metric} (mean ± std over folds)")
    finite = [row[f"{metric}_mean"] for row in summary if row[f"{metric}_mean"] is not None]
    if finite:
        axes.set_ylim(max(0.0, min(finite) - 0.1), 1.0)
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes.set_title(f"{metric} per dataset")
    return save_png(figure, target)


def plot_fit_time_vs_score(
    summary: list[dict[str, Any]], target: Path, metric: str = "f1_weighted"
) -> Path:
    """Plot mean fit seconds (log scale) against the mean of ``metric``.

    Each point is one dataset and model.
    """
    from matplotlib.ticker import NullFormatter

    figure, axes = new_figure()
    models = list(dict.fromkeys(row["model"] for row in summary))
    for model in models:
        points = [
            (row["fit_seconds_mean"], row[f"{metric}_mean"], row["dataset"])
            for row in summary
            if row["model"] == model
            and row["fit_seconds_mean"]
            and row[f"{metric}_mean"] is not None
        ]
        if not points:
            continue
        seconds, scores, _ = zip(*points, strict=True)
        axes.scatter(seconds, scores, label=model, s=30)
        for x, y, dataset in points:
            axes.annotate(
                dataset, (x, y), fontsize=6, alpha=0.7, xytext=(3, 3), textcoords="offset points"
            )
    axes.set_xscale("log")
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("fit seconds per fold (log scale)")
    axes.set_ylabel(f"mean {metric}")
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes.set_title(f"fit time against {metric}; each point is one dataset")
    return save_png(figure, target)


def plot_scaling(results: list[dict[str, Any]], target: Path) -> Path:
    """Two log-log panels: fit seconds and predict seconds against rows, one line per model."""
    figure, axes = new_figure(width=11.0, height=4.5)
    axes.remove()
    panels = (figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2))
    models = list(dict.fromkeys(result["model"] for result in results))
    for panel, key, label in zip(
        panels, ("fit_seconds", "predict_seconds"), ("fit seconds", "predict seconds"), strict=True
    ):
        for model in models:
            points = [(r["rows"], r[key]) for r in results if r["model"] == model and r[key]]
            if points:
                rows, seconds = zip(*points, strict=True)
                panel.plot(rows, seconds, marker="o", label=model)
        panel.set_xscale("log")
        panel.set_yscale("log")
        panel.set_title(f"{label} against rows")
        panel.set_xlabel("rows (20 features)")
        panel.set_ylabel(label)
        panel.grid(True, which="major", alpha=0.3)
    panels[0].legend(fontsize="small")
    return save_png(figure, target)


def _value(rows: dict, dataset: str, model: str, key: str, missing: float = np.nan) -> float:
    row = rows.get((dataset, model))
    value = row.get(key) if row else None
    return missing if value is None else value
