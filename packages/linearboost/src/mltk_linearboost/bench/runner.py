"""Repeated stratified cross-validation of every model on every dataset.

All models see the same splits (one ``RepeatedStratifiedKFold`` per dataset,
seeded by the run's seed), so their per-fold scores are paired, which the
corrected t-test in :mod:`mltk_linearboost.bench.stats` needs. Folds run in
parallel through joblib; a model that raises on a fold is recorded with its
error and the run goes on.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mltk_linearboost.bench.models import ModelContext, build_model, get_model
from mltk_linearboost.datasets import Dataset

INNER_FOLDS = 3  # folds of the inner cross-validation that tunes each outer fold


@dataclass(frozen=True)
class BenchConfig:
    """Settings of one benchmark run. ``tune`` = 0 runs every model at its defaults."""

    models: tuple[str, ...]
    folds: int = 10
    repeats: int = 3
    tune: int = 0
    jobs: int = 1
    threads: int = 1
    seed: int = 0
    device: str = "cpu"
    device_request: str = "cpu"
    latency_calls: int = 20

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FoldResult:
    """Scores and timings of one model on one outer fold. Times are in seconds.

    ``fit_seconds`` is wall time. ``fit_cpu_seconds`` is the CPU time of the
    whole process during the fit, every thread included: other programs on
    a shared machine slow the wall time down but leave it nearly unchanged.
    """

    dataset: str
    model: str
    repeat: int
    fold: int
    n_train: int
    n_test: int
    f1_weighted: float = float("nan")
    roc_auc: float = float("nan")
    accuracy: float = float("nan")
    fit_seconds: float = float("nan")
    fit_cpu_seconds: float = float("nan")
    predict_seconds: float = float("nan")
    latency_seconds: float = float("nan")
    tune_seconds: float | None = None
    best_params: dict[str, Any] | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FoldTask:
    """One unit of parallel work: a model on one split of a dataset."""

    dataset: Dataset
    model: str
    repeat: int
    fold: int
    train_index: np.ndarray = field(repr=False)
    test_index: np.ndarray = field(repr=False)


def make_tasks(datasets: list[Dataset], config: BenchConfig) -> list[FoldTask]:
    """List every (dataset, repeat, fold, model) task, with the same splits for every model."""
    from sklearn.model_selection import RepeatedStratifiedKFold

    tasks: list[FoldTask] = []
    for dataset in datasets:
        splitter = RepeatedStratifiedKFold(
            n_splits=config.folds, n_repeats=config.repeats, random_state=config.seed
        )
        for index, (train, test) in enumerate(splitter.split(dataset.X, dataset.y)):
            repeat, fold = divmod(index, config.folds)
            for model in config.models:
                tasks.append(FoldTask(dataset, model, repeat, fold, train, test))
    return tasks


def run_tasks(
    tasks: list[FoldTask],
    config: BenchConfig,
    on_result: Callable[[FoldResult], None] | None = None,
) -> list[FoldResult]:
    """Run ``tasks`` on ``config.jobs`` joblib workers, calling ``on_result`` as each one ends.

    Results are returned in task order, whatever order they finished in.
    """
    results = list(_iterate_results(tasks, config, on_result))
    order = {(t.dataset.name, t.model, t.repeat, t.fold): i for i, t in enumerate(tasks)}
    results.sort(key=lambda r: order[(r.dataset, r.model, r.repeat, r.fold)])
    return results


def _iterate_results(
    tasks: list[FoldTask], config: BenchConfig, on_result: Callable[[FoldResult], None] | None
) -> Iterator[FoldResult]:
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=config.jobs, return_as="generator_unordered")
    for result in parallel(delayed(run_fold)(task, config) for task in tasks):
        if on_result is not None:
            on_result(result)
        yield result


def run_fold(task: FoldTask, config: BenchConfig) -> FoldResult:
    """Fit one model on one training fold and score it on the test fold."""
    from threadpoolctl import threadpool_limits

    result = FoldResult(
        dataset=task.dataset.name,
        model=task.model,
        repeat=task.repeat,
        fold=task.fold,
        n_train=len(task.train_index),
        n_test=len(task.test_index),
    )
    context = ModelContext(
        random_state=config.seed + task.repeat,
        threads=config.threads,
        device=config.device,
        device_request=config.device_request,
    )
    X, y = task.dataset.X, task.dataset.y
    X_train, y_train = X[task.train_index], y[task.train_index]
    X_test, y_test = X[task.test_index], y[task.test_index]

    # Libraries log convergence and deprecation notes on stderr for every fit;
    # the fold's scores carry the outcome, so the notes are silenced here.
    with threadpool_limits(limits=config.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _limit_torch_threads(config.threads)
        try:
            estimator = _fit(result, task.model, context, X_train, y_train, config)
            _score(result, estimator, X_test, y_test, config)
        except Exception as error:  # noqa: BLE001 - a failing model must not stop the run
            result.error = f"{type(error).__name__}: {error}"
    return result


def _limit_torch_threads(threads: int) -> None:
    # Only when torch is already loaded: importing it here would cost every
    # worker about a second for models that never use it.
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def _fit(
    result: FoldResult,
    model: str,
    context: ModelContext,
    X_train: np.ndarray,
    y_train: np.ndarray,
    config: BenchConfig,
) -> Any:
    estimator = build_model(model, context)
    if config.tune <= 0:
        cpu_start = time.process_time()
        with _timer(context.device) as timer:
            estimator.fit(X_train, y_train)
        result.fit_cpu_seconds = time.process_time() - cpu_start
        result.fit_seconds = timer.seconds
        return estimator

    from sklearn.model_selection import RandomizedSearchCV, StratifiedKFold

    search = RandomizedSearchCV(
        estimator,
        get_model(model).search_space(),
        n_iter=config.tune,
        scoring="f1_weighted",
        cv=StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=context.random_state),
        refit=True,
        random_state=context.random_state,
        n_jobs=1,
        error_score=np.nan,
    )
    with _timer(context.device) as timer:
        search.fit(X_train, y_train)
    # fit_seconds is the refit of the chosen parameters, comparable with an
    # untuned fit; tune_seconds is the whole search, refit included.
    result.fit_seconds = float(search.refit_time_)
    result.tune_seconds = timer.seconds
    result.best_params = {key: _plain(value) for key, value in search.best_params_.items()}
    return search.best_estimator_


def _score(
    result: FoldResult, estimator: Any, X_test: np.ndarray, y_test: np.ndarray, config: BenchConfig
) -> None:
    from sklearn.metrics import accuracy_score, f1_score

    with _timer(config.device) as timer:
        predicted = estimator.predict(X_test)
    result.predict_seconds = timer.seconds
    result.f1_weighted = float(f1_score(y_test, predicted, average="weighted"))
    result.accuracy = float(accuracy_score(y_test, predicted))
    result.roc_auc = _roc_auc(estimator, X_test, y_test)
    result.latency_seconds = single_row_latency(estimator, X_test, config.latency_calls)


def _roc_auc(estimator: Any, X_test: np.ndarray, y_test: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y_test)) < 2:
        return float("nan")  # undefined on a fold with one class
    probabilities = estimator.predict_proba(X_test)
    if probabilities.shape[1] == 2:
        return float(roc_auc_score(y_test, probabilities[:, 1]))
    return float(
        roc_auc_score(
            y_test,
            probabilities,
            multi_class="ovr",
            average="weighted",
            labels=np.arange(probabilities.shape[1]),
        )
    )


def single_row_latency(estimator: Any, X: np.ndarray, calls: int) -> float:
    """Return the median seconds of ``predict`` on one row, over ``calls`` rows of ``X``.

    The first call is a warm-up and is not timed. The median ignores the rare
    call that a garbage collection or a busy shared core slows down.
    """
    estimator.predict(X[:1])
    seconds = []
    for index in range(calls):
        row = X[index % len(X)][None, :]  # (1, features)
        start = time.perf_counter()
        estimator.predict(row)
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds))


class _timer:
    """``mltk_core.timing.Timer`` on an accelerator, else a plain clock that needs no torch."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.seconds = 0.0

    def __enter__(self) -> _timer:
        if self.device != "cpu":
            from mltk_core.timing import Timer

            self._inner = Timer(self.device).__enter__()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.device != "cpu":
            self._inner.__exit__(*exc_info)
            self.seconds = self._inner.seconds
        else:
            self.seconds = time.perf_counter() - self._start


def _plain(value: Any) -> Any:
    """Convert NumPy scalars to Python ones, so that best parameters serialise as JSON."""
    return value.item() if isinstance(value, np.generic) else value
