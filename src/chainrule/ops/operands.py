"""Turning operands into Tensors: lifting numbers and arrays, the dtype of a result,
shapes and axes.

Dtypes follow PyTorch: a float operand fixes the dtype against ints and Python scalars;
two float dtypes promote (:func:`result_dtype`). Lining operands up to that dtype and a
common shape needs the ``astype`` and ``broadcast_to`` primitives, so it lives one step
up, in :mod:`chainrule.ops.alignment`.
"""

from __future__ import annotations

import numbers

from chainrule.backend import xp
from chainrule.errors import ShapeError
from chainrule.tensor import Tensor, _as_array


def lift(x, like=None) -> Tensor:
    """``x`` as a Tensor; a Python number takes the float dtype of ``like`` if it has one."""
    if isinstance(x, Tensor):
        return x
    if like is not None and (type(x) is float or type(x) is int or isinstance(x, numbers.Number)):
        dtype = like.data.dtype
        if dtype.kind in "fc":
            return constant(x, dtype)
    return Tensor(_as_array(x, None))


class _Constant(Tensor):
    """A cached, read-only 0-d Tensor for a Python number used in an op (``y * 0.9``)."""

    __slots__ = ()

    def requires_grad_(self, requires_grad=True):
        if requires_grad:
            raise RuntimeError(
                "requires_grad_: this is a shared constant made from a Python number; "
                "make a parameter with cr.tensor(value, requires_grad=True) instead"
            )
        return self


_CONSTANTS: dict = {}
_MAX_CONSTANTS = 1024


def constant(value, dtype):
    """The number ``value`` as a 0-d Tensor of ``dtype``, shared between ops.

    Scalars such as the 0.9 of ``y * 0.9`` recur in every step; caching them saves an
    array and a Tensor per op. The array is read-only, so sharing is safe. Zero (whose
    sign 0.0 == -0.0 would mix up) and nan (never equal to itself) are not cached.
    """
    key = (value, dtype)
    t = _CONSTANTS.get(key)
    if t is None:
        arr = xp.asarray(value, dtype=dtype)
        if value == 0 or value != value or len(_CONSTANTS) >= _MAX_CONSTANTS:
            return Tensor(arr)
        arr.flags.writeable = False
        t = _CONSTANTS[key] = _Constant(arr)
    return t


def result_dtype(*dtypes):
    """The dtype of a result: floats win over ints/bools, floats promote among themselves."""
    floats = [d for d in dtypes if d.kind in "fc"]
    return xp.result_type(*floats) if floats else xp.result_type(*dtypes)


def broadcast_shape(name, *shapes):
    try:
        return xp.broadcast_shapes(*shapes)
    except ValueError:
        raise ShapeError(
            f"{name}: shapes {' and '.join(str(tuple(s)) for s in shapes)} do not broadcast"
        ) from None


def binary_lift(x, y):
    """Lift ``x`` and ``y`` to Tensors; a Python number takes the other operand's dtype."""
    if not isinstance(x, Tensor):
        x = lift(x, y if isinstance(y, Tensor) else None)
    if not isinstance(y, Tensor):
        y = lift(y, x)
    return x, y


def normalize_axis(axis, ndim, dim=None):
    """``axis`` (or its alias ``dim``) as a sorted tuple of non-negative ints, or None."""
    if dim is not None:
        if axis is not None:
            raise TypeError("pass either axis or dim, not both")
        axis = dim
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise ShapeError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(int(a) % max(ndim, 1))
    return tuple(sorted(out))


def keep_dims(name, keepdims, keepdim):
    """``keepdims`` (NumPy's name) or its alias ``keepdim`` (PyTorch's) as one bool."""
    if keepdim is None:
        return bool(keepdims)
    if keepdims and not keepdim:
        raise TypeError(f"{name}: pass either keepdims or keepdim, not both")
    return bool(keepdim)


def keepdims_shape(shape, axes):
    """``shape`` with the reduced ``axes`` (None: all) kept as length-1 dimensions."""
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else s for i, s in enumerate(shape))
