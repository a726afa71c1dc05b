"""One benchmark run from loaded datasets to result files: the recipe that
wires datasets, runner, statistics, report and plots together."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mltk_linearboost.bench.models import OURS, ModelContext, get_model
from mltk_linearboost.bench.runner import BenchConfig, FoldResult, make_tasks, run_tasks
from mltk_linearboost.datasets import (
    Dataset,
    DatasetUnavailableError,
    get_spec,
    load_csv,
    load_dataset,
)


@dataclass
class LoadedDatasets:
    """Datasets ready to run, and the ones skipped with the reason."""

    datasets: list[Dataset] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def load_datasets(
    names: list[str],
    folds: int,
    data_dir: str | os.PathLike[str] | None = None,
    csv: tuple[Path, str] | None = None,
) -> LoadedDatasets:
    """Load each named dataset (and the CSV file, if given); skip what cannot be had.

    A dataset is skipped when it cannot be read or downloaded, or when its
    smallest class has fewer rows than ``folds``, which stratified k-fold needs.
    """
    loaded = LoadedDatasets()
    candidates: list[Callable[[], Dataset]] = [
        (lambda name=name: load_dataset(name, data_dir)) for name in names
    ]
    if csv is not None:
        candidates.append(lambda: load_csv(*csv))

    for index, load in enumerate(candidates):
        try:
            dataset = load()
        except DatasetUnavailableError as error:
            loaded.skipped.append(
                {"dataset": _candidate_name(names, csv, index), "reason": str(error)}
            )
            continue
        smallest = min(dataset.class_counts.values())
        if smallest < folds:
            loaded.skipped.append(
                {
                    "dataset": dataset.name,
                    "reason": f"its smallest class has {smallest} rows, fewer than --folds {folds}",
                }
            )
            continue
        loaded.datasets.append(dataset)
    return loaded


def _candidate_name(names: list[str], csv: tuple[Path, str] | None, index: int) -> str:
    if index < len(names):
        return names[index]
    return f"csv:{Path(csv[0]).stem}" if csv is not None else "?"


def describe_dataset(dataset: Dataset) -> dict[str, Any]:
    if dataset.name.startswith("csv:"):
        description: dict[str, Any] = {"name": dataset.name, "source": "user CSV file"}
    else:
        description = get_spec(dataset.name).describe()
    description["rows"], description["features"] = dataset.X.shape
    description["class_counts"] = dataset.class_counts
    return description


def run_cross_validation(
    datasets: list[Dataset],
    config: BenchConfig,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[FoldResult], None] | None = None,
) -> dict[str, Any]:
    """Run every model on every dataset and return the results payload.

    ``on_start`` receives the number of tasks, and ``on_result`` each fold as it finishes.
    """
    from mltk_linearboost.bench.summary import compare_with, rank_across_datasets, summarize

    # NOTE: results are written once every fold has finished, so an
    # interrupted run leaves no partial results and a rerun starts over.
    tasks = make_tasks(datasets, config)
    if on_start is not None:
        on_start(len(tasks))
    results = run_tasks(tasks, config, on_result)

    summary = summarize(results)
    rankings = [
        ranking
        for metric, higher in (
            ("f1_weighted", True),
            ("roc_auc", True),
            ("accuracy", True),
            ("fit_seconds", False),
            ("fit_cpu_seconds", False),
            ("latency_seconds", False),
        )
        if (ranking := rank_across_datasets(summary, metric, higher)) is not None
    ]
    return {
        "config": config.to_dict(),
        "threads_per_fit": config.threads,
        "datasets": [describe_dataset(dataset) for dataset in datasets],
        "models": [get_model(name).describe() for name in config.models],
        "summary": summary,
        "comparisons": compare_with(results, OURS),
        "rankings": rankings,
        "folds": [result.to_dict() for result in results],
    }


def write_cross_validation(out: Path, payload: dict[str, Any]) -> list[Path]:
    """Write results.json, results.csv and the two plots into ``out``; return their paths."""
    from mltk_linearboost.bench.plots import plot_fit_time_vs_score, plot_scores
    from mltk_linearboost.bench.report import write_csv, write_json

    out.mkdir(parents=True, exist_ok=True)
    return [
        write_json(out / "results.json", payload),
        write_csv(out / "results.csv", payload["folds"]),
        plot_scores(payload["summary"], out / "scores.png"),
        plot_fit_time_vs_score(payload["summary"], out / "fit_time_vs_f1.png"),
    ]


def run_scaling_study(
    models: list[str],
    rows: list[int],
    context: ModelContext,
    on_result: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    from mltk_linearboost.bench.scaling import N_FEATURES, run_scaling

    results = run_scaling(models, rows, context, on_result=on_result)
    return {
        "rows": rows,
        "features": N_FEATURES,
        "threads_per_fit": context.threads,
        "seed": context.random_state,
        "models": [get_model(name).describe() for name in models],
        "results": [result.to_dict() for result in results],
    }


def write_scaling(out: Path, payload: dict[str, Any]) -> list[Path]:
    from mltk_linearboost.bench.plots import plot_scaling
    from mltk_linearboost.bench.report import write_csv, write_json

    out.mkdir(parents=True, exist_ok=True)
    return [
        write_json(out / "scaling.json", payload),
        write_csv(out / "scaling.csv", payload["results"]),
        plot_scaling(payload["results"], out / "scaling.png"),
    ]
