"""Sparse input (SciPy CSR/CSC, ``csr_matrix`` or ``csr_array``) without densifying it.

Only the first layer ever touches the input, so only its product needs to be sparse::

    a_1 = X W_1ᵀ + b_1          X sparse (n, d), W_1 dense (h, d): a dense (n, h)
    ∇W_1 = (Xᵀ G)ᵀ = Gᵀ X       G = ∂J/∂a_1 dense (n, h): a dense (h, d)
    ∇b_1 = 1ᵀ G

Both products are SciPy's sparse-times-dense kernels (O(nnz · h) work, no (n, d) array is
ever built); ``X`` needs no gradient (it is data), so no VJP is defined for it. The layers
after the first see dense activations as usual.

:class:`SparseFirstLayer` runs a ``cr.nn.MLP`` this way on a sparse batch (and as usual on
a dense one); :class:`SparseRows` is the ``ArrayDataset`` whose rows are those of a CSR
matrix, so ``cr.data.DataLoader`` hands out CSR minibatches (one row gather per batch).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from chainrule.autograd.mode import no_grad
from chainrule.autograd.primitive import apply, defprimitive, tensor_function
from chainrule.data import ArrayDataset
from chainrule.nn.module import Module
from chainrule.tensor import Tensor


def is_sparse(x) -> bool:
    """A SciPy sparse matrix or array (``csr_matrix``, ``csr_array``, ...)."""
    return scipy.sparse.issparse(x)


def _forward(w, b, *, x):
    out = np.asarray(x @ w.T)  # sparse @ dense: dense (n, h)
    out += b
    return out


def _first_order(g):
    if isinstance(g, Tensor):  # create_graph=True: SciPy cannot multiply a Tensor
        raise NotImplementedError(
            "sparse_linear: no higher-order gradients (backward with create_graph=True)"
        )
    return g


def _vjp_w(F, g, ans, w, b, *, x):
    # Gᵀ X computed as (Xᵀ G)ᵀ: SciPy multiplies sparse-times-dense, not dense-times-sparse
    return np.ascontiguousarray(np.asarray(x.T @ _first_order(g)).T)


def _vjp_b(F, g, ans, w, b, *, x):
    return _first_order(g).sum(axis=0)


SPARSE_LINEAR = defprimitive(
    "sparse_linear",
    _forward,
    _vjp_w,
    _vjp_b,
    symbol="linear",
    formula="X @ {0}ᵀ + {1}",
    vjp=("{g}ᵀ · X", "Σ_rows {g}"),
    sentence=(
        "sparse linear (X·Wᵀ + b, X a sparse data matrix): W gets the upstream gradient "
        "transposed times X, and b sums its rows"
    ),
    params=(),
)


@tensor_function(SPARSE_LINEAR)
def sparse_linear(x, weight, bias):
    """``x @ weightᵀ + bias`` for a SciPy sparse ``x`` (a static input: no gradient),
    differentiable in ``weight`` and ``bias`` (first order) with ∇W = gᵀ X and
    ∇b = Σ_rows g; the result is a dense Tensor."""
    if x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"sparse_linear: input has {x.shape[1]} features but the weight expects "
            f"{weight.shape[1]}"
        )
    if x.dtype != weight.dtype:
        x = x.astype(weight.dtype)
    return apply(SPARSE_LINEAR, weight, bias, x=x)


class SparseFirstLayer(Module):
    """A ``cr.nn.MLP`` whose first Linear layer takes a sparse batch as a sparse product.

    Holds the MLP itself (``mlp``), so its parameters are the MLP's, in the same order.
    """

    def __init__(self, mlp):
        super().__init__()
        self.mlp = mlp

    def forward(self, x):
        data = x.data if isinstance(x, Tensor) else x
        if not is_sparse(data):
            return self.mlp(x)
        first, *rest = list(self.mlp.layers)
        h = sparse_linear(data, first.weight, first.bias)
        for layer in rest:
            h = layer(h)
        return h


class SparseRows(ArrayDataset):
    """An ``ArrayDataset`` over the rows of a CSR matrix: ``X[index]`` is a CSR batch.

    (``ArrayDataset``'s own constructor would turn the matrix into a NumPy array.)
    """

    def __init__(self, X, y):
        y = np.asarray(y)
        if X.shape[0] != len(y):
            raise ValueError(f"SparseRows: X has {X.shape[0]} rows but y has {len(y)}")
        self.X = X.tocsr()
        self.y = y

    def __len__(self) -> int:
        return self.X.shape[0]


def rows_dataset(X, y) -> ArrayDataset:
    """The dataset the DataLoader reads: sparse rows stay sparse."""
    return SparseRows(X, y) if is_sparse(X) else ArrayDataset(X, y)


def predict_sparse(model, X, batch_size: int = 4096) -> np.ndarray:
    """``cr.train.predict`` for a sparse ``X``: the outputs of ``SparseFirstLayer(model)``
    for consecutive CSR row blocks (eval mode, no graph), as one dense array."""
    network = SparseFirstLayer(model)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            n = X.shape[0]
            outs = [network(Tensor(X[i : i + batch_size])).data for i in range(0, n, batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(outs)
