"""Significance tests for comparing classifiers by cross-validation.

On one dataset: the corrected resampled t-test of Nadeau and Bengio
("Inference for the Generalization Error", Machine Learning 52, 2003). The
training sets of k-fold cross-validation overlap, so per-fold scores are
correlated, and a plain paired t-test, which treats them as independent,
underestimates the variance and finds differences too often. The correction
inflates the variance of the mean difference from var/k to
(1/k + n_test/n_train) * var.

Across datasets: the Friedman test on average ranks, with the Iman–Davenport
F form, as Demšar recommends ("Statistical Comparisons of Classifiers over
Multiple Data Sets", JMLR 7, 2006).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class CorrectedTTest:
    """Result of the corrected resampled t-test of ``a - b``; positive means ``a`` is higher."""

    mean_difference: float
    t_statistic: float
    p_value: float
    degrees_of_freedom: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class FriedmanResult:
    """Average ranks (1 = best) per model and the Friedman statistics over ``n_datasets``."""

    models: list[str]
    average_ranks: list[float]
    n_datasets: int
    chi_square: float
    chi_square_p_value: float
    iman_davenport_f: float | None  # None where every dataset ranks the models identically
    iman_davenport_p_value: float | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def corrected_resampled_ttest(
    a: np.ndarray, b: np.ndarray, test_train_ratio: float
) -> CorrectedTTest:
    """Compare paired scores ``a`` and ``b`` from repeated k-fold cross-validation.

    ``test_train_ratio`` is n_test / n_train of one fold (1 / (k - 1) for
    k-fold). With a ratio of 0 this is the plain paired t-test. Both sides
    equal on every fold give t = 0 and p = 1; a constant nonzero difference
    gives an infinite t and p = 0.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(
            f"expected two 1-D arrays of equal length, got shapes {a.shape} and {b.shape}"
        )
    if len(a) < 2:
        raise ValueError(f"the t-test needs at least 2 paired scores, got {len(a)}")
    if test_train_ratio < 0:
        raise ValueError(f"invalid test_train_ratio {test_train_ratio}: expected >= 0")

    differences = a - b
    k = len(differences)
    mean = float(differences.mean())
    variance = float(differences.var(ddof=1))
    degrees = k - 1

    if variance == 0.0:
        t = 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
        p = 1.0 if mean == 0.0 else 0.0
        return CorrectedTTest(mean, t, p, degrees)

    t = mean / math.sqrt((1.0 / k + test_train_ratio) * variance)
    p = float(2.0 * stats.t.sf(abs(t), degrees))
    return CorrectedTTest(mean, float(t), p, degrees)


def average_ranks(scores: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Rank models on each dataset (rows) and average over datasets; ties share their mean rank.

    ``scores`` has shape (n_datasets, n_models); rank 1 is the best model.
    """
    scores = np.asarray(scores, dtype=np.float64)
    ordered = -scores if higher_is_better else scores
    ranks = stats.rankdata(ordered, axis=1)  # (n_datasets, n_models)
    return ranks.mean(axis=0)


def friedman_from_ranks(
    ranks: np.ndarray, n_datasets: int
) -> tuple[float, float, float | None, float | None]:
    """Return (chi-square, its p-value, Iman–Davenport F, its p-value) from average ranks.

    As in Demšar (2006): chi2_F = 12N / (k(k+1)) * (sum R_j^2 - k(k+1)^2 / 4),
    and F_F = (N - 1) chi2_F / (N(k - 1) - chi2_F) with (k - 1, (k - 1)(N - 1)) degrees of freedom.
    """
    ranks = np.asarray(ranks, dtype=np.float64)
    k = len(ranks)
    n = n_datasets
    chi_square = 12.0 * n / (k * (k + 1)) * (float(np.sum(ranks**2)) - k * (k + 1) ** 2 / 4.0)
    chi_square = max(chi_square, 0.0)  # rounding can leave -1e-15 when all ranks tie
    chi_p = float(stats.chi2.sf(chi_square, k - 1))

    denominator = n * (k - 1) - chi_square
    if denominator <= 0:
        # Every dataset ranks the models identically: F divides by 0 and is undefined.
        return chi_square, chi_p, None, None
    f = (n - 1) * chi_square / denominator
    f_p = float(stats.f.sf(f, k - 1, (k - 1) * (n - 1)))
    return chi_square, chi_p, float(f), f_p


def friedman_test(
    scores: np.ndarray, models: list[str], higher_is_better: bool = True
) -> FriedmanResult:
    """Rank ``models`` on each dataset by ``scores`` (n_datasets, n_models) and test equal ranks.

    Raises ``ValueError`` with fewer than 2 datasets or 2 models, where ranks carry no test.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] != len(models):
        raise ValueError(f"expected scores of shape (datasets, {len(models)}), got {scores.shape}")
    n_datasets, n_models = scores.shape
    if n_datasets < 2 or n_models < 2:
        raise ValueError(
            "the Friedman test needs at least 2 datasets and 2 models, "
            f"got {n_datasets} and {n_models}"
        )

    ranks = average_ranks(scores, higher_is_better)
    chi_square, chi_p, f, f_p = friedman_from_ranks(ranks, n_datasets)
    return FriedmanResult(
        models=list(models),
        average_ranks=[float(rank) for rank in ranks],
        n_datasets=n_datasets,
        chi_square=chi_square,
        chi_square_p_value=chi_p,
        iman_davenport_f=f,
        iman_davenport_p_value=f_p,
    )
