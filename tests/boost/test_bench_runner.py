"""Cross-validation runner, summary and model registry, on real estimators and tiny folds."""

from __future__ import annotations

import numpy as np
import pytest
from mltk_linearboost.bench.models import MODELS, ModelContext, build_model
from mltk_linearboost.bench.runner import BenchConfig, make_tasks, run_fold, run_tasks
from mltk_linearboost.bench.summary import compare_with, rank_across_datasets, summarize
from mltk_linearboost.datasets import Dataset, load_dataset
from sklearn.datasets import load_iris


@pytest.fixture(scope="module")
def haberman() -> Dataset:
    return load_dataset("haberman")


@pytest.fixture(scope="module")
def iris() -> Dataset:
    bunch = load_iris()
    return Dataset("iris", bunch.data, bunch.target, list(bunch.feature_names), ["a", "b", "c"])


def test_tasks_share_splits(haberman):
    config = BenchConfig(models=("logreg", "adaboost"), folds=3, repeats=2)
    tasks = make_tasks([haberman], config)
    assert len(tasks) == 3 * 2 * 2
    for first, second in zip(tasks[::2], tasks[1::2], strict=True):
        assert (first.model, second.model) == ("logreg", "adaboost")
        assert np.array_equal(first.test_index, second.test_index)


def test_tasks_folds_partition_rows(haberman):
    config = BenchConfig(models=("logreg",), folds=3, repeats=2)
    tasks = make_tasks([haberman], config)
    for repeat in (0, 1):
        test_rows = np.concatenate([t.test_index for t in tasks if t.repeat == repeat])
        assert np.array_equal(np.sort(test_rows), np.arange(306))


def test_repeats_use_new_splits(haberman):
    tasks = make_tasks([haberman], BenchConfig(models=("logreg",), folds=3, repeats=2))
    assert not np.array_equal(tasks[0].test_index, tasks[3].test_index)


def test_fold_metrics_in_range(haberman):
    config = BenchConfig(models=("logreg",), folds=3, repeats=1, latency_calls=5)
    result = run_fold(make_tasks([haberman], config)[0], config)
    assert result.error is None
    assert 0.5 < result.f1_weighted <= 1.0
    assert 0.5 < result.roc_auc <= 1.0
    assert 0.5 < result.accuracy <= 1.0
    assert result.fit_seconds > 0
    assert result.fit_cpu_seconds > 0
    assert result.predict_seconds > 0
    assert 0 < result.latency_seconds < result.fit_seconds
    assert result.n_train + result.n_test == 306


def test_failing_model_recorded_not_raised(iris):
    # linearboost 0.2.0 fits binary targets only, so three classes make it raise.
    config = BenchConfig(
        models=("linearboost-upstream", "logreg"), folds=2, repeats=1, latency_calls=2
    )
    results = run_tasks(make_tasks([iris], config), config)
    upstream = [r for r in results if r.model == "linearboost-upstream"]
    logreg = [r for r in results if r.model == "logreg"]
    assert all(r.error is not None for r in upstream)
    assert all(r.error is None for r in logreg)
    assert all(0.8 < r.roc_auc <= 1.0 for r in logreg)  # one-vs-rest AUC on three classes


def test_tuning_records_search(haberman):
    config = BenchConfig(models=("logreg",), folds=3, repeats=1, tune=2, latency_calls=2)
    result = run_fold(make_tasks([haberman], config)[0], config)
    assert result.error is None
    assert set(result.best_params) == {"logisticregression__C"}
    assert result.tune_seconds > result.fit_seconds


def test_parallel_matches_serial(haberman):
    serial = BenchConfig(models=("logreg",), folds=2, repeats=1, latency_calls=1)
    parallel = BenchConfig(models=("logreg",), folds=2, repeats=1, jobs=2, latency_calls=1)
    first = run_tasks(make_tasks([haberman], serial), serial)
    second = run_tasks(make_tasks([haberman], parallel), parallel)
    assert [r.fold for r in second] == [0, 1]
    assert [r.f1_weighted for r in first] == [r.f1_weighted for r in second]


@pytest.mark.parametrize("name", list(MODELS))
def test_model_fits_tiny_data(name, haberman):
    model = build_model(name, ModelContext(random_state=0, threads=1, device="cpu"))
    X, y = haberman.X[:120], haberman.y[:120]
    model.fit(X, y)
    probabilities = model.predict_proba(X[:5])
    assert probabilities.shape == (5, 2)
    assert np.allclose(probabilities.sum(axis=1), 1.0)


@pytest.mark.parametrize("name", list(MODELS))
def test_search_space_candidate_fits(name, haberman):
    from sklearn.model_selection import ParameterSampler

    model = build_model(name, ModelContext())
    candidate = next(iter(ParameterSampler(MODELS[name].search_space(), n_iter=1, random_state=0)))
    model.set_params(**candidate)
    model.fit(haberman.X[:120], haberman.y[:120])
    for key, value in candidate.items():
        assert model.get_params()[key] == value, key


# Summary and comparisons.


@pytest.fixture(scope="module")
def two_dataset_results(haberman):
    heart = load_dataset("heart")
    config = BenchConfig(
        models=("linearboost", "logreg", "adaboost"), folds=3, repeats=1, latency_calls=1
    )
    return run_tasks(make_tasks([haberman, heart], config), config)


def test_summary_one_row_per_pair(two_dataset_results):
    summary = summarize(two_dataset_results)
    assert len(summary) == 2 * 3
    for row in summary:
        assert row["folds"] == 3
        assert row["failed_folds"] == 0
        assert row["f1_weighted_std"] is not None


def test_comparisons_against_each_peer(two_dataset_results):
    comparisons = compare_with(two_dataset_results, "linearboost")
    f1 = [c for c in comparisons if c["metric"] == "f1_weighted"]
    assert {(c["dataset"], c["peer"]) for c in f1} == {
        (d, p) for d in ("haberman", "heart") for p in ("logreg", "adaboost")
    }
    assert all(c["pairs"] == 3 for c in f1)
    assert all(0.0 <= c["p_value"] <= 1.0 for c in f1)


def test_ranks_across_two_datasets(two_dataset_results):
    ranking = rank_across_datasets(summarize(two_dataset_results), "f1_weighted", True)
    assert ranking["datasets"] == ["haberman", "heart"]
    assert sum(ranking["average_ranks"]) == pytest.approx(6.0)  # 1 + 2 + 3 on every dataset


def test_ranks_need_two_datasets(two_dataset_results):
    one = [r for r in two_dataset_results if r.dataset == "heart"]
    assert rank_across_datasets(summarize(one), "f1_weighted", True) is None
