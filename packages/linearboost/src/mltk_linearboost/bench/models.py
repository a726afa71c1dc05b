"""The models the benchmark compares, each at its library's defaults.

Three settings differ from a library's defaults, and none of them changes the
model. Logging is silenced. The thread count is the same for every library
(``threads``, 1 by default). The seed is set where the library takes one.
Logistic regression runs after a ``StandardScaler``, because lbfgs does not
converge on unscaled features within its default 100 iterations.

Each entry also carries a random-search space for ``--tune N``.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mltk_core.errors import UserInputError

OURS = "linearboost"


@dataclass(frozen=True)
class ModelContext:
    """Settings shared by every model of a run.

    ``device`` is the resolved device ("cpu", "cuda:0"): XGBoost and CatBoost
    run on CUDA when it is CUDA. ``device_request`` is the ``--device`` value
    as given, which LinearBoost resolves itself, so that "auto" keeps small
    data on NumPy.
    """

    random_state: int = 0
    threads: int = 1
    device: str = "cpu"
    device_request: str = "cpu"


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: how to build the estimator and where to search when tuning."""

    name: str
    description: str
    distribution: str
    build: Callable[[ModelContext], Any] = field(repr=False, compare=False)
    search_space: Callable[[], dict[str, Any]] = field(repr=False, compare=False)

    def version(self) -> str | None:
        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return None

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "description": self.description,
            "distribution": self.distribution,
            "version": self.version(),
        }


def get_model(name: str) -> ModelSpec:
    if name not in MODELS:
        raise UserInputError(f"unknown model {name!r}; registered models: {', '.join(MODELS)}")
    return MODELS[name]


def build_model(name: str, context: ModelContext) -> Any:
    """Build an unfitted estimator of the named model."""
    return get_model(name).build(context)


# Builders.


def _build_linearboost(context: ModelContext) -> Any:
    from mltk_linearboost import LinearBoostClassifier

    # The estimator resolves "auto" itself: CUDA for large data, NumPy otherwise.
    return LinearBoostClassifier(random_state=context.random_state, device=context.device_request)


def _build_linearboost_upstream(context: ModelContext) -> Any:
    # linearboost 0.2.0 takes no random_state and no thread count: it runs
    # NumPy on the threads that threadpoolctl leaves it (see runner.limit_threads).
    from linearboost import LinearBoostClassifier

    return LinearBoostClassifier()


def _build_xgboost(context: ModelContext) -> Any:
    from xgboost import XGBClassifier

    device = "cuda" if context.device.startswith("cuda") else "cpu"
    return XGBClassifier(
        n_jobs=context.threads, random_state=context.random_state, verbosity=0, device=device
    )


def _build_lightgbm(context: ModelContext) -> Any:
    from lightgbm import LGBMClassifier

    return LGBMClassifier(n_jobs=context.threads, random_state=context.random_state, verbose=-1)


def _build_catboost(context: ModelContext) -> Any:
    from catboost import CatBoostClassifier

    options: dict[str, Any] = {}
    if context.device.startswith("cuda"):
        options = {
            "task_type": "GPU",
            "devices": context.device.removeprefix("cuda").lstrip(":") or "0",
        }
    return CatBoostClassifier(
        thread_count=context.threads,
        random_seed=context.random_state,
        verbose=False,
        allow_writing_files=False,
        **options,
    )


def _build_logreg(context: ModelContext) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(random_state=context.random_state))


def _build_adaboost(context: ModelContext) -> Any:
    from sklearn.ensemble import AdaBoostClassifier

    return AdaBoostClassifier(random_state=context.random_state)


# Search spaces for --tune, as scipy distributions or lists; sampled by
# sklearn.model_selection.RandomizedSearchCV.


def _space_boosting() -> dict[str, Any]:
    from scipy.stats import loguniform, randint

    return {"n_estimators": randint(20, 500), "learning_rate": loguniform(0.01, 1.0)}


def _space_linearboost() -> dict[str, Any]:
    from scipy.stats import loguniform, randint, uniform

    return {
        "n_estimators": randint(20, 500),
        "learning_rate": loguniform(0.01, 1.0),
        "subsample": uniform(0.5, 0.5),
        "reg_lambda": loguniform(0.01, 10.0),
        "scaler": ["minmax", "standard", "robust", "quantile-uniform", "quantile-normal"],
    }


def _space_linearboost_upstream() -> dict[str, Any]:
    space = _space_boosting()
    space["scaler"] = ["minmax", "standard", "robust", "quantile-uniform", "quantile-normal"]
    return space


def _space_trees() -> dict[str, Any]:
    from scipy.stats import randint

    space = _space_boosting()
    space["max_depth"] = randint(2, 10)
    return space


def _space_catboost() -> dict[str, Any]:
    from scipy.stats import loguniform, randint

    return {
        "iterations": randint(100, 1000),
        "learning_rate": loguniform(0.01, 0.3),
        "depth": randint(3, 9),
    }


def _space_logreg() -> dict[str, Any]:
    from scipy.stats import loguniform

    return {"logisticregression__C": loguniform(1e-3, 1e3)}


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            OURS,
            "LinearBoostClassifier of this project (boosted SEFR)",
            "mltk-linearboost",
            _build_linearboost,
            _space_linearboost,
        ),
        ModelSpec(
            "linearboost-upstream",
            "LinearBoostClassifier of the PyPI package linearboost (reference implementation)",
            "linearboost",
            _build_linearboost_upstream,
            _space_linearboost_upstream,
        ),
        ModelSpec("xgboost", "XGBClassifier", "xgboost-cpu", _build_xgboost, _space_trees),
        ModelSpec("lightgbm", "LGBMClassifier", "lightgbm", _build_lightgbm, _space_trees),
        ModelSpec("catboost", "CatBoostClassifier", "catboost", _build_catboost, _space_catboost),
        ModelSpec(
            "logreg",
            "StandardScaler then scikit-learn LogisticRegression",
            "scikit-learn",
            _build_logreg,
            _space_logreg,
        ),
        ModelSpec(
            "adaboost",
            "scikit-learn AdaBoostClassifier (depth-1 trees)",
            "scikit-learn",
            _build_adaboost,
            _space_boosting,
        ),
    )
}
