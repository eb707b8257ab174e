"""Matrix products: ``matmul`` (1-D, 2-D, batched, broadcast) and the fused ``linear``.

For ``ans = x @ y`` the VJPs are the general form of ``∇W f = 2q·xᵀ`` (the gradient of
``f = ‖W x‖²``, where q = W x):
``∇x = g @ yᵀ`` and ``∇y = xᵀ @ g`` (transposes of the last two axes). 1-D operands are
promoted to matrices by explicit reshapes, and batch axes are broadcast by explicit
``broadcast_to``, so the primitive itself only ever sees matching >=2-D operands.
"""

from __future__ import annotations

from chainrule.autograd.primitive import apply, defprimitive, tensor_function
from chainrule.backend import xp
from chainrule.errors import ShapeError
from chainrule.ops.alignment import conform
from chainrule.ops.operands import binary_lift, broadcast_shape, lift, result_dtype
from chainrule.ops.shape import reshape
from chainrule.tensor import Tensor

MATMUL = defprimitive(
    "matmul",
    lambda x, y: x @ y,
    lambda F, g, ans, x, y: g @ y.mT,
    lambda F, g, ans, x, y: x.mT @ g,
    saves=(0, 1),
    symbol="@",
    formula="{0} @ {1}",
    vjp=("{g} · {1}ᵀ", "{0}ᵀ · {g}"),
    sentence="matmul: each side gets the upstream gradient times the other side, transposed",
)


@tensor_function(MATMUL)
def matmul(x, y):
    """Matrix product ``x @ y`` with NumPy's rules for 1-D and batched operands;
    ∇x = g @ yᵀ and ∇y = xᵀ @ g."""
    x, y = binary_lift(x, y)
    x0, y0 = x.shape, y.shape
    if x.ndim == 0 or y.ndim == 0:
        raise ShapeError(f"matmul: {x0} @ {y0}: scalars are not matrices; use *")
    if x.shape[-1] != y.shape[-2 if y.ndim > 1 else 0]:
        raise ShapeError(f"matmul: {x0} @ {y0}: inner dimensions differ")
    if x.ndim == 1:
        x = reshape(x, (1, x.shape[0]))
    if y.ndim == 1:
        y = reshape(y, (y.shape[0], 1))
    if x.dtype != y.dtype or x.shape[:-2] != y.shape[:-2]:
        batch = broadcast_shape("matmul", x.shape[:-2], y.shape[:-2])
        dtype = result_dtype(x.dtype, y.dtype)
        x = conform(x, dtype, batch + x.shape[-2:])
        y = conform(y, dtype, batch + y.shape[-2:])
    out = apply(MATMUL, x, y)
    if len(x0) == 1 or len(y0) == 1:  # drop the axes that 1-D promotion added
        keep_rows = () if len(x0) == 1 else out.shape[-2:-1]
        keep_cols = () if len(y0) == 1 else out.shape[-1:]
        out = reshape(out, out.shape[:-2] + keep_rows + keep_cols)
    return out


def _linear(x, w, b):
    out = x @ w.T
    out += b  # in place: one (batch, out) buffer instead of two
    return out


def _rows(a):
    """Collapse all leading axes: (..., n) -> (N, n)."""
    return a if a.ndim == 2 else a.reshape((-1, a.shape[-1]))


def _linear_vjp_x(F, g, ans, x, w, b):
    return g @ w  # (N, out) @ (out, in): both C-contiguous, no copy


def _linear_vjp_w(F, g, ans, x, w, b):
    # gᵀ x: BLAS reads gᵀ through a transpose flag, so no transposed copy is made
    return _rows(g).T @ _rows(x)


def _linear_vjp_b(F, g, ans, x, w, b):
    # Σ_rows g as the product 1ᵀ g: BLAS's gemv is 2-3x faster than NumPy's reduction
    # over axis 0 at MLP sizes
    g = _rows(g)
    if type(g) is xp.ndarray:
        return _ones(g.shape[0], g.dtype) @ g
    return g.sum(axis=0)  # Tensors (create_graph=True) and other array types


_ONES: dict = {}


def _ones(n, dtype):
    """A shared read-only vector of ``n`` ones (batch sizes repeat from step to step)."""
    key = (n, dtype)
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) > 64:
            _ONES.clear()
        ones = _ONES[key] = xp.ones(n, dtype)
        ones.flags.writeable = False
    return ones


LINEAR = defprimitive(
    "linear",
    _linear,
    _linear_vjp_x,
    _linear_vjp_w,
    _linear_vjp_b,
    saves=(0, 1),
    symbol="linear",
    formula="{0} @ {1}ᵀ + {2}",
    vjp=("{g} · {1}", "{g}ᵀ · {0}", "Σ_rows {g}"),
    sentence="linear (x·Wᵀ + b): the matrix product's rule for x and W, and b sums the rows",
)


@tensor_function(LINEAR)
def linear(x, weight, bias=None):
    """The layer ``a = W h + b`` of an MLP on a batch of rows: ``x @ Wᵀ + b``, with
    ∇x = g W, ∇W = gᵀ x and ∇b = Σ_rows g.

    ``weight`` has shape (out_features, in_features), as in PyTorch. Fused into one node
    (one matmul and one in-place add forward; three products backward) because it is the
    hot path of every MLP. Data that does not require grad is cast to the weight's dtype,
    so float64 NumPy data feeds a float32 model without an upcast.
    """
    x, w = lift(x), lift(weight)
    xd, wd = x.data, w.data
    if wd.ndim != 2 or xd.ndim == 0 or xd.shape[-1] != wd.shape[1]:
        raise ShapeError(f"linear: input {x.shape} does not match weight {w.shape}")
    if xd.dtype != wd.dtype and not x.requires_grad:
        x = Tensor(xd.astype(wd.dtype))
    if bias is None:
        return matmul(x, w.T)
    b = lift(bias)
    bd = b.data
    if bd.shape != (wd.shape[0],):
        raise ShapeError(f"linear: bias {b.shape} does not match weight {w.shape}")
    if not (x.data.dtype == wd.dtype == bd.dtype):
        dtype = result_dtype(x.dtype, w.dtype, b.dtype)
        x, w, b = conform(x, dtype), conform(w, dtype), conform(b, dtype)
    return apply(LINEAR, x, w, b)
