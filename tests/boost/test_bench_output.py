"""Result files, plots, output-folder guard and the scaling study."""

from __future__ import annotations

import csv
import json
import math

import pytest
from mltk_core.errors import UserInputError
from mltk_linearboost.bench.models import ModelContext
from mltk_linearboost.bench.plots import plot_fit_time_vs_score, plot_scaling, plot_scores
from mltk_linearboost.bench.report import check_output_dir, json_safe, write_csv, write_json
from mltk_linearboost.bench.scaling import run_scaling, scaling_rows

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _summary_row(dataset, model, f1, seconds):
    row = {"dataset": dataset, "model": model, "folds": 3, "failed_folds": 0, "first_error": None}
    for metric in ("f1_weighted", "roc_auc", "accuracy"):
        row[f"{metric}_mean"], row[f"{metric}_std"] = f1, 0.02
    for metric in ("fit_seconds", "fit_cpu_seconds", "predict_seconds", "latency_seconds"):
        row[f"{metric}_mean"], row[f"{metric}_std"] = seconds, None
    return row


SUMMARY = [
    _summary_row("heart", "linearboost", 0.82, 0.004),
    _summary_row("heart", "xgboost", 0.80, 0.03),
    _summary_row("pima", "linearboost", 0.75, 0.005),
    _summary_row("pima", "xgboost", None, None),  # every fold failed
]


def test_json_safe_replaces_nan():
    payload = {"a": math.nan, "b": [1.0, math.inf], "c": {"d": -math.inf, "e": "x"}}
    assert json_safe(payload) == {"a": None, "b": [1.0, None], "c": {"d": None, "e": "x"}}


def test_write_json_with_nan(tmp_path):
    path = write_json(tmp_path / "results.json", {"score": math.nan})
    assert json.loads(path.read_text()) == {"score": None}


def test_write_csv_serialises_dicts(tmp_path):
    rows = [{"model": "a", "best_params": {"C": 1.0}}, {"model": "b", "best_params": None}]
    path = write_csv(tmp_path / "results.csv", rows)
    read = list(csv.DictReader(path.open()))
    assert json.loads(read[0]["best_params"]) == {"C": 1.0}
    assert read[1]["best_params"] == ""


def test_output_dir_guard(tmp_path):
    check_output_dir(tmp_path / "new", overwrite=False)
    check_output_dir(tmp_path, overwrite=False)  # exists but empty
    (tmp_path / "results.json").write_text("{}")
    with pytest.raises(UserInputError, match="--overwrite"):
        check_output_dir(tmp_path, overwrite=False)
    check_output_dir(tmp_path, overwrite=True)


def test_output_dir_that_is_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("")
    with pytest.raises(UserInputError, match="is a file"):
        check_output_dir(target, overwrite=True)


def test_plots_are_png(tmp_path):
    scaling = [
        {"model": "linearboost", "rows": 1000, "fit_seconds": 0.01, "predict_seconds": 0.001},
        {"model": "linearboost", "rows": 10000, "fit_seconds": 0.05, "predict_seconds": None},
    ]
    paths = [
        plot_scores(SUMMARY, tmp_path / "scores.png"),
        plot_fit_time_vs_score(SUMMARY, tmp_path / "fit_time_vs_f1.png"),
        plot_scaling(scaling, tmp_path / "scaling.png"),
    ]
    for path in paths:
        assert path.read_bytes()[:8] == PNG_MAGIC, path.name


def test_scaling_rows_defaults():
    assert scaling_rows(1_000_000) == [1_000, 10_000, 100_000, 1_000_000]
    assert scaling_rows(5_000) == [1_000, 5_000]
    assert scaling_rows(500) == [500]
    assert scaling_rows(10_000) == [1_000, 10_000]


def test_scaling_times_each_size():
    results = run_scaling(["logreg", "adaboost"], [200, 400], ModelContext())
    assert [(r.model, r.rows) for r in results] == [
        ("logreg", 200), ("adaboost", 200), ("logreg", 400), ("adaboost", 400),
    ]  # fmt: skip
    for result in results:
        assert result.error is None
        assert result.fit_seconds > 0
        assert result.fit_cpu_seconds > 0
        assert result.predict_seconds > 0


def test_scaling_skips_after_time_limit():
    results = run_scaling(["logreg"], [200, 400], ModelContext(), time_limit_seconds=0.0)
    assert results[0].fit_seconds is not None
    assert results[1].fit_seconds is None
    assert "over the limit" in results[1].error
