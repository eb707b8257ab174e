"""The op-spec table: one row per differentiable primitive (HIPS autograd / JAX style).

Each row gives a chainrule expression, its NumPy reference, and a generator of inputs
drawn from a domain that avoids kinks (|x| > 0.2 for relu/abs/max) and invalid regions
(positive inputs for log/sqrt). ``covers`` names the primitive(s) the row exercises; the
tests fail if a registered primitive is covered by no row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import chainrule as cr
from chainrule import ops
from chainrule.autograd.primitive import PRIMITIVES
from chainrule.nn import primitives as nnp

SHAPES = [(), (3,), (2, 3)]
PAIRS = [((), ()), ((3,), (3,)), ((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3))]


def _setitem(x, index, v):
    out = x.copy()
    out[index] = v
    return out


def normal(rng, shape):
    return rng.standard_normal(shape)


def away_from_zero(rng, shape):
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.2, 2.0, size=shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, size=shape)


@dataclass
class Spec:
    name: str
    fn: object  # chainrule function of Tensors
    ref: object  # NumPy function of arrays
    shapes: list  # list of tuples of input shapes
    domain: object = normal  # per-input sampler(s)
    covers: tuple = ()
    order: int = 2
    check: dict = field(default_factory=dict)  # extra gradcheck arguments

    def __post_init__(self):
        self.covers = tuple(self.covers) or (self.name,)

    def inputs(self, rng, shapes):
        doms = (
            self.domain if isinstance(self.domain, (list, tuple)) else [self.domain] * len(shapes)
        )
        return [np.asarray(d(rng, s), dtype=np.float64) for d, s in zip(doms, shapes)]


def unary(name, fn, ref, domain=normal, covers=None, shapes=None):
    return Spec(name, fn, ref, [(s,) for s in (shapes or SHAPES)], domain, covers or (name,))


def binary(name, fn, ref, domain=normal, covers=None, pairs=None):
    return Spec(name, fn, ref, pairs or PAIRS, domain, covers or (name,))


def _separated(rng, shape):
    # for maximum: y is drawn relative to x later; here just distinct values
    return rng.standard_normal(shape)


def _softmax_ref(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _logsumexp_ref(x, axis=None, keepdims=False):
    m = x.max(axis=axis, keepdims=True)
    out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else (out.reshape(()) if axis is None else np.squeeze(out, axis))


def _erf_ref(x):
    from math import erf

    return np.vectorize(erf)(x)


def _probability(rng, shape):
    return rng.uniform(0.1, 0.9, size=shape)


LABELS = np.array([2, 0, 3, 3])
INDEX = np.array([0, 2, 2, 1])  # repeated index: gradients must accumulate
MASK = np.array([[True, False, True], [False, True, True]])
W_FIXED = np.random.default_rng(7).standard_normal((4, 3))

SPECS = [
    # arithmetic
    binary("add", lambda x, y: x + y, np.add),
    binary("sub", lambda x, y: x - y, np.subtract),
    binary("mul", lambda x, y: x * y, np.multiply),
    binary("div", lambda x, y: x / y, np.divide, [normal, away_from_zero]),
    binary("pow", lambda x, y: x**y, np.power, [positive, normal]),
    unary("pow_scalar", lambda x: x**3, lambda x: x**3, covers=("pow",)),
    unary("neg", lambda x: -x, np.negative),
    unary("rsub_scalar", lambda x: 2.0 - x * 3.0, lambda x: 2.0 - x * 3.0, covers=("sub", "mul")),
    # unary functions
    unary("exp", cr.exp, np.exp),
    unary("log", cr.log, np.log, positive),
    unary("sqrt", cr.sqrt, np.sqrt, positive),
    unary("abs", cr.abs, np.abs, away_from_zero),
    unary("tanh", cr.tanh, np.tanh),
    unary("sigmoid", cr.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    unary("relu", cr.relu, lambda x: np.maximum(x, 0), away_from_zero),
    unary(
        "leaky_relu",
        lambda x: cr.leaky_relu(x, 0.1),
        lambda x: np.where(x > 0, x, 0.1 * x),
        away_from_zero,
    ),
    binary(
        "maximum",
        cr.maximum,
        np.maximum,
        [away_from_zero, lambda rng, s: np.zeros(s)],
    ),
    binary(
        "minimum",
        cr.minimum,
        np.minimum,
        [away_from_zero, lambda rng, s: np.zeros(s)],
        covers=("maximum", "neg"),
    ),
    Spec(
        "where",
        lambda x, y: cr.where(x.data > 0, x * 2, y),
        lambda x, y: np.where(x > 0, x * 2, y),
        PAIRS,
        [away_from_zero, normal],
    ),
    unary(
        "clip",
        lambda x: cr.clip(x, -0.5, 0.7),
        lambda x: np.clip(x, -0.5, 0.7),
        lambda rng, s: rng.choice([-1.5, -0.1, 0.3, 1.2], size=s) + rng.uniform(-0.05, 0.05, s),
    ),
    Spec(
        "astype",
        lambda x: (x.astype(np.float32) * 2).astype(np.float64),
        lambda x: (x.astype(np.float32) * 2).astype(np.float64),
        [(s,) for s in SHAPES],
        check={"eps": 0.1},  # float32 rounding would swamp a tiny step
    ),
    # reductions
    unary("sum_all", lambda x: x.sum(), lambda x: x.sum(), covers=("sum",)),
    Spec(
        "sum_axis",
        lambda x: x.sum(axis=1, keepdims=True),
        lambda x: x.sum(1, keepdims=True),
        [((2, 3),)],
        covers=("sum",),
    ),
    Spec("sum_dim", lambda x: x.sum(dim=0), lambda x: x.sum(0), [((2, 3),)], covers=("sum",)),
    Spec(
        "mean",
        lambda x: x.mean(axis=(0, 1)),
        lambda x: x.mean(),
        [((2, 3),)],
        covers=("sum", "div"),
    ),
    unary("max_all", lambda x: x.max(), lambda x: x.max(), covers=("max",)),
    Spec("max_axis", lambda x: x.max(axis=0), lambda x: x.max(0), [((3, 4),)], covers=("max",)),
    Spec(
        "min_axis",
        lambda x: x.min(axis=1, keepdims=True),
        lambda x: x.min(1, keepdims=True),
        [((3, 4),)],
        covers=("max", "neg"),
    ),
    unary("logsumexp_all", cr.logsumexp, _logsumexp_ref, covers=("logsumexp",)),
    Spec(
        "logsumexp_axis",
        lambda x: cr.logsumexp(x, axis=1),
        lambda x: _logsumexp_ref(x, axis=1),
        [((3, 4),)],
        covers=("logsumexp",),
    ),
    # shape
    Spec("reshape", lambda x: x.reshape(3, 2) * 1.5, lambda x: x.reshape(3, 2) * 1.5, [((2, 3),)]),
    Spec("transpose", lambda x: x.T * x.T, lambda x: x.T * x.T, [((2, 3),)]),
    Spec(
        "permute",
        lambda x: x.permute(2, 0, 1) ** 2,
        lambda x: x.transpose(2, 0, 1) ** 2,
        [((2, 3, 4),)],
        covers=("transpose", "pow"),
    ),
    Spec(
        "broadcast_to",
        lambda x: cr.broadcast_to(x, (4, 2, 3)) * 2,
        lambda x: np.broadcast_to(x, (4, 2, 3)) * 2,
        [((2, 1),), ((3,),)],
        covers=("broadcast_to", "sum_to"),
    ),
    Spec(
        "sum_to",
        lambda x: ops.sum_to(x, (1, 3)) ** 2,
        lambda x: x.sum(0, keepdims=True) ** 2,
        [((2, 3),)],
    ),
    Spec(
        "squeeze_unsqueeze",
        lambda x: x.unsqueeze(0).squeeze(0).flatten(),
        lambda x: x.reshape(-1),
        [((2, 3),)],
        covers=("reshape",),
    ),
    Spec(
        "getitem_slice",
        lambda x: x[1:, ::2],
        lambda x: x[1:, ::2],
        [((3, 4),)],
        covers=("getitem",),
    ),
    Spec(
        "getitem_int_array",
        lambda x: x[INDEX] * 1.0,
        lambda x: x[INDEX],
        [((3, 2),)],
        covers=("getitem",),
    ),
    Spec("getitem_mask", lambda x: x[MASK], lambda x: x[MASK], [((2, 3),)], covers=("getitem",)),
    Spec(
        "scatter_add",
        lambda x: ops.scatter_add(x, INDEX, (3, 2)) ** 2,
        lambda x: np.add.at(z := np.zeros((3, 2)), INDEX, x) or z**2,
        [((4, 2),)],
    ),
    Spec(
        "take",
        lambda x: ops.take(x, cr.tensor(INDEX)) ** 2,
        lambda x: x[INDEX] ** 2,
        [((3, 2),)],
    ),
    Spec(
        "equal",  # a mask: its own gradient is 0, the product's flows through x
        # the primitive itself on a tensor that requires grad (ops.equal detaches its
        # input), so its zero VJP is part of the checked graph
        lambda x: cr.apply(PRIMITIVES["equal"], x * 0.0, value=0.0) * x * x,
        lambda x: (x * 0.0 == 0.0) * x * x,
        [((2, 3),)],
    ),
    Spec(
        "setitem_slice",
        lambda x, v: ops.setitem(x, (slice(None), slice(1, 3)), v) ** 2,
        lambda x, v: _setitem(x, (slice(None), slice(1, 3)), v) ** 2,
        [((2, 4), (2, 2)), ((2, 4), (2,)), ((2, 4), ())],
        covers=("setitem",),
    ),
    Spec(
        "setitem_int_array",
        lambda x, v: ops.setitem(x, np.array([2, 0]), v) * x,
        lambda x, v: _setitem(x, np.array([2, 0]), v) * x,
        [((3, 2), (2,))],
        covers=("setitem",),
    ),
    Spec("clone", lambda x: x.clone() * x, lambda x: x.copy() * x, [((2, 3),)]),
    Spec(
        "concatenate",
        lambda x, y: cr.concatenate([x, y, x], axis=1),
        lambda x, y: np.concatenate([x, y, x], axis=1),
        [((2, 3), (2, 1))],
    ),
    Spec(
        "stack",
        lambda x, y: cr.stack([x, y], axis=1),
        lambda x, y: np.stack([x, y], axis=1),
        [((2, 3), (2, 3))],
        covers=("concatenate", "reshape"),
    ),
    # linalg
    Spec(
        "matmul_2d", lambda x, y: x @ y, lambda x, y: x @ y, [((2, 3), (3, 4))], covers=("matmul",)
    ),
    Spec(
        "matmul_vec",
        lambda x, y: x @ y,
        lambda x, y: x @ y,
        [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,))],
        covers=("matmul",),
    ),
    Spec(
        "matmul_batched",
        lambda x, y: x @ y,
        lambda x, y: x @ y,
        [((2, 2, 3), (3, 4)), ((2, 1, 2, 3), (3, 3, 2))],
        covers=("matmul", "broadcast_to"),
    ),
    Spec(
        "linear",
        lambda x, w, b: ops.linear(x, w, b),
        lambda x, w, b: x @ w.T + b,
        [((5, 3), (4, 3), (4,)), ((3,), (4, 3), (4,))],
    ),
    # fused
    Spec("softmax", lambda x: cr.softmax(x, axis=-1), _softmax_ref, [((3,),), ((2, 4),)]),
    Spec(
        "log_softmax",
        lambda x: cr.log_softmax(x, axis=0),
        lambda x: np.log(_softmax_ref(x, axis=0)),
        [((3,),), ((4, 2),)],
    ),
    Spec(
        "cross_entropy",
        lambda x: ops.cross_entropy(x, LABELS),
        lambda x: (_logsumexp_ref(x, axis=1) - x[np.arange(4), LABELS]).mean(),
        [((4, 5),)],
    ),
    Spec(
        "cross_entropy_none",
        lambda x: ops.cross_entropy(x, LABELS, reduction="none"),
        lambda x: _logsumexp_ref(x, axis=1) - x[np.arange(4), LABELS],
        [((4, 5),)],
        covers=("cross_entropy",),
    ),
    Spec(
        "cross_entropy_sum",
        lambda x: ops.cross_entropy(x, LABELS, reduction="sum"),
        lambda x: (_logsumexp_ref(x, axis=1) - x[np.arange(4), LABELS]).sum(),
        [((4, 5),)],
        covers=("cross_entropy",),
    ),
    Spec(
        "linear_fixed_weight",
        lambda x: ops.linear(x, cr.tensor(W_FIXED), None).tanh(),
        lambda x: np.tanh(x @ W_FIXED.T),
        [((2, 3),)],
        covers=("matmul", "tanh"),
    ),
    # fused primitives defined in chainrule.nn
    unary("erf", nnp.erf, _erf_ref),
    unary("gelu", nnp.gelu, lambda x: x * 0.5 * (1 + _erf_ref(x / np.sqrt(2)))),
    unary(
        "gelu_tanh",
        lambda x: nnp.gelu(x, approximate="tanh"),
        lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
        covers=("gelu",),
    ),
    unary("elu", nnp.elu, lambda x: np.where(x > 0, x, np.expm1(x)), away_from_zero),
    unary("log_sigmoid", nnp.log_sigmoid, lambda x: -np.log1p(np.exp(-x))),
    binary(
        "binary_cross_entropy",
        nnp.binary_cross_entropy_elementwise,
        lambda p, y: -(y * np.log(p) + (1 - y) * np.log1p(-p)),
        [_probability, _probability],
    ),
]
