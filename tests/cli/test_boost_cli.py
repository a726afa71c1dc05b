"""End-to-end runs of ``ml-toolkit boost bench`` in a separate process, with real exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run_boost(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml_toolkit", "boost", "bench", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_bench_json_end_to_end(tmp_path):
    out = tmp_path / "run"
    result = run_boost(
        "--datasets", "haberman,heart", "--models", "linearboost,logreg,xgboost",
        "--folds", "3", "--repeats", "1", "--device", "cpu", "--out", str(out), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)

    assert {row["model"] for row in report["summary"]} == {"linearboost", "logreg", "xgboost"}
    assert len(report["summary"]) == 6
    assert len(report["folds"]) == 2 * 3 * 3
    assert report["metadata"]["device"] == "cpu"
    assert report["threads_per_fit"] == 1
    f1_comparisons = [c for c in report["comparisons"] if c["metric"] == "f1_weighted"]
    assert len(f1_comparisons) == 2 * 2
    assert report["rankings"][0]["metric"] == "f1_weighted"
    for name in ("results.json", "results.csv", "scores.png", "fit_time_vs_f1.png"):
        assert (out / name).is_file(), name
    assert json.loads((out / "results.json").read_text())["summary"] == report["summary"]


def test_bench_refuses_existing_results(tmp_path):
    (tmp_path / "results.json").write_text("{}")
    result = run_boost("--datasets", "haberman", "--models", "logreg", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "--overwrite" in result.stderr
    assert (tmp_path / "results.json").read_text() == "{}"


@pytest.mark.parametrize(
    ("option", "value", "listed"),
    [("--datasets", "haberman,sonar", "breast_cancer"), ("--models", "logreg,svm", "catboost")],
)
def test_bench_unknown_name_lists_registry(tmp_path, option, value, listed):
    result = run_boost(option, value, "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert listed in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_bench_invalid_folds(tmp_path):
    result = run_boost("--folds", "1", "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "--folds 1" in result.stderr


def test_bench_list_json():
    result = run_boost("--list", "--json")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert "banknote" in [item["name"] for item in listing["datasets"]]
    assert "linearboost-upstream" in [item["name"] for item in listing["models"]]


def test_bench_csv_file(tmp_path):
    rows = ["x1,x2,label"] + [
        f"{i % 7},{(i * 3) % 11},{'yes' if i % 2 else 'no'}" for i in range(40)
    ]
    (tmp_path / "toy.csv").write_text("\n".join(rows) + "\n")
    result = run_boost(
        "--csv", str(tmp_path / "toy.csv"), "--target", "label", "--models", "logreg",
        "--folds", "2", "--repeats", "1", "--device", "cpu",
        "--out", str(tmp_path / "run"), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["datasets"][0]["name"] == "csv:toy"
    assert report["datasets"][0]["class_counts"] == {"no": 20, "yes": 20}


def test_bench_scaling_json(tmp_path):
    result = run_boost(
        "--scaling", "--scaling-max-rows", "300", "--models", "logreg,lightgbm",
        "--device", "cpu", "--out", str(tmp_path), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [(r["model"], r["rows"]) for r in report["results"]] == [
        ("logreg", 300),
        ("lightgbm", 300),
    ]
    assert (tmp_path / "scaling.png").is_file()


def test_bench_device_help_lists_mps():
    from ml_toolkit.cli import app
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["boost", "bench", "--help"], env={"COLUMNS": "400"})
    assert "cuda:N or mps" in result.output
