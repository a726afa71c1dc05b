"""SEFR against the formulas of Keshavarz, Saniee Abadeh and Rawassizadeh (arXiv 2006.04620)."""

import numpy as np
import pytest
from mltk_linearboost import SEFRClassifier
from mltk_linearboost.sefr import SEFR_EPSILON, fit_sefr, side_indicator


def reference_sefr(X, y, weight):
    """SEFR written out row by row from the weighted formulas."""
    positive = [i for i in range(len(y)) if y[i] == 1]
    negative = [i for i in range(len(y)) if y[i] == 0]
    positive_total = sum(weight[i] for i in positive)
    negative_total = sum(weight[i] for i in negative)

    coef = []
    for j in range(X.shape[1]):
        mean_plus = sum(weight[i] * X[i, j] for i in positive) / positive_total
        mean_minus = sum(weight[i] * X[i, j] for i in negative) / negative_total
        coef.append((mean_plus - mean_minus) / (mean_plus + mean_minus + SEFR_EPSILON))

    score = [sum(X[i, j] * coef[j] for j in range(X.shape[1])) for i in range(len(y))]
    score_plus = sum(weight[i] * score[i] for i in positive) / positive_total
    score_minus = sum(weight[i] * score[i] for i in negative) / negative_total
    bias = (negative_total * score_plus + positive_total * score_minus) / (
        positive_total + negative_total
    )
    return np.array(coef), bias


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    X = rng.random((40, 5))
    y = (X[:, 0] + 0.3 * rng.random(40) > 0.6).astype(int)
    weight = rng.uniform(0.1, 3.0, 40)
    return X, y, weight


def side_weight(y, weight):
    """Stack weight as positive (y == 1) and negative sides for fit_sefr."""
    return weight[:, None, None] * side_indicator((y == 1).astype(float)[:, None])


def test_fit_sefr_matches_formula(problem):
    X, y, weight = problem
    coef, intercept = fit_sefr(X, side_weight(y, weight))
    expected_coef, expected_bias = reference_sefr(X, y, weight)
    np.testing.assert_allclose(coef[:, 0], expected_coef, rtol=1e-12)
    np.testing.assert_allclose(intercept[0], expected_bias, rtol=1e-12)


def test_fit_sefr_columns_independent(problem):
    X, y, weight = problem
    other = 1 - y
    both = weight[:, None, None] * side_indicator(np.column_stack([y, other]).astype(float))
    coef, intercept = fit_sefr(X, both)

    coef_other, intercept_other = fit_sefr(X, side_weight(other, weight))
    np.testing.assert_allclose(coef[:, 1], coef_other[:, 0], rtol=1e-12)
    np.testing.assert_allclose(intercept[1], intercept_other[0], rtol=1e-12)


def test_zero_weight_removes_row(problem):
    X, y, weight = problem
    weight = weight.copy()
    weight[[3, 7, 19]] = 0.0
    kept = weight > 0
    coef, intercept = fit_sefr(X, side_weight(y, weight))
    coef_removed, intercept_removed = fit_sefr(X[kept], side_weight(y[kept], weight[kept]))
    np.testing.assert_allclose(coef, coef_removed, rtol=1e-12)
    np.testing.assert_allclose(intercept, intercept_removed, rtol=1e-12)


def test_integer_weight_repeats_row(problem):
    X, y, _ = problem
    counts = np.arange(40) % 3 + 1
    coef, intercept = fit_sefr(X, side_weight(y, counts.astype(float)))
    repeated = fit_sefr(X.repeat(counts, 0), side_weight(y.repeat(counts), np.ones(counts.sum())))
    np.testing.assert_allclose(coef, repeated[0], rtol=1e-12)
    np.testing.assert_allclose(intercept, repeated[1], rtol=1e-12)


def test_zero_feature_gets_zero_weight(problem):
    X, y, weight = problem
    X = X.copy()
    X[:, 2] = 0.0
    coef, _ = fit_sefr(X, side_weight(y, weight))
    assert coef[2, 0] == 0.0


def test_empty_side_stays_finite(problem):
    X, y, weight = problem
    coef, intercept = fit_sefr(X, side_weight(np.zeros(40), weight))
    assert np.isfinite(coef).all()
    assert np.isfinite(intercept).all()


def test_classifier_separates_classes():
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(0, 1, (50, 3)), rng.normal(4, 1, (50, 3))]) - 2  # negative values too
    y = np.array(["no"] * 50 + ["yes"] * 50)
    model = SEFRClassifier().fit(X, y)
    assert model.score(X, y) > 0.95
    assert list(model.classes_) == ["no", "yes"]


def test_classifier_zero_weight_removes_row(problem):
    X, y, weight = problem
    X = X * 10 - 3  # so that the dropped rows would move the min-max scaling
    weight = weight.copy()
    weight[np.argmin(X[:, 1])] = 0.0
    kept = weight > 0
    full = SEFRClassifier().fit(X, y, sample_weight=weight)
    removed = SEFRClassifier().fit(X[kept], y[kept], sample_weight=weight[kept])
    np.testing.assert_allclose(full.decision_function(X), removed.decision_function(X), rtol=1e-12)


def test_classifier_rejects_three_classes():
    X = np.arange(12.0).reshape(6, 2)
    with pytest.raises(ValueError, match="binary"):
        SEFRClassifier().fit(X, [0, 1, 2, 0, 1, 2])
