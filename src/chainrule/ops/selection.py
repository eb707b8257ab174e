"""Selecting by values that are themselves tensors: ``take`` and the mask ``equal``.

The classification losses turn integer labels into per-row quantities — the class weight
``w_{y_n}`` of each row, whether a row is ``ignore_index`` — and a compiled step
(``cr.compile``) only replays what it sees computed by primitives. Written with raw
NumPy on the labels, those arrays change between calls without coming from an op, and
the capture refuses them; written with these two, the labels are an *input* of the op
and the replay computes the same arrays from each call's labels.

``getitem`` also gathers, but its index is a static parameter of the node; ``take``
takes its indices as an input, so a graph (and a picture of it) shows where they came
from.
"""

from __future__ import annotations

from chainrule.autograd.primitive import apply, defprimitive, namespace_helper, tensor_function
from chainrule.backend import xp
from chainrule.ops.operands import lift
from chainrule.tensor import Tensor

TAKE = defprimitive(
    "take",
    lambda x, indices: x[indices],
    # out_n = x[i_n]: each row's gradient goes back to the row it was taken from, and
    # repeated indices add up (scatter_add uses np.add.at for an index array)
    lambda F, g, ans, x, indices: F.scatter_add(g, indices, x.shape),
    None,  # integer indices are not differentiable
    saves=(1,),
    pattern="routes",
    symbol="take",
    formula="{0}[{1}]",
    local=("1 at the taken rows", ""),
    vjp=("{g} added back at rows {1}", ""),
    pattern_text=("routes: each taken row gets its gradient back, repeated rows add", ""),
)


@tensor_function(TAKE)
def take(x, indices):
    """``out_n = x[i_n]``: the rows of ``x`` (along the first axis) at the integer
    ``indices``, which are an input of the node (``np.take(x, indices, axis=0)``).

    ∂L/∂x_k = Σ_{n: i_n = k} ∂L/∂out_n (repeated indices add up); the indices get no
    gradient. An index out of range raises an IndexError naming the op and both shapes.
    """
    x, indices = lift(x), lift(indices)
    if indices.data.dtype.kind not in "iu":
        raise TypeError(f"take: indices must be integers, got {indices.data.dtype}")
    if x.ndim == 0:
        raise ValueError("take: x must have at least one axis, got a 0-d tensor")
    if indices.data.size:
        lo, hi = int(indices.data.min()), int(indices.data.max())
        if lo < 0 or hi >= x.shape[0]:
            bad = lo if lo < 0 else hi
            raise IndexError(
                f"take: index {bad} is out of range for {x.shape[0]} rows "
                f"(x {x.shape}, indices {indices.shape})"
            )
    return apply(TAKE, x, indices)


namespace_helper("zeros_like", raw=xp.zeros_like, diff=lambda t: Tensor(xp.zeros_like(t.data)))

EQUAL = defprimitive(
    "equal",
    lambda x, value: x == value,
    # a step function of x: flat wherever it is differentiable, so the gradient is 0
    lambda F, g, ans, x, value: F.zeros_like(x),
    saves=(0,),
    symbol="==",
    formula="{0} == {value}",
    local="0",
    vjp="0",
    sentence="a boolean mask: a step function of its input, so no gradient passes",
)


@tensor_function(EQUAL)
def equal(x, value):
    """The boolean mask ``[x = value]`` for a number ``value`` (``np.equal``); its
    derivative is 0 wherever it exists. Unlike ``Tensor.__eq__`` it is a node of the
    graph, so a compiled step recomputes it from each call's ``x``."""
    x = lift(x)
    # the mask is a constant of the graph, like a comparison's: its gradient is 0, and
    # ops that take a mask (where's condition) pass none to it
    return apply(EQUAL, x.detach() if x.requires_grad else x, value=value)
