"""MLPRegressor: sklearn's multi-layer perceptron regressor, trained by chainrule."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from chainrule.sklearn.base import FLOAT_DTYPES, SPARSE_FORMATS, BaseMLP, output_values
from chainrule.sklearn.params import store


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor with scikit-learn's API, trained by chainrule.

    Minimizes sklearn's half squared error ``1/2 · mean (ŷ - y)²`` (identity output) or,
    with ``loss="poisson"``, the half Poisson deviance with an exp output, plus
    ``alpha/2 · Σ‖W‖² / n_samples``. ``y`` may have several columns (multi-output).

    Takes every parameter of :class:`chainrule.sklearn.MLPClassifier` (sklearn's names and
    defaults, and chainrule's ``init``, ``l1``, ``dropout``, ``weight_decay``, ``dtype``,
    ``schedule``, ``compile``), plus ``loss`` ("squared_error" or "poisson"), first as in sklearn.

    Attributes (after fit): as the classifier's, without ``classes_``.
    """

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        init=None,
        l1=0.0,
        dropout=0.0,
        weight_decay=0.0,
        dtype=None,
        schedule=None,
        compile=True,
    ):
        store(self, locals())

    def _output_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=SPARSE_FORMATS,
            multi_output=True,
            y_numeric=True,
            dtype=FLOAT_DTYPES,
            reset=reset,
        )
        X = self._as_fit_dtype(X, reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError(
                "Some value(s) of y are negative which is not allowed for Poisson regression."
            )
        targets = y.reshape(len(y), -1).astype(self._dtype)
        return X, y, targets

    @available_if(BaseMLP._check_solver)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y) with the stochastic solver, continuing from the current
        weights and optimizer state."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predicted values: shape (n_samples,), or (n_samples, n_outputs) when the
        model was fit on several target columns; in the estimator's dtype."""
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        logits = self._forward(X, check_input)
        y_pred = output_values(logits, self.out_activation_)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight, r2_score)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
