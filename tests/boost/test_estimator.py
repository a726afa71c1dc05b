"""LinearBoostClassifier: predictions, boosting behaviour, parameters and bad input."""

import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
from mltk_core.errors import UserInputError
from mltk_linearboost import LinearBoostClassifier
from mltk_linearboost.scaling import SCALER_CHOICES
from sklearn.base import clone
from sklearn.datasets import make_circles, make_classification
from sklearn.metrics import log_loss


@pytest.fixture(scope="module")
def binary():
    X, y = make_classification(400, 8, n_informative=4, random_state=0)
    return X[:300], y[:300], X[300:], y[300:]


@pytest.fixture(scope="module")
def multiclass():
    X, y = make_classification(450, 8, n_informative=5, n_classes=3, random_state=1)
    return X[:300], y[:300], X[300:], y[300:]


ALGORITHMS = ["gradient", "samme"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("data", ["binary", "multiclass"])
def test_proba_agrees_with_predict(algorithm, data, request):
    X, y, X_test, _ = request.getfixturevalue(data)
    model = LinearBoostClassifier(algorithm=algorithm, random_state=0).fit(X, y)
    proba = model.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(model.classes_[proba.argmax(1)], model.predict(X_test))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_decision_sign_agrees_with_predict(algorithm, binary):
    X, y, X_test, _ = binary
    model = LinearBoostClassifier(algorithm=algorithm, random_state=0).fit(X, y)
    decision = model.decision_function(X_test)
    assert decision.shape == (len(X_test),)
    np.testing.assert_array_equal(model.predict(X_test), (decision > 0).astype(int))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_staged_outputs_end_at_final(algorithm, multiclass):
    X, y, X_test, _ = multiclass
    model = LinearBoostClassifier(algorithm=algorithm, n_estimators=30, random_state=0).fit(X, y)
    staged_proba = list(model.staged_predict_proba(X_test))
    staged_predict = list(model.staged_predict(X_test))
    staged_decision = list(model.staged_decision_function(X_test))
    assert len(staged_proba) == model.n_estimators_
    assert len(staged_predict) == model.n_estimators_
    np.testing.assert_allclose(staged_proba[-1], model.predict_proba(X_test), rtol=1e-10)
    np.testing.assert_array_equal(staged_predict[-1], model.predict(X_test))
    np.testing.assert_allclose(staged_decision[-1], model.decision_function(X_test), rtol=1e-10)


@pytest.mark.parametrize("data", ["binary", "multiclass"])
def test_gradient_training_loss_falls(data, request):
    X, y, _, _ = request.getfixturevalue(data)
    model = LinearBoostClassifier(n_estimators=60, subsample=1.0, random_state=0).fit(X, y)
    losses = [log_loss(y, proba) for proba in model.staged_predict_proba(X)]
    assert np.all(np.diff(losses) <= 1e-12)
    assert losses[-1] < 0.8 * losses[0]


def test_rounds_improve_test_accuracy():
    # Two concentric circles: one round cuts along a single direction, many rounds close the ring.
    X, y = make_circles(600, noise=0.1, factor=0.5, random_state=0)
    model = LinearBoostClassifier(n_estimators=100, random_state=0).fit(X[:400], y[:400])
    accuracy = [np.mean(p == y[400:]) for p in model.staged_predict(X[400:])]
    assert accuracy[0] < 0.8
    assert accuracy[-1] > 0.95


def test_multiclass_accuracy(multiclass):
    X, y, X_test, y_test = multiclass
    model = LinearBoostClassifier(random_state=0).fit(X, y)
    assert model.score(X_test, y_test) > 0.7


def test_samme_multiclass_accuracy(multiclass):
    X, y, X_test, y_test = multiclass
    model = LinearBoostClassifier(algorithm="samme", random_state=0).fit(X, y)
    assert model.score(X_test, y_test) > 0.6


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_early_stopping_trims_to_best(algorithm, binary):
    X, y, _, _ = binary
    model = LinearBoostClassifier(
        algorithm=algorithm,
        n_estimators=500,
        learning_rate=0.5,
        early_stopping=True,
        n_iter_no_change=5,
        random_state=0,
    ).fit(X, y)
    losses = model.validation_loss_
    assert len(losses) < 500
    assert model.n_estimators_ == int(np.argmin(losses)) + 1


@pytest.mark.parametrize(
    "params",
    [
        {"subsample": 0.5},
        {"early_stopping": True},
        {"kernel_approximation": "rff"},
        {"kernel_approximation": "nystroem"},
        {"scaler": "quantile-normal"},
    ],
)
def test_random_state_reproducible(params, binary):
    X, y, X_test, _ = binary
    first = LinearBoostClassifier(random_state=7, **params).fit(X, y).predict_proba(X_test)
    second = LinearBoostClassifier(random_state=7, **params).fit(X, y).predict_proba(X_test)
    other = LinearBoostClassifier(random_state=8, **params).fit(X, y).predict_proba(X_test)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("params", [{}, {"algorithm": "samme"}, {"early_stopping": True}])
def test_zero_weight_removes_row(params, binary):
    X, y, X_test, _ = binary
    weight = np.ones(len(y))
    dropped = [0, 5, int(np.argmax(X[:, 0]))]  # the maximum would move the min-max scaling
    weight[dropped] = 0.0
    kept = weight > 0
    full = LinearBoostClassifier(random_state=3, **params).fit(X, y, sample_weight=weight)
    removed = LinearBoostClassifier(random_state=3, **params).fit(X[kept], y[kept])
    np.testing.assert_allclose(
        full.predict_proba(X_test), removed.predict_proba(X_test), rtol=1e-10
    )


def test_integer_weight_repeats_row(binary):
    X, y, X_test, _ = binary
    counts = np.arange(len(y)) % 3
    weighted = LinearBoostClassifier(subsample=1.0, random_state=0).fit(X, y, sample_weight=counts)
    repeated = LinearBoostClassifier(subsample=1.0, random_state=0).fit(
        X.repeat(counts, 0), y.repeat(counts)
    )
    np.testing.assert_allclose(
        weighted.predict_proba(X_test), repeated.predict_proba(X_test), rtol=1e-8
    )


def test_max_features_limits_each_round(binary):
    X, y, _, _ = binary
    model = LinearBoostClassifier(max_features=0.25, n_estimators=10, random_state=0).fit(X, y)
    used_per_round = (model.ensemble_.coef[:, :, 0] != 0).sum(1)
    assert used_per_round.max() <= 2  # 25% of 8 features


def test_class_weight_favours_class():
    X, y = make_classification(300, 5, weights=[0.8, 0.2], flip_y=0.1, random_state=2)
    plain = LinearBoostClassifier(random_state=0).fit(X, y)
    weighted = LinearBoostClassifier(class_weight={0: 1.0, 1: 5.0}, random_state=0).fit(X, y)
    assert np.mean(weighted.predict(X) == 1) > np.mean(plain.predict(X) == 1)


@pytest.mark.parametrize("scaler", SCALER_CHOICES)
def test_scaler_choices_fit(scaler):
    X, y = make_classification(400, 8, n_informative=4, class_sep=1.5, random_state=5)
    model = LinearBoostClassifier(scaler=scaler, random_state=0).fit(X[:300], y[:300])
    assert model.score(X[300:], y[300:]) > 0.85


@pytest.mark.parametrize("kernel", ["rff", "nystroem"])
def test_kernel_approximation_bends_boundary(kernel):
    X, y = make_circles(600, noise=0.1, factor=0.5, random_state=1)
    model = LinearBoostClassifier(
        kernel_approximation=kernel, n_components=50, n_estimators=20, random_state=0
    ).fit(X[:400], y[:400])
    assert model.score(X[400:], y[400:]) > 0.9


def test_kernel_hides_feature_importances(binary):
    X, y, _, _ = binary
    model = LinearBoostClassifier(kernel_approximation="rff", n_components=10, n_estimators=5).fit(
        X, y
    )
    assert not hasattr(model, "feature_importances_")


def test_feature_importances_rank_signal():
    rng = np.random.default_rng(0)
    signal = rng.normal(size=(400, 2))
    X = np.column_stack([signal, rng.normal(size=(400, 4))])
    y = (signal[:, 0] + signal[:, 1] > 0).astype(int)
    importances = LinearBoostClassifier(random_state=0).fit(X, y).feature_importances_
    assert importances.shape == (6,)
    assert importances.sum() == pytest.approx(1.0)
    assert importances[:2].min() > importances[2:].max()


def test_dataframe_feature_names(binary):
    X, y, X_test, _ = binary
    columns = [f"f{i}" for i in range(X.shape[1])]
    model = LinearBoostClassifier(random_state=0).fit(pd.DataFrame(X, columns=columns), y)
    np.testing.assert_array_equal(model.feature_names_in_, columns)
    assert model.n_features_in_ == X.shape[1]
    with pytest.warns(UserWarning, match="feature names"):
        model.predict(X_test)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_pickle_round_trip(algorithm, binary):
    X, y, X_test, _ = binary
    model = LinearBoostClassifier(algorithm=algorithm, random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(X_test), model.predict_proba(X_test))


def test_clone_keeps_params():
    model = LinearBoostClassifier(n_estimators=7, scaler="robust", device="cpu", random_state=4)
    assert clone(model).get_params() == model.get_params()


def test_single_row_predict(binary):
    X, y, X_test, _ = binary
    model = LinearBoostClassifier(random_state=0).fit(X, y)
    np.testing.assert_array_equal(model.predict(X_test[:1]), model.predict(X_test)[:1])


def test_large_predict_chunks_match(binary):
    X, y, _, _ = binary
    model = LinearBoostClassifier(random_state=0).fit(X, y)
    X_large = np.tile(X, (20, 1))  # 6,000 rows: more than one prediction chunk
    np.testing.assert_allclose(
        model.decision_function(X_large)[: len(X)], model.decision_function(X), rtol=1e-12
    )


def test_import_leaves_torch_unloaded(binary):
    code = (
        "import sys, numpy as np; from mltk_linearboost import LinearBoostClassifier; "
        "X = np.random.default_rng(0).random((50, 3)); y = np.arange(50) % 2; "
        "LinearBoostClassifier(n_estimators=3).fit(X, y).predict(X); "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


# ---- bad input ---------------------------------------------------------


def test_nan_error_names_column():
    X = pd.DataFrame({"age": [1.0, 2.0, 3.0, 4.0], "bmi": [1.0, np.nan, 2.0, 3.0]})
    with pytest.raises(UserInputError, match=r"NaN in column 1 \('bmi'\)"):
        LinearBoostClassifier().fit(X, [0, 1, 0, 1])


def test_inf_error_names_column(binary):
    X, y, X_test, _ = binary
    model = LinearBoostClassifier(n_estimators=3).fit(X, y)
    X_bad = X_test.copy()
    X_bad[2, 4] = np.inf
    with pytest.raises(UserInputError, match="infinity in column 4"):
        model.predict(X_bad)


def test_single_class_rejected():
    with pytest.raises(UserInputError, match="only one class"):
        LinearBoostClassifier().fit(np.eye(4), [1, 1, 1, 1])


def test_single_class_after_zero_weight_rejected():
    with pytest.raises(UserInputError, match="only one class"):
        LinearBoostClassifier().fit(np.eye(4), [0, 1, 0, 1], sample_weight=[1, 0, 1, 0])


def test_string_labels_work(binary):
    X, y, X_test, _ = binary
    labels = np.where(y == 1, "sick", "healthy")
    model = LinearBoostClassifier(random_state=0).fit(X, labels)
    assert set(model.predict(X_test)) <= {"sick", "healthy"}
    assert list(model.classes_) == ["healthy", "sick"]


def test_mixed_labels_rejected():
    with pytest.raises(ValueError, match="Mix of label input types"):
        LinearBoostClassifier().fit(np.eye(4), np.array(["a", 1, "b", 2], dtype=object))


def test_non_numeric_columns_named():
    X = pd.DataFrame({"age": [1, 2, 3, 4], "sex": ["m", "f", "m", "f"], "town": list("abcd")})
    with pytest.raises(UserInputError, match="'sex', 'town'"):
        LinearBoostClassifier().fit(X, [0, 1, 0, 1])


def test_constant_and_negative_features_work():
    rng = np.random.default_rng(0)
    signal = rng.normal(size=200)
    X = np.column_stack([np.full(200, 5.0), -np.abs(signal) - 10, signal])
    y = (signal > 0).astype(int)
    model = LinearBoostClassifier(random_state=0).fit(X, y)
    assert model.score(X, y) > 0.95
    assert model.feature_importances_[0] == 0.0


def test_sparse_rejected(binary):
    X, y, _, _ = binary
    with pytest.raises(TypeError, match="toarray"):
        LinearBoostClassifier().fit(scipy.sparse.csr_matrix(X), y)


def test_wrong_feature_count_rejected(binary):
    X, y, X_test, _ = binary
    model = LinearBoostClassifier(n_estimators=3).fit(X, y)
    with pytest.raises(
        ValueError, match="X has 7 features, but LinearBoostClassifier is expecting 8"
    ):
        model.predict(X_test[:, :7])


def test_negative_weight_rejected(binary):
    X, y, _, _ = binary
    weight = np.ones(len(y))
    weight[0] = -1.0
    with pytest.raises(ValueError, match="Negative values in data passed to"):
        LinearBoostClassifier().fit(X, y, sample_weight=weight)


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("n_estimators", 0),
        ("algorithm", "SAMME.R"),
        ("learning_rate", -1.0),
        ("n_bins", 1),
        ("subsample", 1.5),
        ("scaler", "log"),
        ("kernel_approximation", "poly"),
        ("validation_fraction", 1.0),
    ],
)
def test_invalid_param_named(param, value, binary):
    X, y, _, _ = binary
    with pytest.raises(UserInputError, match=f"invalid {param}="):
        LinearBoostClassifier(**{param: value}).fit(X, y)


def test_unavailable_device_rejected(binary):
    X, y, _, _ = binary
    with pytest.raises(UserInputError, match="not available|invalid device"):
        LinearBoostClassifier(device="cuda:7").fit(X, y)
