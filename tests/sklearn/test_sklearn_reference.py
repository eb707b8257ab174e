"""chainrule.sklearn against scikit-learn's own MLP, in float64.

Both start from the same weights (chainrule draws sklearn's Glorot-uniform init from the
same random_state, in the same order) and see the same minibatches (sklearn's shuffle,
from the same random_state, or none with ``shuffle=False``), so training must follow
sklearn's trajectory to rounding, epoch by epoch: the loss definitions, the L2 scaling,
the optimizers, the stopping and learning-rate rules are all compared.
"""

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_iris, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from chainrule.sklearn import MLPClassifier, MLPRegressor
from sklearn import neural_network as sk

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(120, 5, n_targets=2, noise=0.1, random_state=0)
    return StandardScaler().fit_transform(X), y / 100


def both(ours, theirs, X, y, sample_weight=None, **params):
    a = ours(dtype="float64", random_state=3, **params).fit(X, y, sample_weight=sample_weight)
    b = theirs(random_state=3, **params).fit(X, y, sample_weight=sample_weight)
    return a, b


def assert_same_weights(a, b, rtol=1e-9, atol=1e-12):
    assert len(a.coefs_) == len(b.coefs_)
    for ca, cb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        assert ca.shape == cb.shape
        np.testing.assert_allclose(ca, cb, rtol=rtol, atol=atol)


def test_same_initial_weights(iris):
    X, y = iris
    a, b = both(
        MLPClassifier,
        sk.MLPClassifier,
        X,
        y,
        max_iter=1,
        solver="sgd",
        learning_rate_init=1e-12,
        hidden_layer_sizes=(6, 4),
        activation="logistic",
    )
    assert_same_weights(a, b, rtol=1e-9)


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="sgd", learning_rate_init=0.05, momentum=0.9, nesterovs_momentum=True),
        dict(solver="sgd", learning_rate_init=0.05, momentum=0.5, nesterovs_momentum=False),
        dict(solver="sgd", learning_rate_init=0.5, momentum=0.0, learning_rate="invscaling"),
        dict(solver="sgd", learning_rate_init=0.5, momentum=0.9, learning_rate="invscaling"),
        dict(
            solver="sgd",
            learning_rate_init=0.5,
            momentum=0.8,
            nesterovs_momentum=False,
            learning_rate="invscaling",
            power_t=0.3,
        ),
        dict(solver="sgd", learning_rate_init=0.02, alpha=0.1, batch_size=32),
        dict(solver="sgd", activation="tanh", hidden_layer_sizes=(7, 5), alpha=0.0),
        dict(solver="sgd", activation="identity", batch_size=50),
    ],
)
def test_sgd_multiclass_follows_sklearn_exactly(iris, params):
    X, y = iris
    a, b = both(MLPClassifier, sk.MLPClassifier, X, y, shuffle=False, max_iter=25, **params)
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-10)
    assert_same_weights(a, b)
    assert (a.n_iter_, a.t_) == (b.n_iter_, b.t_)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-10)


@pytest.mark.parametrize("epsilon", [1e-8, 1e-3])
def test_adam_follows_sklearn_exactly(iris, epsilon):
    # cr.optim.Adam puts ε after the bias correction of √v (as torch), sklearn before it;
    # the estimator rescales ε per step so that the steps are sklearn's
    X, y = iris
    a, b = both(
        MLPClassifier,
        sk.MLPClassifier,
        X,
        y,
        shuffle=False,
        max_iter=20,
        batch_size=50,
        epsilon=epsilon,
        beta_2=0.99,
    )
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-10)
    assert_same_weights(a, b, rtol=1e-8, atol=1e-11)


def test_binary_and_multilabel_follow_sklearn(iris):
    X, y = iris
    a, b = both(
        MLPClassifier, sk.MLPClassifier, X, y == 1, solver="sgd", shuffle=False, max_iter=15
    )
    assert a.out_activation_ == b.out_activation_ == "logistic"
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-10)
    Y = np.stack([y == 1, y == 2, y == 0], axis=1).astype(int)
    a, b = both(MLPClassifier, sk.MLPClassifier, X, Y, solver="sgd", shuffle=False, max_iter=15)
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-10)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert a.predict(X).shape == Y.shape


def test_multioutput_regression_follows_sklearn_gradient(regression):
    X, y = regression
    a, b = both(
        MLPRegressor,
        sk.MLPRegressor,
        X,
        y,
        solver="sgd",
        shuffle=False,
        max_iter=15,
        learning_rate_init=0.01,
    )
    assert_same_weights(a, b)
    np.testing.assert_allclose(a.predict(X), b.predict(X), atol=1e-10)
    # sklearn reports the mean over the 2 outputs of what it differentiates as a sum;
    # chainrule reports the sum (without the L2 term: that one is not per output)
    a, b = both(
        MLPRegressor, sk.MLPRegressor, X, y, solver="sgd", shuffle=False, max_iter=3, alpha=0.0
    )
    np.testing.assert_allclose(a.loss_curve_, 2 * np.asarray(b.loss_curve_), rtol=1e-10)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_stopping_rules_follow_sklearn(iris, early_stopping):
    X, y = iris
    params = dict(
        solver="sgd",
        shuffle=False,
        max_iter=300,
        n_iter_no_change=3,
        tol=1e-3,
        learning_rate_init=0.1,
        early_stopping=early_stopping,
    )
    a, b = both(MLPClassifier, sk.MLPClassifier, X, y, **params)
    assert a.n_iter_ == b.n_iter_ < 300
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-9)
    if early_stopping:
        np.testing.assert_allclose(a.validation_scores_, b.validation_scores_)
        assert a.best_validation_score_ == b.best_validation_score_
        assert a.best_loss_ is None and a.validation_scores_ is not None
        assert_same_weights(a, b)  # the best weights were restored, as in sklearn
    else:
        assert a.best_loss_ == pytest.approx(b.best_loss_, rel=1e-9)
        assert a.validation_scores_ is None and a.best_validation_score_ is None


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_adaptive_learning_rate_follows_sklearn(iris, momentum):
    X, y = iris
    params = dict(
        solver="sgd",
        shuffle=False,
        max_iter=80,
        n_iter_no_change=2,
        tol=1e-2,
        learning_rate="adaptive",
        learning_rate_init=0.5,
        momentum=momentum,
    )
    a, b = both(MLPClassifier, sk.MLPClassifier, X, y, **params)
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-9)
    assert a._optimizer.param_groups[0]["lr"] == pytest.approx(b._optimizer.learning_rate)
    assert b._optimizer.learning_rate < 0.5  # the rule did divide the rate


def test_lbfgs_matches_sklearn(iris, regression):
    X, y = iris
    a, b = both(MLPClassifier, sk.MLPClassifier, X, y, solver="lbfgs", max_iter=30)
    assert a.n_iter_ == b.n_iter_
    assert a.loss_ == pytest.approx(b.loss_, rel=1e-8)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-7)
    assert not hasattr(a, "loss_curve_") and not hasattr(b, "loss_curve_")
    Xr, yr = regression
    a, b = both(MLPRegressor, sk.MLPRegressor, Xr, yr[:, 0], solver="lbfgs", max_iter=30)
    assert a.loss_ == pytest.approx(b.loss_, rel=1e-6)


def test_poisson_loss_matches_sklearn(regression):
    X, _ = regression
    y = np.exp(0.3 * X[:, 0] - 0.2 * X[:, 1])
    a, b = both(MLPRegressor, sk.MLPRegressor, X, y, loss="poisson", solver="lbfgs", max_iter=30)
    assert a.out_activation_ == b.out_activation_ == "exp"
    assert a.loss_ == pytest.approx(b.loss_, rel=1e-7)
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-6)


def test_sample_weight_matches_sklearn(iris):
    X, y = iris
    sw = np.random.default_rng(0).uniform(0, 2, len(y))
    a, b = both(
        MLPClassifier,
        sk.MLPClassifier,
        X,
        y,
        sample_weight=sw,
        solver="sgd",
        shuffle=False,
        max_iter=10,
        batch_size=40,
    )
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-10)
    assert_same_weights(a, b)


def test_convergence_warning_when_max_iter_reached(iris):
    X, y = iris
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\) reached"):
        MLPClassifier(max_iter=3, random_state=0).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        MLPClassifier(solver="lbfgs", max_iter=2, random_state=0).fit(X, y)


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="sgd", learning_rate_init=0.05, batch_size=32),
        dict(solver="adam", batch_size=40),
        dict(
            solver="sgd",
            batch_size=20,
            early_stopping=True,
            n_iter_no_change=3,
            learning_rate_init=0.1,
            max_iter=200,
        ),
    ],
)
def test_shuffled_fits_follow_sklearn_exactly(iris, params):
    # the same random_state gives sklearn's minibatch order, not just its initial weights
    X, y = iris
    params = {"max_iter": 25, **params}
    a, b = both(MLPClassifier, sk.MLPClassifier, X, y, shuffle=True, **params)
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-10)
    assert_same_weights(a, b)
    # and partial_fit shuffles as sklearn's does, call after call
    a = MLPClassifier(dtype="float64", random_state=5, batch_size=30)
    b = sk.MLPClassifier(random_state=5, batch_size=30)
    for _ in range(3):
        a.partial_fit(X, y, classes=[0, 1, 2])
        b.partial_fit(X, y, classes=[0, 1, 2])
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-10)
