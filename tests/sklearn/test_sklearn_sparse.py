"""Sparse input: SciPy CSR/CSC (matrix and array classes) is fitted and predicted without
densifying it, the first layer's product and weight gradient done sparse, and a sparse
fit is the dense fit to rounding."""

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

import scipy.sparse as scipy_sparse
from sklearn.datasets import make_classification, make_regression

import chainrule as cr
from chainrule.sklearn import MLPClassifier, MLPRegressor
from chainrule.sklearn.sparse_input import SPARSE_LINEAR, SparseFirstLayer, sparse_linear

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CONTAINERS = [
    scipy_sparse.csr_matrix,
    scipy_sparse.csr_array,
    scipy_sparse.csc_matrix,
    scipy_sparse.csc_array,
]


def sparsify(X, rng, density=0.3):
    """X with about (1 - density) of its entries set to 0."""
    return np.where(rng.random(X.shape) < density, X, 0.0)


@pytest.fixture(scope="module")
def classification():
    X, y = make_classification(120, 12, n_informative=6, n_classes=3, random_state=0)
    return sparsify(X, np.random.default_rng(0)), y


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(120, 12, noise=0.1, random_state=0)
    return sparsify(X, np.random.default_rng(1)), y / 100


@pytest.fixture
def no_densifying(monkeypatch):
    """Fail the test if anything turns the sparse data into a dense matrix (the data have
    12 or more columns; sklearn's LabelBinarizer densifies its own 3-column label
    matrix, which is allowed)."""

    def guard(original):
        def densify(self, *args, **kwargs):
            if self.shape[1] >= 12:
                raise AssertionError(f"a sparse {self.shape} matrix was densified")
            return original(self, *args, **kwargs)

        return densify

    for cls in CONTAINERS:
        for name in ("toarray", "todense"):
            monkeypatch.setattr(cls, name, guard(getattr(cls, name)))


def assert_same_fit(a, b, rtol=1e-9, atol=1e-12):
    for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        np.testing.assert_allclose(wa, wb, rtol=rtol, atol=atol)
    assert a.n_iter_ == b.n_iter_


@pytest.mark.parametrize("container", CONTAINERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "params",
    [
        dict(solver="lbfgs", max_iter=30),
        dict(solver="adam", max_iter=15, batch_size=32),
        dict(solver="sgd", max_iter=15, batch_size=32, early_stopping=True),
    ],
    ids=["lbfgs", "adam", "sgd-early-stopping"],
)
def test_sparse_classifier_fit_equals_dense_fit(classification, container, params, no_densifying):
    X, y = classification
    common = dict(hidden_layer_sizes=(10,), random_state=0, **params)
    sparse = MLPClassifier(**common).fit(container(X), y)
    dense = MLPClassifier(**common).fit(X, y)
    assert_same_fit(sparse, dense)
    np.testing.assert_allclose(
        sparse.predict_proba(container(X)), dense.predict_proba(X), rtol=1e-9, atol=1e-12
    )
    np.testing.assert_array_equal(sparse.predict(container(X)), dense.predict(X))


@pytest.mark.parametrize("container", [scipy_sparse.csr_array, scipy_sparse.csc_matrix])
@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_sparse_regressor_with_sample_weight_equals_dense(regression, container, loss):
    X, y = regression
    if loss == "poisson":
        y = np.exp(y)
    sw = np.random.default_rng(2).uniform(0.5, 2.0, len(y))
    common = dict(hidden_layer_sizes=(8,), random_state=0, max_iter=20, batch_size=40, loss=loss)
    sparse = MLPRegressor(**common).fit(container(X), y, sample_weight=sw)
    dense = MLPRegressor(**common).fit(X, y, sample_weight=sw)
    assert_same_fit(sparse, dense)
    np.testing.assert_allclose(sparse.predict(container(X)), dense.predict(X), rtol=1e-9)


def test_partial_fit_and_float32_on_sparse(classification):
    X, y = classification
    Xs = scipy_sparse.csr_matrix(X.astype(np.float32))
    sparse = MLPClassifier(hidden_layer_sizes=(6,), random_state=0)
    dense = MLPClassifier(hidden_layer_sizes=(6,), random_state=0)
    for _ in range(3):
        sparse.partial_fit(Xs, y, classes=np.unique(y))
        dense.partial_fit(X.astype(np.float32), y, classes=np.unique(y))
    assert all(c.dtype == np.float32 for c in sparse.coefs_)
    # float32: a sparse product sums in another order than BLAS
    assert_same_fit(sparse, dense, rtol=2e-4, atol=1e-5)


def test_a_matrix_too_large_to_densify_fits(no_densifying):
    """1,000 rows × 1,000,000 columns would take 8 GB dense (float64); fitted sparse."""
    rng = np.random.default_rng(0)
    n, d = 1_000, 1_000_000
    rows = np.repeat(np.arange(n), 5)
    cols = rng.integers(0, d, rows.size)
    X = scipy_sparse.csr_array((rng.random(rows.size), (rows, cols)), shape=(n, d))
    y = (X[:, : d // 2].sum(axis=1) > X[:, d // 2 :].sum(axis=1)).astype(int)
    est = MLPClassifier(hidden_layer_sizes=(2,), max_iter=2, random_state=0).fit(X, y)
    assert est.coefs_[0].shape == (d, 2)
    assert est.predict(X[:7]).shape == (7,)


def test_the_first_layer_is_one_sparse_node(classification):
    """Training on sparse input records sparse_linear (not linear) as the first node."""
    X, y = classification
    est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=1, random_state=0).fit(X, y)
    out = SparseFirstLayer(est._model)(cr.Tensor(scipy_sparse.csr_matrix(X)))
    first_weight = est._model.linears[0].weight
    consumers, seen, stack = [], set(), [out]
    while stack:
        t = stack.pop()
        if id(t) in seen or t.is_leaf:
            continue
        seen.add(id(t))
        if any(p is first_weight for p in t.parents):
            consumers.append(t.op)
        stack.extend(t.parents)
    assert consumers == [SPARSE_LINEAR]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_linear_gradients_equal_the_dense_layers(dtype):
    rng = np.random.default_rng(3)
    X = sparsify(rng.normal(size=(9, 7)), rng).astype(dtype)
    W0, b0, G = rng.normal(size=(4, 7)), rng.normal(size=4), rng.normal(size=(9, 4))

    def grads(x, op):
        W = cr.tensor(W0.astype(dtype), requires_grad=True)
        b = cr.tensor(b0.astype(dtype), requires_grad=True)
        out = op(x, W, b)
        (out * cr.tensor(G.astype(dtype))).sum().backward()
        return out.data, W.grad.data, b.grad.data

    tol = dict(rtol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    for container in CONTAINERS:
        for ours, dense in zip(
            grads(container(X), sparse_linear), grads(X, cr.ops.linear), strict=True
        ):
            assert ours.dtype == dtype
            np.testing.assert_allclose(ours, dense, **tol)


def test_sparse_linear_refuses_a_width_mismatch():
    W = cr.tensor(np.zeros((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match="sparse_linear: input has 4 features"):
        sparse_linear(scipy_sparse.csr_matrix(np.ones((2, 4))), W, cr.tensor(np.zeros(2)))
