"""The torch path of LinearBoostClassifier agrees with the NumPy path.

The torch backend runs here on the CPU device; the same code runs on CUDA.
"""

import numpy as np
import pytest
from sklearn.datasets import make_classification

torch = pytest.importorskip("torch")

from mltk_linearboost import LinearBoostClassifier  # noqa: E402
from mltk_linearboost.backend import NumpyBackend, TorchBackend, select_backend  # noqa: E402


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(500, 10, n_informative=5, n_classes=3, random_state=0)
    return X[:350], y[:350], X[350:]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"subsample": 1.0},
        {"algorithm": "samme"},
        {"early_stopping": True},
        {"kernel_approximation": "rff", "n_components": 20, "n_estimators": 20},
    ],
)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_torch_cpu_matches_numpy(params, n_classes, data):
    X, y, X_test = data
    y = y if n_classes == 3 else (y > 0).astype(int)
    params = {"n_estimators": 40, **params}  # torch operations on a busy CPU are slow
    cpu = LinearBoostClassifier(device="cpu", random_state=0, **params).fit(X, y)
    on_torch = LinearBoostClassifier(device=torch.device("cpu"), random_state=0, **params).fit(X, y)
    assert on_torch.n_estimators_ == cpu.n_estimators_
    # SAMME compounds rounding through its exponential reweighting: agreement to about 1e-7.
    np.testing.assert_allclose(
        on_torch.decision_function(X_test), cpu.decision_function(X_test), rtol=1e-6, atol=1e-6
    )


def test_backend_selection():
    assert isinstance(select_backend("cpu", 10), NumpyBackend)
    assert isinstance(select_backend("auto", 10), NumpyBackend)
    assert isinstance(select_backend(torch.device("cpu"), 10), TorchBackend)


def test_fitted_model_holds_numpy(data):
    X, y, _ = data
    model = LinearBoostClassifier(device=torch.device("cpu"), n_estimators=5, random_state=0).fit(
        X, y
    )
    assert isinstance(model.ensemble_.coef, np.ndarray)
    assert isinstance(model.ensemble_.values, np.ndarray)
