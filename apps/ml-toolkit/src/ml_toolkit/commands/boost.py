"""``ml-toolkit boost``: benchmark LinearBoost against XGBoost, LightGBM and CatBoost
on real datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from mltk_core.errors import UserInputError

from ml_toolkit.options import flag_option
from ml_toolkit.output import human_console, print_json

app = typer.Typer(
    help="Benchmark LinearBoost against XGBoost, LightGBM and CatBoost on real datasets.",
    no_args_is_help=True,
)

# Kept here rather than imported, so that --help loads no NumPy or pandas;
# tests check both lists against the registries.
DEFAULT_DATASETS = "breast_cancer,heart,pima,banknote,haberman"
DEFAULT_MODELS = "linearboost,linearboost-upstream,xgboost,lightgbm,catboost,logreg,adaboost"


@app.command("bench")
def bench(
    datasets: str = typer.Option(
        DEFAULT_DATASETS, "--datasets", help="Comma-separated dataset names (see --list)."
    ),
    models: str = typer.Option(
        DEFAULT_MODELS, "--models", help="Comma-separated model names (see --list)."
    ),
    folds: int = typer.Option(10, "--folds", help="Folds of stratified cross-validation."),
    repeats: int = typer.Option(
        3, "--repeats", help="Repeats of the cross-validation, each with new splits."
    ),
    tune: int = typer.Option(
        0,
        "--tune",
        help="Random-search budget per model and outer fold, tuned by an inner 3-fold CV on the "
        "training fold only. 0 runs library defaults.",
    ),
    jobs: int = typer.Option(
        1, "--jobs", help="Folds run in parallel by joblib; -1 uses every core."
    ),
    threads: int = typer.Option(
        1, "--threads", help="Threads each model may use for one fit, the same for all."
    ),
    seed: int = typer.Option(
        0, "--seed", help="Seed of the splits and of every model that takes one."
    ),
    device: str = typer.Option(
        "auto",
        "--device",
        help="Device of LinearBoost, XGBoost and CatBoost: auto, cpu, cuda, cuda:N or mps. "
        "The other models run on the CPU.",
    ),
    data_dir: Path | None = typer.Option(
        None,
        "--data-dir",
        help="Data directory with datasets/ (default: $MLTK_DATA_DIR, else download to the cache).",
    ),
    csv: Path | None = typer.Option(
        None, "--csv", help="Also benchmark this CSV file (header row, numeric features)."
    ),
    target: str | None = typer.Option(None, "--target", help="Label column of the --csv file."),
    scaling: bool = flag_option(
        False,
        "--scaling",
        help="Time fit and predict on synthetic data of 1e3 to 1e6 rows "
        "instead of cross-validating.",
    ),
    scaling_max_rows: int = typer.Option(
        1_000_000, "--scaling-max-rows", help="Largest synthetic size of --scaling, in rows."
    ),
    out: Path = typer.Option(
        Path("runs/boost-bench"), "--out", help="Folder for results.json, results.csv and plots."
    ),
    overwrite: bool = flag_option(False, "--overwrite", help="Replace results already in --out."),
    json_output: bool = flag_option(False, "--json", help="Print one JSON object on stdout."),
    list_only: bool = flag_option(
        False, "--list", help="List the registered datasets and models, then exit."
    ),
) -> None:
    """Cross-validate LinearBoost and its peers on tabular datasets, with t-tests and ranks."""
    from mltk_linearboost.bench.models import MODELS
    from mltk_linearboost.datasets import DATASETS

    console = human_console(json_output)
    if not console.is_terminal:
        console.width = max(console.width, 140)  # keep table rows whole in files and pipes
    if list_only:
        _print_registries(console, json_output)
        return

    dataset_names = _parse_names(datasets, DATASETS, "dataset", "--datasets")
    model_names = _parse_names(models, MODELS, "model", "--models")
    _check_numbers(folds, repeats, tune, jobs, threads, seed, scaling_max_rows)
    if (csv is None) != (target is None):
        raise UserInputError("--csv and --target go together: pass both, or neither")
    if csv is not None and datasets == DEFAULT_DATASETS:
        dataset_names = []  # a CSV alone replaces the default datasets

    from mltk_core.devices import resolve_device
    from mltk_linearboost.bench.report import check_output_dir

    check_output_dir(out, overwrite)
    devices = (str(resolve_device(device)), device)  # (resolved, as requested)

    if scaling:
        _run_scaling(
            model_names, scaling_max_rows, threads, seed, devices, out, console, json_output
        )
        return
    _run_bench(
        dataset_names, model_names, folds, repeats, tune, jobs, threads, seed, devices,
        data_dir, csv, target, out, console, json_output,
    )  # fmt: skip


def _run_bench(
    dataset_names, model_names, folds, repeats, tune, jobs, threads, seed, devices,
    data_dir, csv, target, out, console, json_output,
) -> None:  # fmt: skip
    from mltk_core.metadata import run_metadata
    from mltk_core.progress import make_progress
    from mltk_linearboost.bench.models import OURS
    from mltk_linearboost.bench.report import ranks_table, results_table
    from mltk_linearboost.bench.runner import BenchConfig
    from mltk_linearboost.bench.session import (
        load_datasets,
        run_cross_validation,
        write_cross_validation,
    )

    loaded = load_datasets(dataset_names, folds, data_dir, (csv, target) if csv else None)
    for skipped in loaded.skipped:
        line = f"skipped dataset {skipped['dataset']}: {skipped['reason']}"
        console.print(line, markup=False, soft_wrap=True)
    if not loaded.datasets:
        names = ", ".join(skipped["dataset"] for skipped in loaded.skipped)
        raise UserInputError(
            f"no dataset could be loaded (skipped: {names}): put the files in a data directory "
            "and pass --data-dir DIR or set MLTK_DATA_DIR, or pass --csv FILE"
        )

    config = BenchConfig(
        models=tuple(model_names), folds=folds, repeats=repeats, tune=tune, jobs=jobs,
        threads=threads, seed=seed, device=devices[0], device_request=devices[1],
    )  # fmt: skip
    metadata = run_metadata(devices[0])  # at the start: the commit and time of the code that runs
    with make_progress(json_output) as progress:
        bar = progress.add_task("cross-validation", total=None)
        payload = run_cross_validation(
            loaded.datasets,
            config,
            on_start=lambda total: progress.update(bar, total=total),
            on_result=lambda result: progress.update(
                bar, advance=1, description=f"{result.dataset} {result.model}"
            ),
        )
    payload = {"metadata": metadata, "skipped": loaded.skipped, **payload}
    paths = write_cross_validation(out, payload)

    if json_output:
        print_json({**payload, "files": [str(path) for path in paths]})
        return
    console.print(results_table(payload["summary"], payload["comparisons"], OURS))
    if payload["rankings"]:
        console.print(ranks_table(payload["rankings"]))
    console.print(
        f"* p < 0.05 (Nadeau–Bengio corrected resampled t-test); {threads} thread(s) per fit. "
        f"Wrote {', '.join(path.name for path in paths)} to {out}",
        markup=False,
        soft_wrap=True,
    )


def _run_scaling(models, max_rows, threads, seed, devices, out, console, json_output) -> None:
    from mltk_core.metadata import run_metadata
    from mltk_core.progress import make_progress
    from mltk_linearboost.bench.models import ModelContext
    from mltk_linearboost.bench.report import scaling_table
    from mltk_linearboost.bench.scaling import scaling_rows
    from mltk_linearboost.bench.session import run_scaling_study, write_scaling

    rows = scaling_rows(max_rows)
    context = ModelContext(
        random_state=seed, threads=threads, device=devices[0], device_request=devices[1]
    )
    metadata = run_metadata(devices[0])
    with make_progress(json_output) as progress:
        bar = progress.add_task("scaling", total=len(rows) * len(models))
        payload = run_scaling_study(
            models,
            rows,
            context,
            on_result=lambda result: progress.update(
                bar, advance=1, description=f"{result.model} {result.rows:,} rows"
            ),
        )
    payload = {"metadata": metadata, **payload}
    paths = write_scaling(out, payload)

    if json_output:
        print_json({**payload, "files": [str(path) for path in paths]})
        return
    console.print(scaling_table(payload["results"]))
    console.print(
        f"Wrote {', '.join(path.name for path in paths)} to {out}", markup=False, soft_wrap=True
    )


def _parse_names(text: str, registry: dict[str, Any], kind: str, option: str) -> list[str]:
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in registry]
    if unknown:
        raise UserInputError(
            f"unknown {kind} {', '.join(map(repr, unknown))} in {option}; "
            f"registered {kind}s: {', '.join(registry)}"
        )
    return names


def _check_numbers(folds, repeats, tune, jobs, threads, seed, scaling_max_rows) -> None:
    checks = (
        (folds >= 2, f"invalid --folds {folds}: expected an integer >= 2"),
        (repeats >= 1, f"invalid --repeats {repeats}: expected an integer >= 1"),
        (tune >= 0, f"invalid --tune {tune}: expected 0 (library defaults) or a positive budget"),
        (jobs != 0 and jobs >= -1, f"invalid --jobs {jobs}: expected a positive integer or -1"),
        (threads >= 1, f"invalid --threads {threads}: expected an integer >= 1"),
        (0 <= seed < 2**31, f"invalid --seed {seed}: expected an integer in [0, 2**31 - 1]"),
        (
            scaling_max_rows >= 100,
            f"invalid --scaling-max-rows {scaling_max_rows}: expected >= 100",
        ),
    )
    for passed, message in checks:
        if not passed:
            raise UserInputError(message)


def _print_registries(console, json_output: bool) -> None:
    from mltk_linearboost.bench.models import MODELS
    from mltk_linearboost.datasets import DATASETS
    from rich.table import Table

    datasets = [spec.describe() for spec in DATASETS.values()]
    models = [spec.describe() for spec in MODELS.values()]
    if json_output:
        print_json({"datasets": datasets, "models": models})
        return

    dataset_table = Table(title="datasets (--datasets)")
    for column in ("name", "rows × features", "class counts", "source", "licence"):
        dataset_table.add_column(column)
    for item in datasets:
        counts = ", ".join(f"{label}: {count}" for label, count in item["class_counts"].items())
        dataset_table.add_row(
            item["name"],
            f"{item['rows']} × {item['features']}",
            counts,
            item["source"],
            item["licence"],
        )
    console.print(dataset_table)

    model_table = Table(title="models (--models)")
    for column in ("name", "estimator", "distribution", "version"):
        model_table.add_column(column)
    for item in models:
        model_table.add_row(
            item["name"],
            item["description"],
            item["distribution"],
            item["version"] or "not installed",
        )
    console.print(model_table)
