"""scikit-learn estimators trained by chainrule: ``MLPClassifier`` and ``MLPRegressor``.

Drop-in replacements for ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor``
(same hyperparameter names, defaults, attributes and loss definitions), trained by
chainrule's own path: ``cr.nn.MLP`` + ``cr.optim`` + ``cr.train.fit``, in the
input's dtype as sklearn (float64 unless the data is float32; ``dtype="float32"`` for
speed), on dense or SciPy sparse (CSR/CSC) input. They pass scikit-learn's estimator checks
and its own MLP tests, so they work in ``Pipeline``, ``GridSearchCV`` and
``cross_val_score``::

    from chainrule.sklearn import MLPClassifier
    clf = MLPClassifier(hidden_layer_sizes=(64,), random_state=0).fit(X, y)
    clf.predict_proba(X[:3])

This module needs scikit-learn (``pip install 'chainrule[sklearn]'``); nothing else in
chainrule imports it.
"""

try:
    import sklearn  # noqa: F401  (the whole package is built on its base classes)
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        "chainrule.sklearn needs scikit-learn, which is not installed: "
        "pip install 'chainrule[sklearn]' (or pip install scikit-learn)"
    ) from exc

from chainrule.sklearn.classifier import MLPClassifier
from chainrule.sklearn.regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
