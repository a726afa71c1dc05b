"""Corrected resampled t-test and Friedman test against hand values, scipy and Demšar (2006)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from mltk_linearboost.bench.report import ranks_table, results_table
from mltk_linearboost.bench.stats import (
    average_ranks,
    corrected_resampled_ttest,
    friedman_from_ranks,
    friedman_test,
)
from scipy import stats


def test_ttest_ratio_zero_is_paired_ttest():
    rng = np.random.default_rng(0)
    a = rng.normal(0.80, 0.03, size=10)
    b = rng.normal(0.78, 0.03, size=10)
    ours = corrected_resampled_ttest(a, b, test_train_ratio=0.0)
    reference = stats.ttest_rel(a, b)
    assert ours.t_statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert ours.p_value == pytest.approx(reference.pvalue, rel=1e-10)


def test_ttest_hand_value():
    # d = 0.01..0.04: mean 0.025, sample variance 1/6000, k = 4, ratio 1/9:
    # t = 0.025 / sqrt((1/4 + 1/9) / 6000) = 3.22252...
    a = np.array([0.91, 0.92, 0.93, 0.94])
    b = np.array([0.90, 0.90, 0.90, 0.90])
    result = corrected_resampled_ttest(a, b, test_train_ratio=1 / 9)
    assert result.mean_difference == pytest.approx(0.025)
    assert result.t_statistic == pytest.approx(0.025 / math.sqrt((0.25 + 1 / 9) / 6000), rel=1e-9)
    assert result.degrees_of_freedom == 3
    assert result.p_value == pytest.approx(2 * stats.t.sf(result.t_statistic, 3), rel=1e-9)


def test_ttest_correction_raises_p():
    rng = np.random.default_rng(1)
    a = rng.normal(0.80, 0.02, size=30)
    b = a - rng.normal(0.01, 0.02, size=30)
    plain = corrected_resampled_ttest(a, b, test_train_ratio=0.0)
    corrected = corrected_resampled_ttest(a, b, test_train_ratio=1 / 9)
    assert corrected.p_value > plain.p_value
    assert abs(corrected.t_statistic) < abs(plain.t_statistic)


def test_ttest_sign_favours_first():
    result = corrected_resampled_ttest(np.array([0.9, 0.8, 0.85]), np.array([0.7, 0.75, 0.7]), 0.1)
    assert result.t_statistic > 0
    assert result.mean_difference > 0


def test_ttest_identical_scores():
    a = np.array([0.8, 0.9, 0.7])
    result = corrected_resampled_ttest(a, a.copy(), 0.1)
    assert result.t_statistic == 0.0
    assert result.p_value == 1.0


def test_ttest_constant_difference():
    a = np.array([0.8, 0.9, 0.7])
    result = corrected_resampled_ttest(a, a - 0.1, 0.1)
    assert result.t_statistic == math.inf
    assert result.p_value == 0.0


def test_ttest_rejects_bad_input():
    with pytest.raises(ValueError, match="equal length"):
        corrected_resampled_ttest(np.ones(3), np.ones(4), 0.1)
    with pytest.raises(ValueError, match="at least 2"):
        corrected_resampled_ttest(np.ones(1), np.ones(1), 0.1)
    with pytest.raises(ValueError, match="test_train_ratio"):
        corrected_resampled_ttest(np.ones(3), np.ones(3), -0.1)


def test_average_ranks_ties_share_mean():
    scores = np.array([[0.9, 0.8, 0.8], [0.7, 0.9, 0.6]])
    # Dataset 1: ranks 1, 2.5, 2.5. Dataset 2: ranks 2, 1, 3.
    assert average_ranks(scores).tolist() == [1.5, 1.75, 2.75]


def test_average_ranks_lower_is_better():
    seconds = np.array([[0.1, 0.5, 0.3]])
    assert average_ranks(seconds, higher_is_better=False).tolist() == [1.0, 3.0, 2.0]


def test_friedman_demsar_example():
    # The worked example of Demšar (2006): four classifiers on 14 datasets with
    # average ranks 3.143, 2.000, 2.893 and 1.964 give chi2_F = 9.28 and F_F = 3.69.
    chi_square, chi_p, f, f_p = friedman_from_ranks(np.array([3.143, 2.000, 2.893, 1.964]), 14)
    assert chi_square == pytest.approx(9.28, abs=0.01)
    assert f == pytest.approx(3.69, abs=0.01)
    assert chi_p == pytest.approx(stats.chi2.sf(chi_square, 3))
    assert f_p == pytest.approx(stats.f.sf(f, 3, 39))


def test_friedman_matches_scipy_without_ties():
    rng = np.random.default_rng(2)
    scores = rng.uniform(0.6, 0.95, size=(6, 4))
    result = friedman_test(scores, ["a", "b", "c", "d"])
    reference = stats.friedmanchisquare(*scores.T)
    assert result.chi_square == pytest.approx(reference.statistic, rel=1e-12)
    assert result.chi_square_p_value == pytest.approx(reference.pvalue, rel=1e-10)


def test_friedman_identical_rankings():
    scores = np.array([[0.9, 0.8, 0.7], [0.95, 0.85, 0.75]])
    result = friedman_test(scores, ["a", "b", "c"])
    assert result.average_ranks == [1.0, 2.0, 3.0]
    assert result.iman_davenport_f is None
    assert result.iman_davenport_p_value is None


def test_friedman_all_tied():
    result = friedman_test(np.full((3, 3), 0.8), ["a", "b", "c"])
    assert result.chi_square == 0.0
    assert result.chi_square_p_value == 1.0


def test_friedman_needs_two_datasets():
    with pytest.raises(ValueError, match="at least 2 datasets"):
        friedman_test(np.array([[0.9, 0.8]]), ["a", "b"])


def _render(table) -> str:
    from rich.console import Console

    console = Console(width=200, record=True, file=io.StringIO())
    console.print(table)
    return console.export_text()


def test_ranks_table_undefined_f_reads_na():
    scores = np.array([[0.9, 0.8, 0.7], [0.95, 0.85, 0.75]])
    ranking = {"metric": "f1_weighted", **friedman_test(scores, ["a", "b", "c"]).to_dict()}
    line = next(row for row in _render(ranks_table([ranking])).splitlines() if "Iman" in row)
    assert "n/a" in line


def test_ranks_table_one_dataset_reads_na():
    ranking = {
        "metric": "f1_weighted", "models": ["a", "b"], "average_ranks": [1.0, 2.0], "n_datasets": 1,
        "chi_square": 1.0, "chi_square_p_value": 0.3, "iman_davenport_f": 1.0, "iman_davenport_p_value": 0.3,
    }  # fmt: skip
    lines = [row for row in _render(ranks_table([ranking])).splitlines() if " p " in row]
    assert all("n/a" in row for row in lines)


def test_results_table_without_ours_has_no_p_column():
    row = {
        "dataset": "heart", "model": "logreg", "failed_folds": 0,
        **{f"{metric}_{part}": 0.8 for metric in ("f1_weighted", "roc_auc", "accuracy") for part in ("mean", "std")},
        **{f"{timing}_mean": 0.01 for timing in ("fit_seconds", "fit_cpu_seconds", "predict_seconds", "latency_seconds")},
    }  # fmt: skip
    assert "F1 p vs" not in _render(results_table([row], [], "linearboost"))
