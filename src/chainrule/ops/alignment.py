"""Lining operands up: the one place binary ops cast and broadcast their inputs.

Binary ops broadcast *explicitly*: an operand that requires grad and is smaller than the
result goes through ``broadcast_to``, whose VJP (``sum_to``) is the single place that sums
gradients back to an input's shape. Constants are left to NumPy's own broadcasting, since
no gradient flows into them. Two float dtypes promote, and the lower one is cast with
``astype``, so every gradient keeps its input's dtype.
"""

from __future__ import annotations

from chainrule.ops.cast import astype
from chainrule.ops.operands import binary_lift, broadcast_shape, constant, result_dtype
from chainrule.ops.shape import broadcast_to
from chainrule.tensor import Tensor


def align(name, *tensors, shape=None):
    """Cast and broadcast ``tensors`` to a common dtype and shape (explicit broadcasting)."""
    dtype = result_dtype(*(t.data.dtype for t in tensors))
    if shape is None:
        shape = broadcast_shape(name, *(t.data.shape for t in tensors))
    return [conform(t, dtype, shape) for t in tensors]


def conform(t, dtype, shape=None):
    """Cast ``t`` to ``dtype`` and, if it requires grad, broadcast it to ``shape``."""
    if t.data.dtype != dtype:
        t = astype(t, dtype) if t.requires_grad else Tensor(t.data.astype(dtype))
    if shape is not None and t.requires_grad and t.data.shape != shape:
        t = broadcast_to(t, shape)
    return t


def binary_operands(name, x, y):
    """Lift ``x`` and ``y`` to Tensors and align them when shapes or dtypes differ."""
    # the commonest mixed case first: a float Tensor with a Python float (``y * 0.9``)
    if type(y) is float and type(x) is Tensor and x.data.dtype.kind == "f":
        return x, constant(y, x.data.dtype)
    if type(x) is float and type(y) is Tensor and y.data.dtype.kind == "f":
        return constant(x, y.data.dtype), y
    x, y = binary_lift(x, y)
    xd, yd = x.data, y.data
    if xd.dtype == yd.dtype and (
        (yd.ndim == 0 and not y.requires_grad) or (xd.ndim == 0 and not x.requires_grad)
    ):
        return x, y  # a constant scalar broadcasts for free and takes no gradient
    if x.data.shape != y.data.shape or x.data.dtype != y.data.dtype:
        x, y = align(name, x, y)
    return x, y
