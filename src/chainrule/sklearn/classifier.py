"""MLPClassifier: sklearn's multi-layer perceptron classifier, trained by chainrule."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from chainrule import ops
from chainrule.sklearn.base import FLOAT_DTYPES, SPARSE_FORMATS, BaseMLP, output_values
from chainrule.sklearn.params import store
from chainrule.tensor import Tensor


def _first_partial_fit_call(clf, classes) -> bool:
    """sklearn's rule: ``classes`` is required on the first ``partial_fit`` call and must
    not change afterwards. Returns True on the first call (and sets ``classes_``)."""
    if getattr(clf, "classes_", None) is None and classes is None:
        raise ValueError("classes must be passed on the first call to partial_fit.")
    if classes is not None:
        if getattr(clf, "classes_", None) is not None:
            if not np.array_equal(clf.classes_, unique_labels(classes)):
                raise ValueError(
                    f"`classes={classes!r}` is not the same as on last call "
                    f"to partial_fit, was: {clf.classes_!r}"
                )
        else:
            clf.classes_ = unique_labels(classes)
            return True
    return False


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier with scikit-learn's API, trained by chainrule.

    Minimizes sklearn's log-loss (softmax + cross-entropy for multiclass, sigmoid +
    binary cross-entropy per output for binary and multi-label ``y``) plus
    ``alpha/2 · Σ‖W‖² / n_samples``, with Adam, SGD (``cr.optim``, driven by
    ``cr.train.fit``) or L-BFGS (scipy, with chainrule's gradient).

    Parameters with sklearn's names mean what they mean in
    ``sklearn.neural_network.MLPClassifier`` and have its defaults: ``hidden_layer_sizes``,
    ``activation`` ("identity", "logistic", "tanh", "relu"; chainrule also takes
    "leaky_relu", "elu", "gelu"), ``solver``, ``alpha``, ``batch_size``,
    ``learning_rate``, ``learning_rate_init``, ``power_t``, ``max_iter``, ``shuffle``,
    ``random_state``, ``tol``, ``verbose``, ``warm_start``, ``momentum``,
    ``nesterovs_momentum``, ``early_stopping``, ``validation_fraction``, ``beta_1``,
    ``beta_2``, ``epsilon``, ``n_iter_no_change``, ``max_fun``.

    chainrule's additions:
        init: None (sklearn's Glorot-uniform draw from ``random_state``: the same
            initial weights sklearn would start from), a ``cr.nn.MLP`` init name
            ("he", "xavier", "orthogonal", ...) or a callable ``init(linear, act)``.
        l1: L1 penalty ``l1 · Σ|W| / n_samples`` (scaled like ``alpha``), default 0.
        dropout: dropout probability after each hidden activation, default 0.
        weight_decay: the optimizer's (coupled, all parameters) weight decay, default 0.
        dtype: None (default: the training data's, as in sklearn: float32 data is
            fitted in float32, anything else in float64), "float32" (faster, half
            the memory) or "float64": the dtype of the weights and of every training
            computation; the data is converted to it.
        schedule: None, "cosine" (from ``learning_rate_init`` to 0 over ``max_iter``
            epochs) or a callable ``epoch -> factor`` multiplying ``learning_rate_init``.
        compile: True (default): adam/sgd capture the training step once per batch shape
            and replay it (``cr.compile``: the same numbers bit for bit, without the
            engine's per-op overhead), with or without ``sample_weight``; False: every
            step runs eagerly. Fits on sparse ``X`` always run eagerly.

    Attributes (after fit): ``classes_``, ``n_features_in_``, ``feature_names_in_``,
    ``loss_``, ``loss_curve_``, ``best_loss_``, ``validation_scores_``,
    ``best_validation_score_``, ``n_iter_``, ``t_``, ``coefs_``, ``intercepts_``
    (``coefs_[i]`` has shape (fan_in, fan_out)), ``n_layers_``, ``n_outputs_``,
    ``out_activation_``.
    """

    def __init__(
        self,
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
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=SPARSE_FORMATS,
            multi_output=True,
            dtype=FLOAT_DTYPES,
            reset=reset,
        )
        X = self._as_fit_dtype(X, reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        # sklearn's matrix of cases: a fresh fit (re)defines classes_, a warm start must
        # see the same classes, partial_fit only classes it was told about
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same "
                        "classes as in the previous call to fit. Previously "
                        f"got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {classes}."
                )
        onehot = self._label_binarizer.transform(y)
        if self._output_activation() == "softmax":
            targets = onehot.argmax(axis=1).astype(np.int64)  # class indices
        else:
            targets = onehot.astype(self._dtype)  # (n, 1) binary or (n, k) multi-label
        return X, y, targets

    @available_if(BaseMLP._check_solver)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y) with the stochastic solver, continuing from the
        current weights and optimizer state. ``classes`` (all labels that will ever
        appear) is required on the first call."""
        if _first_partial_fit_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predicted class labels, shape (n_samples,) (or (n_samples, n_classes) 0/1
        indicators for a multi-label fit)."""
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        logits = self._forward(X, check_input)
        y_pred = output_values(logits, self.out_activation_)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight, accuracy_score)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_``
        order; float64 unless both the input and the weights are float32."""
        check_is_fitted(self)
        logits = self._forward(X)
        if self.n_outputs_ == 1:
            # [σ(-z), σ(z)] rather than sklearn's [1 - p, p]: no cancellation in 1 - p
            z = Tensor(logits.ravel())
            return np.vstack([ops.sigmoid(-z).data, ops.sigmoid(z).data]).T
        return output_values(logits, self.out_activation_)

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``, sklearn's definition (−inf where a probability
        underflows to 0)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
