"""The differentiable operations, grouped by family; each primitive's VJP, description and
public wrapper sit together in its family's module.

arithmetic (add sub mul div pow neg), elementwise (exp log sqrt abs tanh sigmoid relu
leaky_relu maximum minimum where clip), cast (astype), reduce (sum mean max min
logsumexp), shape (reshape transpose broadcast_to sum_to getitem concatenate ...), linalg
(matmul linear), fused (softmax log_softmax cross_entropy), selection (take equal: the
per-row quantities of the classification losses, as graph nodes). Below them: operands (lifting
numbers and arrays), alignment (casting and broadcasting operands), labels (the class
label validator).
"""

from chainrule.ops.arithmetic import add, div, mul, neg, pow, sub
from chainrule.ops.cast import astype, clone
from chainrule.ops.elementwise import (
    abs,
    clip,
    exp,
    leaky_relu,
    log,
    maximum,
    minimum,
    relu,
    sigmoid,
    sqrt,
    tanh,
    where,
)
from chainrule.ops.fused import cross_entropy, log_softmax, softmax
from chainrule.ops.inplace import setitem
from chainrule.ops.linalg import linear, matmul
from chainrule.ops.reduce import argmax, argmin, logsumexp, max, mean, min, sum
from chainrule.ops.selection import equal, take
from chainrule.ops.shape import (
    broadcast_to,
    cat,
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

__all__ = [
    "abs",
    "add",
    "argmax",
    "argmin",
    "astype",
    "broadcast_to",
    "cat",
    "clip",
    "clone",
    "concatenate",
    "cross_entropy",
    "div",
    "equal",
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
    "setitem",
    "sigmoid",
    "softmax",
    "sqrt",
    "squeeze",
    "stack",
    "sub",
    "sum",
    "sum_to",
    "swapaxes",
    "take",
    "tanh",
    "transpose",
    "unsqueeze",
    "where",
]
