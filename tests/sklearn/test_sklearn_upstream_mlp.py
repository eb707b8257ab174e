"""scikit-learn's own MLP tests, run against chainrule's estimators.

The test functions are those of the module that ships inside the installed scikit-learn
(``sklearn/neural_network/tests/test_mlp.py``), imported, not copied: each included
function runs with that module's ``MLPClassifier``/``MLPRegressor`` names pointing at
chainrule's estimators, and with sklearn's classes in its parameters (``MLPEstimator``,
``Estimator``) replaced by ours. So a new scikit-learn release brings its new tests here
unchanged.

Excluded are only the tests that read or write private attributes, which belong to
sklearn's implementation rather than to the estimators' public behaviour
(:data:`EXCLUDED`); ``test_excluded_tests_are_exactly_the_private_ones`` checks the list
against the functions' source, so an upstream test that starts or stops using a private
attribute moves between the lists by itself failing this module.
"""

import functools
import inspect
import re

import pytest

pytest.importorskip("sklearn")
pytest.importorskip(
    "sklearn.neural_network.tests.test_mlp",
    reason="this scikit-learn installation does not ship its tests directory",
)

from sklearn.neural_network.tests import test_mlp as upstream

from chainrule import sklearn as cr_sklearn
from sklearn import neural_network

SWAP = {
    neural_network.MLPClassifier: cr_sklearn.MLPClassifier,
    neural_network.MLPRegressor: cr_sklearn.MLPRegressor,
}

# name -> why (each reason names the private attributes the test touches)
EXCLUDED = {
    "test_fit": (
        "sets sklearn's private solver state (_coef_grads, _coef_velocity, "
        "_intercept_grads, _intercept_velocity) before partial_fit"
    ),
    "test_gradient": "calls sklearn's private _loss_grad_lbfgs",
    "test_learning_rate_warmstart": "reads sklearn's private _optimizer.learning_rate",
    "test_adaptive_learning_rate": "reads sklearn's private _optimizer.learning_rate",
    "test_n_iter_no_change": "reads the private _no_improvement_count",
    "test_n_iter_no_change_inf": "reads the private _no_improvement_count",
}

PRIVATE_ATTRIBUTE = re.compile(r"\b\w+\.(_[a-z]\w*)")


def _upstream_tests():
    return {
        name: fn
        for name, fn in vars(upstream).items()
        if name.startswith("test_") and inspect.isfunction(fn)
    }


@pytest.fixture
def global_random_seed():
    """sklearn's conftest fixture (not importable from its tests): its default seed."""
    return 42


def _swapped(fn):
    """``fn`` run with chainrule's estimators in the upstream module's namespace and in
    its arguments; same signature and marks (parametrizations) as ``fn``."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        kwargs = {k: SWAP.get(v, v) if isinstance(v, type) else v for k, v in kwargs.items()}
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(upstream, "MLPClassifier", cr_sklearn.MLPClassifier)
            patch.setattr(upstream, "MLPRegressor", cr_sklearn.MLPRegressor)
            fn(*args, **kwargs)

    return run


for _name, _fn in _upstream_tests().items():
    if _name not in EXCLUDED:
        globals()[_name] = _swapped(_fn)


def test_excluded_tests_are_exactly_the_private_ones():
    uses_private = {
        name
        for name, fn in _upstream_tests().items()
        if PRIVATE_ATTRIBUTE.search(inspect.getsource(fn))
    }
    assert uses_private == set(EXCLUDED)


def test_the_swap_reaches_the_upstream_module():
    """A swapped test sees chainrule's estimators, both through the upstream module's
    names and through its class-valued parameters; afterwards sklearn's are back."""
    seen = []

    def probe(MLPEstimator):
        seen.extend([upstream.MLPClassifier, upstream.MLPRegressor, MLPEstimator])

    _swapped(probe)(MLPEstimator=neural_network.MLPRegressor)
    assert seen == [cr_sklearn.MLPClassifier, cr_sklearn.MLPRegressor, cr_sklearn.MLPRegressor]
    assert upstream.MLPClassifier is neural_network.MLPClassifier


def test_every_other_upstream_test_is_collected_here():
    here = {
        n for n, fn in globals().items() if n.startswith("test_") and hasattr(fn, "__wrapped__")
    }
    assert here == set(_upstream_tests()) - set(EXCLUDED)
    assert all(globals()[name].__wrapped__ is getattr(upstream, name) for name in here)
