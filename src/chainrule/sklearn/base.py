"""What MLPClassifier and MLPRegressor share: fitting, the forward pass, fitted
attributes, pickling and ``save``/``load``.

The network is a ``cr.nn.MLP`` (kept in ``_model``); stochastic solvers train it with
``cr.train.fit`` and a ``cr.optim`` optimizer (``_optimizer``, kept between
``partial_fit`` calls as sklearn keeps its own), with sklearn's stopping and
learning-rate rules in one callback (:mod:`chainrule.sklearn.convergence`).

sklearn's layout of the weights, ``coefs_[i]`` of shape (fan_in, fan_out), is a live
view of the MLP's Linear weights, which are stored (fan_out, fan_in) as in PyTorch:
``coefs_[i] is model.linears[i].weight.data.T`` — reading or writing one reads or
writes the other.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import warnings

import numpy as np
from sklearn.base import BaseEstimator, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from chainrule import backend, nn, ops, optim
from chainrule.data import DataLoader
from chainrule.nn.mlp import MLP
from chainrule.sklearn import lbfgs, persistence
from chainrule.sklearn.convergence import SklearnAdamEpsilon, SklearnConvergence, SklearnL2
from chainrule.sklearn.objective import make_loss, pack_targets
from chainrule.sklearn.params import (
    ACTIVATIONS,
    STOCHASTIC_SOLVERS,
    check_params,
    hidden_sizes,
)
from chainrule.sklearn.shuffling import SklearnShuffle
from chainrule.sklearn.sparse_input import (
    SparseFirstLayer,
    is_sparse,
    predict_sparse,
    rows_dataset,
)
from chainrule.tensor import Tensor
from chainrule.train import fit as train_fit
from chainrule.train import predict as train_predict

# what validate_data keeps as is; anything else becomes float64 (sklearn's rule)
FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
# the sparse formats sklearn's MLP accepts (CSC is converted to CSR once, for row slicing)
SPARSE_FORMATS = ("csr", "csc")


@contextlib.contextmanager
def seeded(seed: int):
    """Run with chainrule's global generator seeded from ``random_state`` (dropout, the
    non-default initializers), and give the caller's generator back afterwards."""
    saved = backend.get_rng_state()
    backend.manual_seed(seed)
    try:
        yield
    finally:
        backend.set_rng_state(saved)


def check_sample_weight(sample_weight, X):
    """sample_weight as a 1-D array of len(X) in X's dtype (a scalar means all equal)."""
    n = X.shape[0]
    if sample_weight is None:
        return None
    if np.isscalar(sample_weight):
        return np.full(n, sample_weight, dtype=X.dtype)
    sw = check_array(sample_weight, ensure_2d=False, dtype=X.dtype, input_name="sample_weight")
    if sw.ndim != 1:
        raise ValueError(f"Sample weights must be 1D array or scalar, got {sw.ndim}D array.")
    if sw.shape != (n,):
        raise ValueError(f"sample_weight.shape == {sw.shape}, expected {(n,)}!")
    if np.all(sw == 0):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    if np.any(sw < 0):
        raise ValueError("Negative values in data passed to `sample_weight`")
    return sw


class BaseMLP(BaseEstimator):
    """Shared machinery; subclasses define ``__init__``, the target encoding
    (``_validate_input``), ``_predict`` and ``_score``."""

    # ---- fitted state ---------------------------------------------------------------
    def __sklearn_is_fitted__(self):
        return hasattr(self, "_model")

    @property
    def _dtype(self):
        """The dtype of the weights and of every training computation: ``dtype`` when
        given, else the training data's (float32 stays float32, the rest is float64),
        fixed by the first fit (a warm start or ``partial_fit`` keeps it)."""
        return self._fit_dtype

    def _as_fit_dtype(self, X, reset):
        """``X`` in the training dtype, which a (re)initializing fit first decides."""
        if reset or not hasattr(self, "_fit_dtype"):
            self._fit_dtype = np.dtype(self.dtype) if self.dtype is not None else X.dtype
        if X.dtype == self._fit_dtype:
            return X
        converted = X.astype(self._fit_dtype)
        values = converted.data if is_sparse(converted) else converted
        if not np.isfinite(values).all():  # X itself is finite (validate_data checked)
            raise ValueError(
                f"{type(self).__name__}: X has values beyond the range of "
                f"{self._fit_dtype} (largest {np.finfo(self._fit_dtype).max:.3g}); "
                "fit with dtype=None or 'float64', or scale the data"
            )
        return converted

    @property
    def coefs_(self):
        """Weight matrices, ``coefs_[i]`` of shape (fan_in, fan_out): views of the model's."""
        if not hasattr(self, "_model"):
            raise AttributeError(f"{type(self).__name__} has no attribute 'coefs_' (not fitted)")
        return [lin.weight.data.T for lin in self._model.linears]

    @coefs_.setter
    def coefs_(self, values):
        check_is_fitted(self)
        for lin, value in zip(self._model.linears, values, strict=True):
            lin.weight.data[...] = np.asarray(value).T

    @property
    def intercepts_(self):
        """Bias vectors, ``intercepts_[i]`` of shape (fan_out,): the model's own arrays."""
        if not hasattr(self, "_model"):
            raise AttributeError(
                f"{type(self).__name__} has no attribute 'intercepts_' (not fitted)"
            )
        return [lin.bias.data for lin in self._model.linears]

    @intercepts_.setter
    def intercepts_(self, values):
        check_is_fitted(self)
        for lin, value in zip(self._model.linears, values, strict=True):
            lin.bias.data[...] = np.asarray(value)

    # ---- building ---------------------------------------------------------------------
    def _build_model(self, layer_units):
        """A fresh ``cr.nn.MLP`` (no initialization drawn yet when ``init`` is None)."""
        return MLP(
            layer_units,
            activation=ACTIVATIONS[self.activation],
            init=self.init if self.init is not None else "zeros",
            dropout=self.dropout,
            dtype=self._dtype,
        )

    def _initialize(self, n_outputs, layer_units, random_state):
        """sklearn's ``_initialize``: architecture, output activation, initial weights and
        the bookkeeping of the stochastic solvers."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_activation()
        seed = random_state.randint(np.iinfo(np.int32).max) if self.init is not None else 0
        with seeded(seed):
            self._model = self._build_model(layer_units)
        if self.init is None:
            # sklearn's Glorot-uniform draw, in sklearn's order, from the same
            # random_state: a given random_state starts from sklearn's very weights
            factor = 2.0 if self.activation == "logistic" else 6.0
            pairs = itertools.pairwise(layer_units)
            for lin, (fan_in, fan_out) in zip(self._model.linears, pairs, strict=True):
                bound = np.sqrt(factor / (fan_in + fan_out))
                coef = random_state.uniform(-bound, bound, (fan_in, fan_out))
                intercept = random_state.uniform(-bound, bound, fan_out)
                lin.weight.data[...] = coef.T
                lin.bias.data[...] = intercept
        self.__dict__.pop("_optimizer", None)
        if self.solver in STOCHASTIC_SOLVERS:
            self._reset_curves()

    def _reset_curves(self):
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _make_optimizer(self):
        # weights and biases in two groups: the weights' weight decay carries alpha's L2
        # gradient (set per batch by SklearnL2) plus chainrule's weight_decay
        params = nn.param_groups(self._model, self.weight_decay)
        if self.solver == "adam":
            return optim.Adam(
                params,
                lr=self.learning_rate_init,
                betas=(self.beta_1, self.beta_2),
                eps=self.epsilon,
            )
        return optim.SGD(
            params,
            lr=self.learning_rate_init,
            momentum=self.momentum,
            nesterov=bool(self.nesterovs_momentum and self.momentum > 0),
        )

    # ---- fitting --------------------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, incremental=False):
        check_params(self)
        first_pass = not hasattr(self, "_model") or (not self.warm_start and not incremental)
        X, y, targets = self._validate_input(X, y, incremental, reset=first_pass)
        if is_sparse(X):
            X = X.tocsr()  # row slices for minibatches and the validation split
        sample_weight = check_sample_weight(sample_weight, X)
        n_outputs = 1 if targets.ndim == 1 else targets.shape[1]
        if self._output_activation() == "softmax":
            n_outputs = len(self.classes_)
        layer_units = [X.shape[1], *hidden_sizes(self.hidden_layer_sizes), n_outputs]
        random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(n_outputs, layer_units, random_state)
        elif [lin.out_features for lin in self._model.linears][-1] != n_outputs:
            raise ValueError(
                f"{type(self).__name__}: y has {n_outputs} outputs but the fitted model "
                f"has {self.n_outputs_}; refit with warm_start=False"
            )

        loss_fn = make_loss(
            self._model,
            self.out_activation_,
            self.alpha,
            self.l1,
            weighted=sample_weight is not None,
            dtype=self._dtype,
            l2_in_graph=self.solver == "lbfgs",
            weight_decay=self.weight_decay,
        )
        if self.solver in STOCHASTIC_SOLVERS:
            self._fit_stochastic(X, y, targets, sample_weight, loss_fn, random_state, incremental)
        else:
            seed = random_state.randint(np.iinfo(np.int32).max)
            with seeded(seed):
                self.loss_, self.n_iter_ = lbfgs.minimize(
                    self._network(X),
                    loss_fn,
                    X,
                    pack_targets(targets, sample_weight, self._dtype),
                    max_iter=self.max_iter,
                    max_fun=self.max_fun,
                    tol=self.tol,
                    verbose=bool(self.verbose),
                )
            self._model.eval()

        if not all(np.isfinite(p.data).all() for p in self._model.parameters()):
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may"
                " contain large values and need to be preprocessed."
            )
        return self

    def _fit_stochastic(self, X, y, targets, sample_weight, loss_fn, random_state, incremental):
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._make_optimizer()
        if not hasattr(self, "loss_curve_"):  # a warm start after solver="lbfgs"
            self._reset_curves()
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")

        validation = None
        train_idx = np.arange(X.shape[0])
        if self.early_stopping:
            # stratified as in sklearn: only single-output (binary) classification, on
            # its 0/1 column as booleans (so its error names the classes 'True'/'False')
            binary = is_classifier(self) and self.n_outputs_ == 1
            stratify = targets.astype(bool) if binary else None
            train_idx, val_idx = train_test_split(
                train_idx,
                random_state=random_state,
                test_size=self.validation_fraction,
                stratify=stratify,
            )
            if len(val_idx) < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset."
                )
            sw_val = None if sample_weight is None else sample_weight[val_idx]
            validation = (X[val_idx], y[val_idx], sw_val)
            self._best_params = [p.data.copy() for p in self._model.parameters()]
            X, targets = X[train_idx], targets[train_idx]
            if sample_weight is not None:
                sample_weight = sample_weight[train_idx]

        n_samples = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than sample size. "
                    "It is going to be clipped",
                    stacklevel=3,
                )
            batch_size = int(np.clip(self.batch_size, 1, n_samples))

        # dropout's seed comes from a copy of random_state: drawing from random_state
        # itself would shift the shuffles below off sklearn's
        seed = copy.deepcopy(random_state).randint(np.iinfo(np.int32).max)
        dataset = rows_dataset(X, pack_targets(targets, sample_weight, self._dtype))
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, rng=seed)
        # SklearnL2 runs even with alpha = weight_decay = 0: an optimizer kept by
        # partial_fit or a warm start must not keep a previous call's decay
        weights = [lin.weight for lin in self._model.linears]
        l2 = SklearnL2(self.alpha, self.weight_decay, sample_weight is not None, weights)
        rules = SklearnConvergence(self, n_samples, validation, incremental, l2)
        callbacks = [rules, l2]
        if self.shuffle:
            callbacks.append(SklearnShuffle(dataset, random_state))
        if self.solver == "adam":
            callbacks.append(SklearnAdamEpsilon(self.epsilon, self.beta_2))
        self.n_iter_ = 0
        try:
            with seeded(seed):
                train_fit(
                    self._network(X),
                    loss_fn,
                    self._optimizer,
                    loader,
                    epochs=1 if incremental else self.max_iter,
                    callbacks=callbacks,
                    # cr.compile replays a step that is a function of its batch
                    # (sample weights included: the loss slices them out with ops); a
                    # sparse batch is not an array it can capture
                    compile=self.compile and not is_sparse(X),
                )
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=3)
        finally:
            self._model.eval()
        if rules.max_iter_reached and not rules.stopped:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and "
                "the optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=3,
            )
        if self.early_stopping:  # restore the best weights
            for p, best in zip(self._model.parameters(), self._best_params, strict=True):
                p.data[...] = best

    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Args:
            X: array-like of shape (n_samples, n_features).
            y: array-like of shape (n_samples,) or (n_samples, n_outputs): class labels
                (a 0/1 indicator matrix for multi-label) or real targets.
            sample_weight: array-like of shape (n_samples,) or None.

        Returns:
            self
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError(
                f"partial_fit is only available for stochastic optimizers. "
                f"{self.solver} is not stochastic."
            )
        return True

    # ---- prediction -----------------------------------------------------------------
    def _forward(self, X, check_input=True):
        """The output layer's values before its activation (logits), shape (n, n_outputs),
        in float64 unless both the input and the weights are float32 (sklearn's rule:
        the product of the two dtypes)."""
        if check_input:
            X = validate_data(
                self, X, accept_sparse=SPARSE_FORMATS, dtype=FLOAT_DTYPES, reset=False
            )
        elif not is_sparse(X):
            X = np.asarray(X)
        out_dtype = np.promote_types(X.dtype, self._dtype)
        if out_dtype not in FLOAT_DTYPES:
            out_dtype = np.dtype(np.float64)
        X = X.tocsr() if is_sparse(X) else X
        X = X.astype(out_dtype, copy=False)
        model = self._model_in(out_dtype)
        if is_sparse(X):
            return predict_sparse(model, X, batch_size=4096)
        return train_predict(model, X, batch_size=4096)

    def _network(self, X):
        """What training calls: the MLP, or for sparse ``X`` the MLP with a sparse first
        product (:mod:`chainrule.sklearn.sparse_input`)."""
        return SparseFirstLayer(self._model) if is_sparse(X) else self._model

    def _model_in(self, dtype):
        """The fitted model with its weights in ``dtype``: float64 input is evaluated in
        float64 even by a float32 model (exact weights, finer arithmetic), as sklearn
        does, so that a row's prediction does not depend on which other rows share its
        batch (BLAS rounds float32 products differently for different row counts)."""
        if dtype == self._dtype:
            return self._model
        model = copy.deepcopy(self._model)
        for p in model.parameters():
            p.data = p.data.astype(dtype)
        return model

    def _score_with_function(self, X, y, sample_weight, score_function):
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)

    # ---- tags -----------------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # CSR/CSC: the first product is sparse
        return tags

    # ---- persistence ------------------------------------------------------------------
    def save(self, path):
        """Write the fitted estimator to ``path`` with ``cr.save``: weights as arrays,
        hyperparameters, classes and fitted attributes as JSON — never pickle."""
        check_is_fitted(self)
        persistence.save_estimator(self, path)

    @classmethod
    def load(cls, path):
        """Read an estimator written by :meth:`save` (the class must match)."""
        return persistence.load_estimator(cls, path)


def output_values(logits, kind):
    """The output activation applied to ``logits`` (sklearn's ``out_activation_``)."""
    z = Tensor(logits)
    if kind == "softmax":
        return ops.softmax(z, axis=1).data
    if kind == "logistic":
        return ops.sigmoid(z).data
    if kind == "exp":
        return ops.exp(z).data
    return logits
