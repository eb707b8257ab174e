"""Shape primitives: reshape, transpose, broadcast_to / sum_to, indexing, concatenation.

``broadcast_to`` and ``sum_to`` are each other's VJP; ``sum_to`` is the single place in
chainrule that sums a gradient back over broadcast axes. ``getitem`` and ``scatter_add``
are likewise a pair: reading elements out, and adding gradients back in (repeated indices
accumulate, as the chain rule's "branches add" demands).
"""

from __future__ import annotations

import builtins
import numbers

from chainrule.autograd.primitive import apply, defprimitive, tensor_function
from chainrule.backend import xp
from chainrule.errors import ShapeError
from chainrule.ops.cast import astype
from chainrule.ops.operands import lift, result_dtype
from chainrule.tensor import Tensor

RESHAPE = defprimitive(
    "reshape",
    lambda x, shape: x.reshape(shape),
    lambda F, g, ans, x, shape: g.reshape(x.shape),
    saves=(),
    symbol="reshape",
    formula="reshape({0}, {shape})",
    local="1",
    vjp="{g} reshaped like {0}",
    params=(),
    sentence="reshape keeps the numbers and changes the shape; the gradient is reshaped back",
)


@tensor_function(RESHAPE)
def reshape(x, shape):
    """The same elements in a new shape (one entry may be -1); ∂/∂x = 1, the gradient
    reshaped back."""
    x = lift(x)
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(int(s) for s in shape)
    try:
        if x.data.shape == shape:
            return x
        return apply(RESHAPE, x, shape=shape)
    except ValueError:
        raise ShapeError(f"reshape: cannot reshape {x.shape} into {shape}") from None


def _inverse(axes):
    return None if axes is None else tuple(sorted(range(len(axes)), key=axes.__getitem__))


TRANSPOSE = defprimitive(
    "transpose",
    lambda x, axes=None: xp.transpose(x, axes),
    lambda F, g, ans, x, axes=None: F.transpose(g, _inverse(axes)),
    saves=(),
    symbol="ᵀ",
    formula="{0}ᵀ",
    vjp="{g}ᵀ",
    params=("axes",),
    sentence="transpose: the gradient is transposed back",
)


@tensor_function(TRANSPOSE)
def transpose(x, axes=None):
    """Permute the axes (reverse them when ``axes`` is None); ``.T`` and ``permute`` call
    this. The VJP applies the inverse permutation to the gradient."""
    x = lift(x)
    if axes is not None:
        axes = tuple(int(a) % builtins.max(x.ndim, 1) for a in axes)
        if sorted(axes) != list(range(x.ndim)):
            raise ShapeError(f"transpose: axes {axes} are not a permutation for shape {x.shape}")
    if x.ndim < 2:
        return x
    return apply(TRANSPOSE, x, axes=axes)


def swapaxes(x, axis1, axis2):
    x = lift(x)
    axes = list(range(x.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(x, axes)


def _sum_to(x, shape):
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and x.shape[i + lead] != 1
    )
    return (x.sum(axis=axes, keepdims=True) if axes else x).reshape(shape)


BROADCAST_TO = defprimitive(
    "broadcast_to",
    lambda x, shape: xp.broadcast_to(x, shape),
    lambda F, g, ans, x, shape: F.sum_to(g, x.shape),
    pattern="copies",
    saves=(),
    symbol="copy",
    formula="broadcast({0}, {shape})",
    local="1",
    vjp="Σ {g} over the copies",
    params=(),
)


@tensor_function(BROADCAST_TO)
def broadcast_to(x, shape):
    """Repeat ``x`` along broadcast axes; ∂/∂x = 1 per copy, so its VJP (``sum_to``) sums
    the copies' gradients back."""
    x = lift(x)
    shape = tuple(shape)
    if x.data.shape == shape:
        return x
    try:
        xp.broadcast_shapes(x.shape, shape)
        if len(shape) < x.ndim:
            raise ValueError
    except ValueError:
        raise ShapeError(f"broadcast_to: cannot broadcast {x.shape} to {shape}") from None
    return apply(BROADCAST_TO, x, shape=shape)


SUM_TO = defprimitive(
    "sum_to",
    _sum_to,
    lambda F, g, ans, x, shape: F.broadcast_to(g, x.shape),
    pattern="adds",
    saves=(),
    symbol="Σ",
    formula="sum_to({0}, {shape})",
    local="1",
    vjp="{g} copied back",
    params=(),
)


@tensor_function(SUM_TO)
def sum_to(x, shape):
    """Sum ``x`` down to ``shape`` (the adjoint of broadcast_to); ∂/∂x = 1, the gradient
    copied back over the summed axes."""
    x = lift(x)
    shape = tuple(shape)
    if x.data.shape == shape:
        return x
    return apply(SUM_TO, x, shape=shape)


def expand_dims(x, axis):
    """Insert a length-1 axis at ``axis`` (``unsqueeze``)."""
    x = lift(x)
    axis = axis % (x.ndim + 1)
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


unsqueeze = expand_dims


def squeeze(x, axis=None):
    """Drop length-1 axes (all of them, or the given ones)."""
    x = lift(x)
    axes = range(x.ndim) if axis is None else [axis] if isinstance(axis, int) else axis
    axes = {a % builtins.max(x.ndim, 1) for a in axes}
    if axis is not None and any(x.shape[a] != 1 for a in axes):
        raise ShapeError(f"squeeze: axis {axis} of shape {x.shape} does not have length 1")
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if not (i in axes and s == 1)))


def flatten(x, start_dim=0, end_dim=-1):
    """Merge the axes from ``start_dim`` to ``end_dim`` into one."""
    x = lift(x)
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = start_dim % x.ndim, end_dim % x.ndim
    return reshape(x, x.shape[:s] + (-1,) + x.shape[e + 1 :])


# ---------------------------------------------------------------- indexing
def _is_basic(index):
    """True when ``index`` has only ints, slices, None and Ellipsis (no repeats possible)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(p, (numbers.Integral, slice)) or p is None or p is Ellipsis for p in parts
    )


def _scatter_add(g, index, shape):
    out = xp.zeros(shape, dtype=g.dtype)
    if _is_basic(index):
        out[index] = g
    else:
        xp.add.at(out, index, g)  # repeated integer indices accumulate
    return out


GETITEM = defprimitive(
    "getitem",
    lambda x, index: x[index],
    lambda F, g, ans, x, index: F.scatter_add(g, index, x.shape),
    saves=(),
    symbol="[ ]",
    formula="{0}[…]",
    local="1",
    vjp="{g} put back at the picked positions",
)


def _raw_index(index):
    if isinstance(index, tuple):
        return tuple(_raw_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return xp.asarray(index)
    return index


@tensor_function(GETITEM)
def getitem(x, index):
    """``x[index]`` with slices, integers, integer arrays and boolean masks; ∂/∂x = 1 at
    the picked positions, 0 elsewhere. Repeated indices are allowed: their gradients add up.
    """
    x = lift(x)
    index = _raw_index(index)
    try:
        return apply(GETITEM, x, index=index)
    except IndexError as e:
        raise IndexError(f"getitem: {e} (tensor shape {x.shape})") from None


SCATTER_ADD = defprimitive(
    "scatter_add",
    _scatter_add,
    lambda F, g, ans, x, index, shape: g[index],
    pattern="adds",
    saves=(),
    symbol="scatter",
    formula="scatter_add({0})",
    local="1",
    vjp="{g} at the indices",
)


@tensor_function(SCATTER_ADD)
def scatter_add(g, index, shape):
    """Zeros of ``shape`` with ``g`` added at ``index`` (the adjoint of ``getitem``)."""
    return apply(SCATTER_ADD, lift(g), index=_raw_index(index), shape=tuple(shape))


# ---------------------------------------------------------------- joining
def _concatenate_vjp(i, F, g, ans, *xs, axis):
    start = builtins.sum(xs[j].shape[axis] for j in range(i))
    return g[(slice(None),) * axis + (slice(start, start + xs[i].shape[axis]),)]


CONCATENATE = defprimitive(
    "concatenate",
    lambda *xs, axis: xp.concatenate(xs, axis=axis),
    _concatenate_vjp,
    variadic=True,
    saves=(),
    symbol="concat",
    formula="concat({args})",
    vjp="this input's slice of {g}",
    sentence="concatenate: each input gets its own slice of the upstream gradient",
)


@tensor_function(CONCATENATE)
def concatenate(tensors, axis=0):
    """Join tensors along an existing axis; ∂/∂x_i = 1 on its block: each input gets its
    own slice of the gradient."""
    ts = [lift(t) for t in tensors]
    if not ts:
        raise ValueError("concatenate: need at least one tensor")
    nd = ts[0].ndim
    if nd == 0:
        raise ShapeError("concatenate: zero-dimensional tensors cannot be concatenated")
    axis = axis % nd
    for t in ts:
        if (
            t.ndim != nd
            or t.shape[:axis] + t.shape[axis + 1 :] != ts[0].shape[:axis] + ts[0].shape[axis + 1 :]
        ):
            shapes = ", ".join(str(u.shape) for u in ts)
            raise ShapeError(f"concatenate: shapes {shapes} differ off axis {axis}")
    dtype = result_dtype(*(t.dtype for t in ts))
    ts = [astype(t, dtype) for t in ts]
    return apply(CONCATENATE, *ts, axis=axis)


def cat(tensors, dim=0, *, axis=None):
    """PyTorch's name for :func:`concatenate` (``dim`` or ``axis``)."""
    return concatenate(tensors, dim if axis is None else axis)


def stack(tensors, axis=0):
    """Join tensors along a new axis (composed: expand_dims, then concatenate)."""
    ts = [lift(t) for t in tensors]
    if not ts:
        raise ValueError("stack: need at least one tensor")
    if any(t.shape != ts[0].shape for t in ts):
        raise ShapeError(f"stack: shapes {', '.join(str(t.shape) for t in ts)} differ")
    axis = axis % (ts[0].ndim + 1)
    return concatenate([expand_dims(t, axis) for t in ts], axis)
