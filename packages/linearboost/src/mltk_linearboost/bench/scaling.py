"""Fit and predict time against the number of rows, on synthetic data.

Each size is one ``make_classification`` draw with 20 features (10
informative, 5 redundant). A model fits on all rows and predicts the same
rows. Sizes run one after another in this process, so no two fits compete
for the cores. A model whose fit took longer than ``time_limit_seconds`` at
one size is not run at the larger sizes, and that is recorded.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

from mltk_linearboost.bench.models import ModelContext, build_model

DEFAULT_ROWS = (1_000, 10_000, 100_000, 1_000_000)
N_FEATURES = 20


@dataclass
class ScalingResult:
    """One model at one size, in seconds. ``error`` gives the reason a time is missing.

    ``fit_cpu_seconds`` is the process's CPU time during the fit, every thread included.
    """

    model: str
    rows: int
    features: int
    fit_seconds: float | None = None
    fit_cpu_seconds: float | None = None
    predict_seconds: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def scaling_rows(max_rows: int) -> list[int]:
    """Return the default sizes up to ``max_rows``, plus ``max_rows`` when it falls between two."""
    rows = [size for size in DEFAULT_ROWS if size <= max_rows]
    if not rows or rows[-1] < max_rows < DEFAULT_ROWS[-1]:
        rows.append(max_rows)
    return rows


def run_scaling(
    models: list[str],
    rows: list[int],
    context: ModelContext,
    time_limit_seconds: float = 600.0,
    on_result: Callable[[ScalingResult], None] | None = None,
) -> list[ScalingResult]:
    """Time every model at every size in ``rows``."""
    from sklearn.datasets import make_classification
    from threadpoolctl import threadpool_limits

    results: list[ScalingResult] = []
    too_slow: dict[str, str] = {}
    for size in rows:
        X, y = make_classification(
            n_samples=size,
            n_features=N_FEATURES,
            n_informative=10,
            n_redundant=5,
            random_state=context.random_state,
        )
        for model in models:
            result = ScalingResult(model=model, rows=size, features=N_FEATURES)
            if model in too_slow:
                result.error = too_slow[model]
            else:
                with threadpool_limits(limits=context.threads):
                    _time_model(result, model, context, X, y)
                if result.fit_seconds is not None and result.fit_seconds > time_limit_seconds:
                    too_slow[model] = (
                        f"not run: the fit on {size} rows took {result.fit_seconds:.0f} s, "
                        f"over the limit of {time_limit_seconds:.0f} s"
                    )
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results


def _time_model(result: ScalingResult, model: str, context: ModelContext, X, y) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            estimator = build_model(model, context)
            cpu_start, start = time.process_time(), time.perf_counter()
            estimator.fit(X, y)
            result.fit_seconds = time.perf_counter() - start
            result.fit_cpu_seconds = time.process_time() - cpu_start

            start = time.perf_counter()
            estimator.predict(X)
            result.predict_seconds = time.perf_counter() - start
        except Exception as error:  # noqa: BLE001 - one failing model must not stop the others
            result.error = f"{type(error).__name__}: {error}"
