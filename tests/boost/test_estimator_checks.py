"""LinearBoostClassifier against scikit-learn's estimator contract (parametrize_with_checks)."""

from mltk_linearboost import LinearBoostClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

ESTIMATORS = [
    LinearBoostClassifier(device="cpu"),
    LinearBoostClassifier(subsample=1.0, device="cpu"),
    # SAMME as the reference LinearBoost runs it: every row, full votes.
    LinearBoostClassifier(algorithm="samme", subsample=1.0, learning_rate=1.0, device="cpu"),
]


def expected_failed_checks(estimator):
    """Map each check that is known to fail for ``estimator`` to the reason."""
    failures = {}
    if estimator.subsample < 1.0:
        failures["check_sample_weight_equivalence_on_dense_data"] = (
            "subsample draws rows independently each round, so two copies of a row can be "
            "drawn apart while a row of weight 2 is drawn whole; with subsample=1.0 the check "
            "passes, and a zero weight equals removing the row under any subsample"
        )
    if estimator.algorithm == "samme":
        failures["check_class_weight_classifiers"] = (
            "a SAMME round votes with the SEFR threshold, which sits between the two weighted "
            "class mean scores, so a 1e7 ratio of class weights does not push 87% of the "
            "predictions to the heavy class as the check requires"
        )
    return failures


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_contract(estimator, check):
    check(estimator)
