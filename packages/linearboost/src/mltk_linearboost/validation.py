"""Input checks for the LinearBoost estimator, with errors that name the bad column.

Errors are ``mltk_core.errors.UserInputError``, a ``ValueError``, so that
scikit-learn code catches them as usual and the CLI reports them as invalid input.
"""

from __future__ import annotations

import numpy as np
from mltk_core.errors import UserInputError
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import validate_data


def check_features(estimator, X, *, reset: bool) -> np.ndarray:
    """Validate X as scikit-learn does and return it as a float64 array.

    A pandas DataFrame with non-numeric columns is rejected with their names,
    and NaN or infinity is rejected with the first affected column. Sparse
    matrices are rejected with scikit-learn's TypeError, whose message
    suggests ``.toarray()``, because min-max scaling would make them dense
    anyway.
    """
    _reject_non_numeric_columns(X)
    X = validate_data(estimator, X, dtype=np.float64, ensure_all_finite=False, reset=reset)
    check_finite(estimator, X)
    return X


def check_features_fast(estimator, X) -> np.ndarray:
    """Validate X for prediction, with a fast path for a plain 2-D numeric ndarray.

    The fast path skips scikit-learn's generic validation, which costs tens of
    microseconds and dominates single-row prediction. It applies only to an
    estimator fitted without feature names, so scikit-learn's feature-name
    warnings still come from the full path.
    """
    if (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype.kind in "fiub"
        and not hasattr(estimator, "feature_names_in_")
    ):
        if X.shape[1] != estimator.n_features_in_:
            raise UserInputError(
                f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
                f"{estimator.n_features_in_} features as input."
            )
        X = X.astype(np.float64, copy=False)
        check_finite(estimator, X)
        return X
    return check_features(estimator, X, reset=False)


def check_finite(estimator, X: np.ndarray) -> None:
    """Raise UserInputError naming the first column that contains NaN or infinity."""
    if np.isfinite(X.sum()):
        return  # the sum of finite values overflows only for values near 1e308
    finite = np.isfinite(X)
    if finite.all():
        return

    column = int(np.flatnonzero(~finite.all(0))[0])
    kind = "NaN" if np.isnan(X[:, column]).any() else "infinity"
    names = getattr(estimator, "feature_names_in_", None)
    label = (
        f"column {column} ({names[column]!r})"
        if names is not None and len(names) > column
        else f"column {column}"
    )
    n_bad_columns = int((~finite.all(0)).sum())
    raise UserInputError(
        f"Input X contains {kind} in {label}, one of {n_bad_columns} column(s) with NaN or "
        "infinity; impute or drop those values first, for example with "
        "sklearn.impute.SimpleImputer"
    )


def check_labels(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(classes, labels)``: the sorted classes and each row's class index.

    Mixed string and number labels are rejected as scikit-learn does, and so is
    a single class.
    """
    try:
        check_classification_targets(y)
        unique_labels(y)  # raises on a mix of string and number labels in most layouts
        classes, labels = np.unique(y, return_inverse=True)
    except TypeError as error:  # sorting an object array of str and int
        kinds = sorted({type(label).__name__ for label in np.asarray(y, dtype=object).ravel()})
        raise UserInputError(
            f"Mix of label input types (string and number) in y: found {', '.join(kinds)}; "
            "convert every label to str or every label to a number"
        ) from error
    if len(classes) < 2:
        raise UserInputError(
            f"y has only one class ({classes[0]!r}) among the rows with positive sample weight; "
            "a classifier needs at least two classes"
        )
    return classes, labels


def _reject_non_numeric_columns(X) -> None:
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(X, "columns"):
        return
    bad = [str(name) for name, dtype in dtypes.items() if not _is_numeric(dtype)]
    if bad:
        raise UserInputError(
            f"X has non-numeric column(s) {', '.join(repr(name) for name in bad)}; "
            "encode them as numbers (for example with sklearn.preprocessing.OneHotEncoder) "
            "or drop them"
        )


def _is_numeric(dtype) -> bool:
    kind = getattr(dtype, "kind", "O")
    return kind in "fiub"
