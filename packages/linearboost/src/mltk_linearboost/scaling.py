"""Feature scaling before SEFR.

SEFR divides by the sum of two class means, so it assumes non-negative
features. Every choice therefore ends with a min-max scaling to [0, 1] fitted on
the training rows. The choices other than "minmax" reshape the features first.
"""

from __future__ import annotations

import numpy as np

SCALER_CHOICES = ("minmax", "standard", "robust", "quantile-uniform", "quantile-normal", "power")


def make_prescaler(name: str, n_samples: int, random_state: int):
    """Return the unfitted scikit-learn transformer that runs before min-max, or None.

    ``random_state`` seeds the subsampling of the quantile transformers.
    """
    from sklearn import preprocessing

    if name == "minmax":
        return None
    if name == "standard":
        return preprocessing.StandardScaler()
    if name == "robust":
        return preprocessing.RobustScaler()
    if name in ("quantile-uniform", "quantile-normal"):
        return preprocessing.QuantileTransformer(
            n_quantiles=min(1000, n_samples),
            output_distribution=name.removeprefix("quantile-"),
            random_state=random_state,
        )
    if name == "power":
        return preprocessing.PowerTransformer(standardize=True)
    raise ValueError(f"invalid scaler {name!r}: expected one of {', '.join(SCALER_CHOICES)}")


class MinMaxScaling:
    """Min-max scaling to [0, 1], as two arrays so that transforming one row is cheap.

    A constant feature gets a range of 1, so it scales to 0 and SEFR gives it a
    zero weight. Rows outside the training range scale outside [0, 1]; SEFR's
    linear score extrapolates there.
    """

    def __init__(self, X: np.ndarray):
        self.data_min = X.min(0)
        data_range = X.max(0) - self.data_min
        self.data_range = np.where(data_range > 0, data_range, 1.0)

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (X - self.data_min) / self.data_range
