"""LinearBoostClassifier: boosting over the SEFR linear classifier, as a scikit-learn estimator."""

from __future__ import annotations

import numpy as np
from mltk_core.errors import UserInputError
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d

from mltk_linearboost.backend import select_backend
from mltk_linearboost.boosting import ALGORITHM_CHOICES, BoostingConfig, TrainingData, fit_ensemble
from mltk_linearboost.kernels import KERNEL_CHOICES, make_kernel_map
from mltk_linearboost.scaling import SCALER_CHOICES, MinMaxScaling, make_prescaler
from mltk_linearboost.validation import check_features, check_features_fast, check_labels


class LinearBoostClassifier(ClassifierMixin, BaseEstimator):
    """Boosted SEFR classifier for binary and multiclass problems.

    Each round fits SEFR, a linear classifier computed in one pass from weighted
    class means (Keshavarz, Saniee Abadeh and Rawassizadeh, arXiv 2006.04620),
    on features scaled to [0, 1]. See :mod:`mltk_linearboost.boosting` for the
    two boosting algorithms.

    Parameters
    ----------
    n_estimators : int, default=100
        Maximum number of boosting rounds.
    algorithm : {"gradient", "samme"}, default="gradient"
        ``"gradient"``: Newton boosting of the logistic loss, each round a SEFR
        direction cut into ``n_bins`` bins with one step per bin.
        ``"samme"``: discrete AdaBoost, as the reference LinearBoost does.
    learning_rate : float, default=0.1
        Shrinkage of each round's output (``"gradient"``) or vote (``"samme"``).
    n_bins : int, default=8
        Bins per round along the SEFR decision (``"gradient"`` only), from 2 to 256.
    reg_lambda : float, default=1.0
        L2 penalty added to each bin's summed hessian (``"gradient"`` only), in
        units of sample weight.
    subsample : float, default=0.8
        Fraction of the rows, drawn anew each round, that fit the round
        (stochastic gradient boosting). Besides regularising, it varies the SEFR
        direction from round to round, which full-data rounds keep nearly fixed.
    max_features : float, default=0.5
        Fraction of the features, drawn anew each round, that the round's SEFR
        may weigh. The other features get zero weight in that round, and at
        least one feature is drawn. Like ``subsample``, it varies the directions.
    scaler : str, default="minmax"
        One of "minmax", "standard", "robust", "quantile-uniform",
        "quantile-normal" and "power".
        Every choice other than ``"minmax"`` is followed by
        min-max scaling to [0, 1], because SEFR assumes non-negative features.
    class_weight : dict, "balanced" or None, default=None
        Class weights, multiplied into the sample weights.
    kernel_approximation : {None, "rff", "nystroem"}, default=None
        Map the scaled features through random Fourier features or the Nyström
        approximation of an RBF kernel, for non-linear boundaries.
    n_components : int, default=100
        Dimension of the kernel approximation.
    gamma : float or None, default=None
        RBF kernel coefficient; None means 1 / n_features.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows (stratified), stop once the
        validation log-loss has not improved by ``tol`` for ``n_iter_no_change``
        rounds, and keep the rounds up to the best one.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    tol : float, default=1e-4
    random_state : int, RandomState or None, default=None
        Seeds every random draw: subsampling, the validation split, the kernel
        approximation and the quantile scalers.
    device : str or torch.device, default="auto"
        ``"cpu"`` fits with NumPy. ``"cuda"``, ``"cuda:N"`` and ``"mps"`` fit
        with torch on that device, and a ``torch.device`` selects torch on any
        device, the CPU included. ``"auto"`` uses CUDA for large data (at least
        a million feature values) when it is present, NumPy otherwise.
        Prediction always runs with NumPy.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when X has feature names that are all strings.
    n_estimators_ : int
        Rounds in the fitted ensemble, after any early stop.
    validation_loss_ : ndarray
        Validation log-loss after each round, when ``early_stopping`` is set.
    feature_importances_ : ndarray of shape (n_features_in_,)
    ensemble_ : mltk_linearboost.boosting.Ensemble
        The fitted rounds.
    """

    def __init__(
        self,
        n_estimators=100,
        *,
        algorithm="gradient",
        learning_rate=0.1,
        n_bins=8,
        reg_lambda=1.0,
        subsample=0.8,
        max_features=0.5,
        scaler="minmax",
        class_weight=None,
        kernel_approximation=None,
        n_components=100,
        gamma=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        random_state=None,
        device="auto",
    ):
        self.n_estimators = n_estimators
        self.algorithm = algorithm
        self.learning_rate = learning_rate
        self.n_bins = n_bins
        self.reg_lambda = reg_lambda
        self.subsample = subsample
        self.max_features = max_features
        self.scaler = scaler
        self.class_weight = class_weight
        self.kernel_approximation = kernel_approximation
        self.n_components = n_components
        self.gamma = gamma
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags

    # ---- fit -------------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        """Fit the ensemble; a row with zero ``sample_weight`` is the same as no row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric features without NaN or infinity. Sparse matrices are rejected.
        y : array-like of shape (n_samples,)
            Class labels: numbers or strings, not a mix of both.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights.

        Returns
        -------
        self
        """
        self._check_params()
        if y is None:
            raise UserInputError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        X = check_features(self, X, reset=True)
        y = column_or_1d(y, warn=True)
        if y.shape[0] != X.shape[0]:
            raise UserInputError(
                f"y has {y.shape[0]} labels for {X.shape[0]} rows of X; give one label per row"
            )
        weight = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)

        # Drop zero-weight rows before anything else, so that they cannot move the
        # scaling, the classes, the validation split or the random draws.
        kept = weight > 0
        if not kept.any():
            raise UserInputError(
                "sample_weight is zero for every row; at least two classes need positive weight"
            )
        X, y, weight = X[kept], y[kept], weight[kept]
        self.classes_, labels = check_labels(y)
        if self.class_weight is not None:
            weight = weight * compute_sample_weight(self.class_weight, labels)

        rng = check_random_state(self.random_state)
        seeds = rng.randint(np.iinfo(np.int32).max, size=4)
        X = self._fit_transform(X, seeds[0], seeds[1])

        backend = select_backend(self.device, X.size)
        train_rows, validation_rows = self._split(labels, seeds[2])
        onehot = np.eye(len(self.classes_))[labels]

        def to_backend(rows):
            return TrainingData(
                X=backend.asarray(X[rows]),
                labels=backend.asarray(labels[rows], dtype=np.int64),
                onehot=backend.asarray(onehot[rows]),
                weight=backend.asarray(weight[rows]),
            )

        validation = None if validation_rows is None else to_backend(validation_rows)
        self.ensemble_ = fit_ensemble(
            backend,
            to_backend(train_rows),
            self._config(),
            len(self.classes_),
            np.random.default_rng(seeds[3]),
            validation,
        )
        self.n_estimators_ = self.ensemble_.n_rounds
        if self.early_stopping:
            self.validation_loss_ = np.asarray(self.ensemble_.validation_loss)
        return self

    def _check_params(self):
        checks = [
            (
                isinstance(self.n_estimators, (int, np.integer)) and self.n_estimators >= 1,
                "n_estimators",
                "an integer >= 1",
            ),
            (
                self.algorithm in ALGORITHM_CHOICES,
                "algorithm",
                f"one of {', '.join(ALGORITHM_CHOICES)}",
            ),
            (
                _is_number(self.learning_rate) and self.learning_rate > 0,
                "learning_rate",
                "a number > 0",
            ),
            (
                isinstance(self.n_bins, (int, np.integer)) and 2 <= self.n_bins <= 256,
                "n_bins",
                "an integer from 2 to 256",
            ),
            (_is_number(self.reg_lambda) and self.reg_lambda >= 0, "reg_lambda", "a number >= 0"),
            (
                _is_number(self.subsample) and 0 < self.subsample <= 1,
                "subsample",
                "a number in (0, 1]",
            ),
            (
                _is_number(self.max_features) and 0 < self.max_features <= 1,
                "max_features",
                "a number in (0, 1]",
            ),
            (self.scaler in SCALER_CHOICES, "scaler", f"one of {', '.join(SCALER_CHOICES)}"),
            (
                self.kernel_approximation is None or self.kernel_approximation in KERNEL_CHOICES,
                "kernel_approximation",
                f"None or one of {', '.join(KERNEL_CHOICES)}",
            ),
            (
                isinstance(self.n_components, (int, np.integer)) and self.n_components >= 1,
                "n_components",
                "an integer >= 1",
            ),
            (
                self.gamma is None or (_is_number(self.gamma) and self.gamma > 0),
                "gamma",
                "None or a number > 0",
            ),
            (
                _is_number(self.validation_fraction) and 0 < self.validation_fraction < 1,
                "validation_fraction",
                "a number in (0, 1)",
            ),
            (
                isinstance(self.n_iter_no_change, (int, np.integer)) and self.n_iter_no_change >= 1,
                "n_iter_no_change",
                "an integer >= 1",
            ),
            (_is_number(self.tol) and self.tol >= 0, "tol", "a number >= 0"),
        ]
        for valid, name, expected in checks:
            if not valid:
                raise UserInputError(f"invalid {name}={getattr(self, name)!r}: expected {expected}")

    def _config(self) -> BoostingConfig:
        return BoostingConfig(
            algorithm=self.algorithm,
            n_estimators=int(self.n_estimators),
            learning_rate=float(self.learning_rate),
            n_bins=int(self.n_bins),
            reg_lambda=float(self.reg_lambda),
            subsample=float(self.subsample),
            max_features=float(self.max_features),
            n_iter_no_change=int(self.n_iter_no_change),
            tol=float(self.tol),
        )

    def _fit_transform(self, X, scaler_seed, kernel_seed):
        # Fitted steps: optional prescaler, min-max, optional kernel map, min-max again.
        self.prescaler_ = make_prescaler(self.scaler, X.shape[0], scaler_seed)
        if self.prescaler_ is not None:
            X = self.prescaler_.fit_transform(X)
        self.scaling_ = MinMaxScaling(X)
        X = self.scaling_.transform(X)

        self.kernel_map_ = None
        if self.kernel_approximation is not None:
            n_components = self.n_components
            if self.kernel_approximation == "nystroem":
                n_components = min(n_components, X.shape[0])  # Nyström samples that many rows
            self.kernel_map_ = make_kernel_map(
                self.kernel_approximation, n_components, self.gamma, X.shape[1], kernel_seed
            )
            X = self.kernel_map_.fit_transform(X)
            self.kernel_scaling_ = MinMaxScaling(X)
            X = self.kernel_scaling_.transform(X)
        return X

    def _split(self, labels, seed):
        rows = np.arange(labels.shape[0])
        if not self.early_stopping:
            return rows, None
        try:
            train_rows, validation_rows = train_test_split(
                rows, test_size=self.validation_fraction, stratify=labels, random_state=seed
            )
        except ValueError:
            # Too few rows of some class to stratify: split without stratification.
            train_rows, validation_rows = train_test_split(
                rows, test_size=self.validation_fraction, random_state=seed
            )
        if len(np.unique(labels[train_rows])) < len(self.classes_):
            raise UserInputError(
                f"early_stopping with validation_fraction={self.validation_fraction} leaves a "
                "class without training rows; lower validation_fraction or turn early_stopping off"
            )
        return np.sort(train_rows), np.sort(validation_rows)

    # ---- predict ---------------------------------------------------------

    def _transform(self, X):
        X = check_features_fast(self, X)
        if self.prescaler_ is not None:
            X = self.prescaler_.transform(X)
        X = self.scaling_.transform(X)
        if self.kernel_map_ is not None:
            X = self.kernel_scaling_.transform(self.kernel_map_.transform(X))
        return X

    def decision_function(self, X):
        """Return the decision: log-odds of ``classes_[1]`` for a binary problem
        (shape (n_samples,)), one score per class otherwise.

        For ``algorithm="samme"`` it is the weighted vote, normalised by the sum
        of the round weights.
        """
        check_is_fitted(self)
        decision = self.ensemble_.decision(self._transform(X))
        return decision[:, 0] if decision.shape[1] == 1 else decision

    def predict_proba(self, X):
        """Return class probabilities, shape (n_samples, n_classes), rows summing to 1."""
        check_is_fitted(self)
        return self.ensemble_.probabilities(self.ensemble_.decision(self._transform(X)))

    def predict(self, X):
        """Return the class with the highest probability."""
        check_is_fitted(self)
        decision = self.ensemble_.decision(self._transform(X))
        return self.classes_[self._decision_to_index(decision)]

    def staged_decision_function(self, X):
        """Yield the decision after each round."""
        check_is_fitted(self)
        for decision in self.ensemble_.staged_decision(self._transform(X)):
            yield decision[:, 0] if decision.shape[1] == 1 else decision

    def staged_predict_proba(self, X):
        """Yield the class probabilities after each round."""
        check_is_fitted(self)
        for decision in self.ensemble_.staged_decision(self._transform(X)):
            yield self.ensemble_.probabilities(decision)

    def staged_predict(self, X):
        """Yield the predicted classes after each round."""
        check_is_fitted(self)
        for decision in self.ensemble_.staged_decision(self._transform(X)):
            yield self.classes_[self._decision_to_index(decision)]

    @staticmethod
    def _decision_to_index(decision):
        # The tie rule of argmax over predict_proba: a zero log-odds gives classes_[0].
        if decision.shape[1] == 1:
            return (decision[:, 0] > 0).astype(np.int64)
        return decision.argmax(1)

    @property
    def feature_importances_(self):
        """Importance of each input feature, summing to 1 (all zeros if every weight is zero).

        The sum over rounds of each feature's absolute SEFR weight, times the
        round's influence: its vote weight (``"samme"``) or the spread of its
        bin values (``"gradient"``). Features are on the same [0, 1] scale, so
        the weights are comparable.
        """
        check_is_fitted(self)
        if self.kernel_map_ is not None:
            raise AttributeError(
                "feature_importances_ is not defined with kernel_approximation, because the "
                "rounds weigh kernel components, not input features"
            )
        return self.ensemble_.feature_importances()


def _is_number(value) -> bool:
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and np.isfinite(value)
    )
