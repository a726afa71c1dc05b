"""LinearBoost: boosting over the SEFR linear classifier, as scikit-learn estimators.

Importing the package loads NumPy and scikit-learn only; torch loads when an
estimator is fitted on a torch device.
"""

from mltk_linearboost.linearboost import LinearBoostClassifier
from mltk_linearboost.sefr import SEFRClassifier

__all__ = ["LinearBoostClassifier", "SEFRClassifier"]
