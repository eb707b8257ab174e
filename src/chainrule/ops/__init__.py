"""The differentiable operations, grouped by family; each primitive's VJP sits beside it.

This module is also the namespace ``DIFF`` that VJPs use when ``create_graph=True``:
every primitive has a Tensor-level function here of the same name.
"""

from chainrule.autograd.primitive import DIFF, PRIMITIVES
from chainrule.backend import xp
from chainrule.ops.elementwise import (
    abs,
    add,
    astype,
    clip,
    div,
    exp,
    leaky_relu,
    log,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    sqrt,
    sub,
    tanh,
    where,
)
from chainrule.ops.fused import cross_entropy, log_softmax, softmax
from chainrule.ops.linalg import linear, matmul
from chainrule.ops.reduce import logsumexp, max, mean, min, sum
from chainrule.ops.shape import (
    broadcast_to,
    concatenate,
    expand_dims,
    flatten,
    getitem,
    reshape,
    scatter_add,
    squeeze,
    stack,
    sum_to,
    swapaxes,
    transpose,
    unsqueeze,
)
from chainrule.tensor import Tensor

for _name in PRIMITIVES:
    setattr(DIFF, _name, globals()[_name])
DIFF.data = lambda t: t.data
DIFF.sign = lambda t: Tensor(xp.sign(t.data))

__all__ = [
    "abs",
    "add",
    "astype",
    "broadcast_to",
    "clip",
    "concatenate",
    "cross_entropy",
    "div",
    "exp",
    "expand_dims",
    "flatten",
    "getitem",
    "leaky_relu",
    "linear",
    "log",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mul",
    "neg",
    "pow",
    "relu",
    "reshape",
    "scatter_add",
    "sigmoid",
    "softmax",
    "sqrt",
    "squeeze",
    "stack",
    "sub",
    "sum",
    "sum_to",
    "swapaxes",
    "tanh",
    "transpose",
    "unsqueeze",
    "where",
]
