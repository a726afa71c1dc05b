"""Boosting over SEFR: the fitting loops and the fitted ensemble.

Two algorithms share one weak learner, a SEFR classifier (:mod:`.sefr`) fitted to
the current sample weights:

``"gradient"``
    Second-order (Newton) gradient boosting of the logistic loss, the scheme of
    LogitBoost (Friedman, Hastie and Tibshirani, "Additive Logistic Regression",
    Annals of Statistics 2000) and of XGBoost. In each round SEFR is fitted to
    the labels with weights ``sample_weight * |y - p|``, the size of each row's
    gradient, and its decision ``z = x . w - b`` is cut at ``n_bins - 1``
    weighted quantiles. Each bin gets the Newton step
    ``sum(gradient) / (sum(hessian) + reg_lambda)`` of the rows in it, times
    ``learning_rate``. The bins make each round a non-linear function of one
    oblique direction, so the ensemble is not a single linear model. With a
    small learning rate the Newton steps lower the training loss round after
    round, where SAMME's reweighted error soon reaches chance. Multiclass
    problems use the softmax loss with one SEFR direction per class and the
    (K - 1) / K step factor of Friedman et al., as scikit-learn's
    GradientBoostingClassifier does. ``subsample`` and ``max_features`` draw
    rows and features per round (Friedman, "Stochastic Gradient Boosting",
    1999), which varies the SEFR direction from round to round.

``"samme"``
    Discrete AdaBoost (SAMME, Zhu, Zou, Rosset and Hastie, "Multi-class AdaBoost",
    2009), as the reference LinearBoost does: each round's SEFR votes for one
    class with weight ``learning_rate * (log((1 - err) / err) + log(K - 1))``,
    and misclassified rows are up-weighted. Multiclass rounds fit one-vs-rest
    SEFR for every class and vote for the class with the highest decision. A
    round no better than chance (err >= 1 - 1/K) ends the boosting.

The loops run on a :mod:`.backend` (NumPy or torch), vectorised over rows,
features and classes, with one Python iteration per round. The fitted
:class:`Ensemble` contains NumPy arrays only, so prediction runs on the CPU and
a fitted model pickles without torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from mltk_linearboost.backend import count_edges_below
from mltk_linearboost.sefr import fit_sefr, side_indicator

ALGORITHM_CHOICES = ("gradient", "samme")

# Rows used to place the bin edges of one round. Above this, the weighted
# quantiles come from a fixed random subset of the rows, as histogram-based
# gradient boosting libraries do, so that a round does not sort every row.
MAX_EDGE_ROWS = 8192

# Relative margin between a bin edge and the nearest training score, far above
# float64 rounding (about 1e-16 relative) and far below score differences that
# matter.
EDGE_MARGIN = 1e-9

# Probabilities are kept this far from 0 and 1 inside the validation loss.
PROBABILITY_FLOOR = 1e-12

# Up to this many rows, prediction finds bins by one broadcast comparison over
# all rounds. Above it, by a count per round (see Ensemble._bin_index).
BROADCAST_BIN_ROWS = 64

# Values of one (rows, rounds, outputs) array per prediction chunk (32 MiB in
# float64), see Ensemble.decision.
PREDICT_CHUNK_VALUES = 1 << 22

# Bounds the SAMME vote of a round with zero weighted error: log((1 - e) / e)
# at e = 1e-10.
SAMME_MIN_ERROR = 1e-10


@dataclass
class BoostingConfig:
    """Parameters of one boosting run, already validated by the estimator."""

    algorithm: str = "gradient"
    n_estimators: int = 100
    learning_rate: float = 0.1
    n_bins: int = 8
    reg_lambda: float = 1.0
    subsample: float = 0.8
    max_features: float = 0.5
    n_iter_no_change: int = 10
    tol: float = 1e-4


@dataclass
class Ensemble:
    """A fitted boosted SEFR ensemble, as NumPy arrays.

    ``n_outputs`` is 1 for a binary problem (the log-odds of the second class)
    and ``n_classes`` otherwise. Round ``m`` computes ``z = x @ coef[m] -
    intercept[m]`` of shape (n_outputs,) on the scaled features.
    """

    algorithm: str
    n_classes: int
    init: np.ndarray  # (n_outputs,) starting decision
    coef: np.ndarray  # (n_rounds, n_features, n_outputs)
    intercept: np.ndarray  # (n_rounds, n_outputs)
    edges: np.ndarray  # (n_rounds, n_outputs, n_bins - 1), "gradient" only
    values: np.ndarray  # (n_rounds, n_outputs, n_bins), learning rate included
    alpha: np.ndarray  # (n_rounds,) SAMME vote weights
    validation_loss: list[float] = field(default_factory=list)

    @property
    def n_rounds(self) -> int:
        return self.coef.shape[0]

    @property
    def n_outputs(self) -> int:
        return self.coef.shape[2]

    def decision(self, X: np.ndarray) -> np.ndarray:
        """Return the decision of the whole ensemble, shape (n_samples, n_outputs).

        Large inputs go through in row chunks, so the per-round intermediate
        arrays stay near ``PREDICT_CHUNK_VALUES`` values.
        """
        chunk_rows = max(
            BROADCAST_BIN_ROWS, PREDICT_CHUNK_VALUES // (self.n_rounds * self.n_outputs)
        )
        if X.shape[0] <= chunk_rows:
            return self._decision(X)
        chunks = [
            self._decision(X[start : start + chunk_rows])
            for start in range(0, X.shape[0], chunk_rows)
        ]
        return np.concatenate(chunks)

    def _decision(self, X: np.ndarray) -> np.ndarray:
        contributions = self.contributions(X)
        if self.algorithm == "samme":
            return contributions.sum(1) / self.alpha.sum()
        return self.init + contributions.sum(1)

    def staged_decision(self, X: np.ndarray):
        """Yield the decision after each round, shape (n_samples, n_outputs)."""
        contributions = self.contributions(X)
        running = (
            np.zeros((X.shape[0], self.n_outputs))
            if self.algorithm == "samme"
            else self.init.copy()
        )
        alpha_total = 0.0
        for round_index in range(self.n_rounds):
            running = running + contributions[:, round_index]
            if self.algorithm == "samme":
                alpha_total += self.alpha[round_index]
                yield running / alpha_total
            else:
                yield running

    @cached_property
    def _flat(self) -> tuple[np.ndarray, ...]:
        # Every round side by side, so that prediction is one matrix product and
        # a few broadcasts: coef (n_features, n_rounds * n_outputs), intercept
        # and value offsets (n_rounds * n_outputs,), values flattened.
        n_rounds, n_features, n_outputs = self.coef.shape
        flat_coef = np.ascontiguousarray(
            self.coef.transpose(1, 0, 2).reshape(n_features, n_rounds * n_outputs)
        )
        offsets = np.arange(n_rounds * n_outputs) * self.values.shape[2]
        return flat_coef, self.intercept.reshape(-1), offsets, self.values.reshape(-1)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Return each round's output, shape (n_samples, n_rounds, n_outputs)."""
        n_rounds, _, n_outputs = self.coef.shape
        flat_coef, flat_intercept, offsets, flat_values = self._flat
        z = X @ flat_coef - flat_intercept  # (n_samples, n_rounds * n_outputs)

        if self.algorithm == "gradient":
            bins = self._bin_index(z.reshape(-1, n_rounds, n_outputs))
            flat_bins = bins.reshape(-1, n_rounds * n_outputs) + offsets
            return flat_values[flat_bins].reshape(-1, n_rounds, n_outputs)

        z = z.reshape(-1, n_rounds, n_outputs)

        if n_outputs == 1:
            return self.alpha[:, None] * np.where(z > 0, 1.0, -1.0)
        votes = z.argmax(2)[..., None] == np.arange(n_outputs)  # (n_samples, n_rounds, n_classes)
        symmetric = np.where(votes, 1.0, -1.0 / (n_outputs - 1))
        return self.alpha[:, None] * symmetric

    def _bin_index(self, z: np.ndarray) -> np.ndarray:
        # Few rows: one broadcast comparison against every edge, which has the
        # least per-call overhead. Many rows: one contiguous count per round,
        # which touches far less memory.
        if z.shape[0] <= BROADCAST_BIN_ROWS:
            return (z[..., None] > self.edges).sum(-1)
        n_samples, n_rounds, n_outputs = z.shape
        per_round_z = np.ascontiguousarray(z.reshape(n_samples, -1).T)  # (rounds * outputs, n)
        per_round_edges = self.edges.reshape(n_rounds * n_outputs, -1)
        bins = np.empty(per_round_z.shape, dtype=np.int64)
        for index in range(per_round_z.shape[0]):
            bins[index] = count_edges_below(per_round_z[index], per_round_edges[index])
        return bins.T.reshape(n_samples, n_rounds, n_outputs)

    def probabilities(self, decision: np.ndarray) -> np.ndarray:
        """Turn a decision into class probabilities, shape (n_samples, n_classes)."""
        if self.algorithm == "samme" and self.n_outputs > 1:
            decision = decision / (self.n_outputs - 1)
        if self.n_outputs == 1:
            positive = 0.5 * (1.0 + np.tanh(decision[:, 0] / 2.0))
            return np.column_stack([1.0 - positive, positive])
        shifted = np.exp(decision - decision.max(1, keepdims=True))
        return shifted / shifted.sum(1, keepdims=True)

    def feature_importances(self) -> np.ndarray:
        """Sum over rounds of |SEFR weight| times the round's output range, normalised to sum 1."""
        if self.algorithm == "samme":
            round_scale = self.alpha[:, None]  # (n_rounds, 1)
        else:
            round_scale = self.values.max(2) - self.values.min(2)  # (n_rounds, n_outputs)
        importance = (np.abs(self.coef) * round_scale[:, None, :]).sum((0, 2))
        total = importance.sum()
        return importance / total if total > 0 else importance


@dataclass
class TrainingData:
    """Scaled features and encoded labels on a backend."""

    X: object  # (n_samples, n_features)
    labels: object  # (n_samples,) class index
    onehot: object  # (n_samples, n_classes)
    weight: object  # (n_samples,)


def fit_ensemble(
    backend, train: TrainingData, config: BoostingConfig, n_classes: int, rng, validation=None
):
    """Run the boosting loop of ``config.algorithm`` and return the fitted :class:`Ensemble`.

    ``rng`` (a NumPy ``Generator``) draws the per-round subsamples and the rows
    for the bin edges, so a fit is reproducible on any backend. With a
    ``validation`` set, boosting stops once the validation log-loss has not
    improved by ``tol`` for ``n_iter_no_change`` rounds, and the ensemble is
    trimmed to the round with the lowest loss.
    """
    loop = _GradientLoop if config.algorithm == "gradient" else _SammeLoop
    state = loop(backend, train, config, n_classes, rng)
    losses: list[float] = []
    best_loss, best_rounds, rounds_since_best = np.inf, 0, 0

    feature_masks = _feature_masks(backend, config, train.X.shape[1], rng)
    for round_index in range(config.n_estimators):
        weight = _subsample_weight(backend, train.weight, config.subsample, rng)
        feature_mask = None if feature_masks is None else feature_masks[round_index]
        rounds_before = state.n_rounds
        finished = state.step(weight, feature_mask)
        if validation is not None and state.n_rounds > rounds_before:
            loss = state.validation_loss(validation)
            losses.append(loss)
            if loss < best_loss - config.tol:
                best_loss, best_rounds, rounds_since_best = loss, state.n_rounds, 0
            else:
                rounds_since_best += 1
            if rounds_since_best >= config.n_iter_no_change:
                break
        if finished:
            break

    ensemble = state.ensemble()
    if validation is not None:
        ensemble = _trim(ensemble, max(best_rounds, 1))
        ensemble.validation_loss = losses
    return ensemble


def _feature_masks(backend, config: BoostingConfig, n_features: int, rng):
    """Draw every round's feature mask at once, shape (n_estimators, n_features), or None.

    Each round gets a fixed count of features, at least one, as scikit-learn's
    ``max_features`` does.
    """
    if config.max_features >= 1.0:
        return None
    n_chosen = max(1, round(config.max_features * n_features))
    ranks = rng.random((config.n_estimators, n_features)).argsort(1).argsort(1)
    return backend.asarray(ranks < n_chosen)


def _subsample_weight(backend, weight, fraction, rng):
    if fraction >= 1.0:
        return weight
    return weight * backend.from_host(rng.random(weight.shape[0]) < fraction)


def _trim(ensemble: Ensemble, n_rounds: int) -> Ensemble:
    return Ensemble(
        algorithm=ensemble.algorithm,
        n_classes=ensemble.n_classes,
        init=ensemble.init,
        coef=ensemble.coef[:n_rounds],
        intercept=ensemble.intercept[:n_rounds],
        edges=ensemble.edges[:n_rounds],
        values=ensemble.values[:n_rounds],
        alpha=ensemble.alpha[:n_rounds],
    )


class _GradientLoop:
    """Newton boosting of the logistic (binary) or softmax (multiclass) loss."""

    def __init__(self, backend, train: TrainingData, config: BoostingConfig, n_classes: int, rng):
        self.backend, self.train, self.config = backend, train, config
        self.n_outputs = 1 if n_classes == 2 else n_classes
        # Targets per output: the second class's indicator, or every class's.
        self.target = train.onehot[:, 1:] if n_classes == 2 else train.onehot
        self.sides = side_indicator(self.target, backend.asarray)
        self.step_factor = 1.0 if n_classes == 2 else (n_classes - 1) / n_classes

        self.init = self._prior_decision()
        self.decision = backend.zeros((train.X.shape[0], self.n_outputs)) + self.init
        self.edge_rows = _edge_rows(train.X.shape[0], rng, backend)
        self.bin_offsets = backend.arange(self.n_outputs) * config.n_bins
        self.levels = backend.asarray(np.arange(1, config.n_bins) / config.n_bins)
        self.validation_decision = None

        # Fitted rounds, filled in place: stacking per-round arrays at the end
        # cost about a fifth of a small fit.
        n_features, n_outputs, n_rounds = train.X.shape[1], self.n_outputs, config.n_estimators
        self.n_rounds = 0
        self.coef = backend.zeros((n_rounds, n_features, n_outputs))
        self.intercept = backend.zeros((n_rounds, n_outputs))
        self.edges = backend.zeros((n_rounds, n_outputs, config.n_bins - 1))
        self.values = backend.zeros((n_rounds, n_outputs, config.n_bins))

    def _prior_decision(self):
        # The loss minimiser of a constant model: the weighted class log-odds.
        weight = self.train.weight
        prior = (self.train.onehot * weight[:, None]).sum(0) / weight.sum()
        log_prior = self.backend.log(self.backend.clip(prior, PROBABILITY_FLOOR, 1.0))
        if self.n_outputs == 1:
            return log_prior[1:] - log_prior[:1]
        return log_prior - log_prior.mean()

    def link(self, decision):
        if self.n_outputs == 1:
            return 0.5 * (1.0 + self.backend.tanh(decision / 2.0))
        return self.backend.softmax(decision)

    def step(self, weight, feature_mask) -> bool:
        backend, config = self.backend, self.config
        probability = self.link(self.decision)
        residual = self.target - probability  # negative gradient, (n_samples, n_outputs)
        hessian = probability * (1.0 - probability)

        # SEFR on the labels, each row weighted by the size of its gradient.
        gradient_weight = weight[:, None] * abs(residual)
        coef, intercept = fit_sefr(
            self.train.X, gradient_weight[:, None, :] * self.sides, feature_mask
        )
        z = backend.project(self.train.X, coef) - intercept

        edges = self._bin_edges(z, weight)  # (n_outputs, n_bins - 1)
        flat_bins = self._flat_bins(z, edges)
        n_cells = self.n_outputs * config.n_bins
        gradient_sum = backend.bincount(
            flat_bins.reshape(-1), (weight[:, None] * residual).reshape(-1), n_cells
        )
        hessian_sum = backend.bincount(
            flat_bins.reshape(-1), (weight[:, None] * hessian).reshape(-1), n_cells
        )
        values = (
            config.learning_rate
            * self.step_factor
            * gradient_sum
            / (hessian_sum + config.reg_lambda)
        )

        self.decision = self.decision + values[flat_bins]
        index = self.n_rounds
        self.coef[index] = coef
        self.intercept[index] = intercept
        self.edges[index] = edges
        self.values[index] = values.reshape(self.n_outputs, config.n_bins)
        self.n_rounds += 1
        return False

    def _bin_edges(self, z, weight):
        # Weighted quantiles of each output's decision at levels 1/n_bins, 2/n_bins, ...
        if self.edge_rows is not None:
            z, weight = z[self.edge_rows], weight[self.edge_rows]
        if self.backend.name == "numpy" and self.n_outputs == 1:
            return bin_edges_1d(z[:, 0], weight, self.levels)[None, :]
        backend = self.backend
        sorted_z, order = backend.sort_columns(z)
        cumulative = backend.cumsum(weight[order])  # (n_rows, n_outputs)
        thresholds = cumulative[-1][:, None] * self.levels  # (n_outputs, n_bins - 1)
        last = z.shape[0] - 1
        position = backend.minimum(backend.count_below(cumulative, thresholds), last)
        columns = backend.arange(self.n_outputs)[:, None]
        quantile = sorted_z[position, columns]  # (n_outputs, n_bins - 1)

        # Cut halfway to the next value larger than the quantile by more than a
        # rounding margin, so that no training row sits near an edge, where a
        # last-bit difference could move it between bins. Identical rows can get
        # scores a few units in the last place apart from the matrix product, and
        # the margin keeps them in one bin, so a row of weight 2 stays equivalent
        # to two copies of the row.
        margin = EDGE_MARGIN * (abs(quantile) + 1.0)
        larger = backend.count_below(sorted_z, quantile + margin, inclusive=True)
        upper = sorted_z[backend.minimum(larger, last), columns]
        return 0.5 * (quantile + backend.maximum(upper, quantile + 2.0 * margin))

    def _flat_bins(self, z, edges):
        bins = self.backend.bin_index(z, edges)  # (n_samples, n_outputs)
        return bins + self.bin_offsets

    def validation_loss(self, validation: TrainingData) -> float:
        last = self.n_rounds - 1
        coef, intercept, edges, values = (
            self.coef[last],
            self.intercept[last],
            self.edges[last],
            self.values[last],
        )
        if self.validation_decision is None:
            self.validation_decision = (
                self.backend.zeros((validation.X.shape[0], self.n_outputs)) + self.init
            )
        z = self.backend.project(validation.X, coef) - intercept
        self.validation_decision = (
            self.validation_decision + values.reshape(-1)[self._flat_bins(z, edges)]
        )
        probability = self.link(self.validation_decision)
        return _log_loss(self.backend, probability, validation, self.n_outputs)

    def ensemble(self) -> Ensemble:
        to_numpy = self.backend.to_numpy
        n_rounds = self.n_rounds
        return Ensemble(
            algorithm="gradient",
            n_classes=self.train.onehot.shape[1],
            init=to_numpy(self.init),
            coef=to_numpy(self.coef[:n_rounds]),
            intercept=to_numpy(self.intercept[:n_rounds]),
            edges=to_numpy(self.edges[:n_rounds]),
            values=to_numpy(self.values[:n_rounds]),
            alpha=np.ones(n_rounds),
        )


class _SammeLoop:
    """Discrete multiclass AdaBoost (SAMME) with a SEFR weak learner."""

    def __init__(self, backend, train: TrainingData, config: BoostingConfig, n_classes: int, rng):
        self.backend, self.train, self.config = backend, train, config
        self.n_classes = n_classes
        self.n_outputs = 1 if n_classes == 2 else n_classes
        self.boost_weight = train.weight / train.weight.sum()
        target = train.onehot[:, 1:] if n_classes == 2 else train.onehot
        self.sides = side_indicator(target, backend.asarray)
        self.rounds: list[tuple] = []
        self.validation_votes = None

    @property
    def n_rounds(self) -> int:
        return len(self.rounds)

    def _predict_class(self, X, coef, intercept):
        z = self.backend.project(X, coef) - intercept
        if self.n_outputs == 1:
            return self.backend.to_index(z[:, 0] > 0)
        return self.backend.argmax(z)

    def step(self, weight, feature_mask) -> bool:
        backend, train = self.backend, self.train
        round_weight = self.boost_weight * (weight > 0)
        round_total = backend.scalar(round_weight.sum())
        if round_total <= 0:
            return False  # the subsample drew no weighted row: skip the round
        coef, intercept = fit_sefr(train.X, round_weight[:, None, None] * self.sides, feature_mask)

        predicted = self._predict_class(train.X, coef, intercept)
        missed = (predicted != train.labels) * 1.0
        error = backend.scalar((round_weight * missed).sum()) / round_total
        chance_error = 1.0 - 1.0 / self.n_classes

        if error >= chance_error and self.rounds:
            return True  # no better than chance: SAMME stops without this round
        error = min(max(error, SAMME_MIN_ERROR), chance_error - SAMME_MIN_ERROR)
        alpha = self.config.learning_rate * float(
            np.log((1.0 - error) / error) + np.log(self.n_classes - 1)
        )
        self.rounds.append((coef, intercept, alpha))

        # Up-weight the missed rows; rows with zero weight stay at zero.
        self.boost_weight = self.boost_weight * backend.exp(alpha * missed)
        self.boost_weight = self.boost_weight / self.boost_weight.sum()
        return error <= SAMME_MIN_ERROR

    def validation_loss(self, validation: TrainingData) -> float:
        coef, intercept, alpha = self.rounds[-1]
        backend = self.backend
        predicted = self._predict_class(validation.X, coef, intercept)
        if self.n_outputs == 1:
            vote = (predicted * 2.0 - 1.0)[:, None]
        else:
            onehot = backend.onehot(predicted, self.n_classes)
            vote = onehot - (1.0 - onehot) / (self.n_classes - 1)
        votes = (
            alpha * vote if self.validation_votes is None else self.validation_votes + alpha * vote
        )
        self.validation_votes = votes
        decision = votes / sum(r[2] for r in self.rounds)
        if self.n_outputs == 1:
            probability = 0.5 * (1.0 + backend.tanh(decision / 2.0))
        else:
            probability = backend.softmax(decision / (self.n_classes - 1))
        return _log_loss(backend, probability, validation, self.n_outputs)

    def ensemble(self) -> Ensemble:
        to_numpy = self.backend.to_numpy
        coef = np.stack([to_numpy(r[0]) for r in self.rounds])
        n_rounds = coef.shape[0]
        return Ensemble(
            algorithm="samme",
            n_classes=self.n_classes,
            init=np.zeros(self.n_outputs),
            coef=coef,
            intercept=np.stack([to_numpy(r[1]) for r in self.rounds]),
            edges=np.zeros((n_rounds, self.n_outputs, 0)),
            values=np.zeros((n_rounds, self.n_outputs, 0)),
            alpha=np.array([r[2] for r in self.rounds], dtype=np.float64),
        )


def bin_edges_1d(z: np.ndarray, weight: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Return the bin edges of one NumPy decision column, as ``_bin_edges`` computes them.

    The same steps on 1-D arrays, which cost about half as much per round as
    the general 2-D form on datasets of a few hundred rows.
    """
    order = np.argsort(z)
    sorted_z = z[order]
    cumulative = np.cumsum(weight[order])
    last = z.shape[0] - 1
    quantile = sorted_z[np.minimum(np.searchsorted(cumulative, cumulative[-1] * levels), last)]

    margin = EDGE_MARGIN * (np.abs(quantile) + 1.0)
    larger = np.searchsorted(sorted_z, quantile + margin, side="right")
    upper = np.maximum(sorted_z[np.minimum(larger, last)], quantile + 2.0 * margin)
    return 0.5 * (quantile + upper)


def _edge_rows(n_samples: int, rng, backend):
    if n_samples <= MAX_EDGE_ROWS:
        return None
    rows = np.sort(rng.choice(n_samples, MAX_EDGE_ROWS, replace=False))
    return backend.asarray(rows, dtype=np.int64)


def _log_loss(backend, probability, validation: TrainingData, n_outputs: int) -> float:
    probability = backend.clip(probability, PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)
    if n_outputs == 1:
        positive = validation.onehot[:, 1:]
        per_row = -(
            positive * backend.log(probability) + (1.0 - positive) * backend.log(1.0 - probability)
        )
    else:
        per_row = -(validation.onehot * backend.log(probability))
    weight = validation.weight
    return backend.scalar((per_row.sum(1) * weight).sum() / weight.sum())
