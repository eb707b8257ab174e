"""Copies: the dtype cast ``astype`` and ``clone``.

``astype`` is a primitive so that a gradient always keeps its input's dtype: binary ops
promote two float dtypes by casting the lower one (see :mod:`chainrule.ops.alignment`),
and the cast's VJP casts the gradient back. ``clone`` copies into new memory and stays in
the graph, so a tensor can be changed in place without touching the original.
"""

from __future__ import annotations

from chainrule.autograd.primitive import apply, defprimitive, tensor_function
from chainrule.backend import xp
from chainrule.ops.operands import lift

ASTYPE = defprimitive(
    "astype",
    lambda x, dtype: x.astype(dtype),
    lambda F, g, ans, x, dtype: g.astype(x.dtype),
    saves=(),
    symbol="cast",
    formula="{0} as {dtype}",
    local="1",
    vjp="{g} cast back",
    elementwise=True,
    sentence="a dtype cast: the gradient is cast back",
)


@tensor_function(ASTYPE)
def astype(x, dtype):
    """Cast to ``dtype``; ∂/∂x = 1, and the gradient is cast back to the input's dtype."""
    x = lift(x)
    dtype = xp.dtype(dtype)
    if dtype == x.data.dtype:
        return x
    if x.requires_grad and dtype.kind not in "fc":
        return lift(x.data.astype(dtype))  # leaving the differentiable world
    return apply(ASTYPE, x, dtype=dtype)


CLONE = defprimitive(
    "clone",
    lambda x: x.copy(),
    lambda F, g, ans, x: g,
    saves=(),
    pattern="distributes",
    symbol="copy",
    formula="clone({0})",
    local="1",
    vjp="{g}",
    elementwise=True,
    substitute=False,
)


@tensor_function(CLONE)
def clone(x):
    """A copy of ``x`` in new memory, in the graph; ∂/∂x = 1 (as ``torch.clone``)."""
    return apply(CLONE, lift(x))
