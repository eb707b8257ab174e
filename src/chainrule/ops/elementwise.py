"""Elementwise primitives: arithmetic, the activation functions, max/where/clip.

Gate patterns from the lecture, visible in the VJPs below: ``add`` *distributes* the
upstream gradient unchanged to both inputs, ``mul`` *switches* the inputs (each input's
gradient is the upstream gradient times the *other* input), ``maximum`` *routes* the
gradient to the larger input only.
"""

from __future__ import annotations

from chainrule.autograd.primitive import apply, defprimitive
from chainrule.backend import xp
from chainrule.ops.operands import align, binary_lift, binary_operands, broadcast_shape, lift

# ---------------------------------------------------------------- arithmetic
ADD = defprimitive(
    "add", xp.add, lambda F, g, ans, x, y: g, lambda F, g, ans, x, y: g, pattern="distributes"
)
SUB = defprimitive(
    "sub",
    xp.subtract,
    lambda F, g, ans, x, y: g,
    lambda F, g, ans, x, y: -g,
    pattern="distributes",
)
MUL = defprimitive(
    "mul",
    xp.multiply,
    lambda F, g, ans, x, y: g * y,
    lambda F, g, ans, x, y: g * x,
    pattern="switches",
)
DIV = defprimitive(
    "div",
    xp.divide,
    lambda F, g, ans, x, y: g / y,
    lambda F, g, ans, x, y: -g * ans / y,  # -g x / y²
)
POW = defprimitive(
    "pow",
    xp.power,
    lambda F, g, ans, x, y: g * y * x ** (y - 1),
    lambda F, g, ans, x, y: g * ans * F.log(x),
)
NEG = defprimitive("neg", xp.negative, lambda F, g, ans, x: -g)


def add(x, y):
    """x + y"""
    return apply(ADD, *binary_operands("add", x, y))


def sub(x, y):
    """x - y"""
    return apply(SUB, *binary_operands("sub", x, y))


def mul(x, y):
    """x * y"""
    return apply(MUL, *binary_operands("mul", x, y))


def div(x, y):
    """x / y"""
    return apply(DIV, *binary_operands("div", x, y))


def pow(x, y):
    """x ** y; ∂/∂x = y x^(y-1), ∂/∂y = x^y log x."""
    return apply(POW, *binary_operands("pow", x, y))


def neg(x):
    """-x"""
    return apply(NEG, lift(x))


# ---------------------------------------------------------------- unary functions
EXP = defprimitive("exp", xp.exp, lambda F, g, ans, x: g * ans)
LOG = defprimitive("log", xp.log, lambda F, g, ans, x: g / x)
SQRT = defprimitive("sqrt", xp.sqrt, lambda F, g, ans, x: g / (2 * ans))
ABS = defprimitive("abs", xp.abs, lambda F, g, ans, x: g * F.sign(x))
TANH = defprimitive("tanh", xp.tanh, lambda F, g, ans, x: g * (1 - ans * ans))


def _sigmoid(x):
    # σ(x) = 1 / (1 + e^-x), evaluated through e^-|x| so no exp overflows
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


SIGMOID = defprimitive("sigmoid", _sigmoid, lambda F, g, ans, x: g * ans * (1 - ans))


def _relu(x):
    return xp.maximum(x, 0)


# The gate is read from the output (ans > 0 exactly where x > 0) and applied as a product
# with the boolean mask: one branch-free pass, where ``where(mask, g, 0)`` on a random
# sign pattern is ~20x slower in NumPy (branch mispredictions).
RELU = defprimitive("relu", _relu, lambda F, g, ans, x: g * (ans > 0), pattern="gates")


def _leaky_relu(x, negative_slope=0.01):
    return xp.where(x > 0, x, x * negative_slope)


LEAKY_RELU = defprimitive(
    "leaky_relu",
    _leaky_relu,
    lambda F, g, ans, x, negative_slope: F.where(x > 0, g, g * negative_slope),
)


def exp(x):
    """e^x; its derivative is itself, so the VJP reuses the output: g · e^x."""
    return apply(EXP, lift(x))


def log(x):
    """Natural logarithm; ∂/∂x = 1/x."""
    return apply(LOG, lift(x))


def sqrt(x):
    """√x; ∂/∂x = 1 / (2√x)."""
    return apply(SQRT, lift(x))


def abs(x):
    """|x|; ∂/∂x = sign(x), taken as 0 at x = 0 (as in PyTorch)."""
    return apply(ABS, lift(x))


def tanh(x):
    """tanh(x); ∂/∂x = 1 - tanh²(x)."""
    return apply(TANH, lift(x))


def sigmoid(x):
    """σ(x) = 1 / (1 + e^-x); ∂/∂x = (1 - σ) σ (the lecture's identity). Fused for stability."""
    return apply(SIGMOID, lift(x))


def relu(x):
    """max(0, x); the gradient passes where x > 0 and is 0 elsewhere (0 at x = 0)."""
    return apply(RELU, lift(x))


def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, ``negative_slope`` · x otherwise."""
    return apply(LEAKY_RELU, lift(x), negative_slope=float(negative_slope))


# ---------------------------------------------------------------- max, where, clip
def _maximum_share(F, x, y):
    """Where each output came from x: 1 if x won, 1/2 on a tie (PyTorch's rule), else 0."""
    xd, yd = F.data(x), F.data(y)
    return (xd > yd) + 0.5 * (xd == yd)


MAXIMUM = defprimitive(
    "maximum",
    xp.maximum,
    lambda F, g, ans, x, y: g * _maximum_share(F, x, y).astype(g.dtype),
    lambda F, g, ans, x, y: g * _maximum_share(F, y, x).astype(g.dtype),
    pattern="routes",
)


def maximum(x, y):
    """Elementwise max. The gradient is *routed* to the larger input; ties split it."""
    return apply(MAXIMUM, *binary_operands("maximum", x, y))


def minimum(x, y):
    """Elementwise min, as -maximum(-x, -y) (same routing and tie rule)."""
    return neg(maximum(neg(x), neg(y)))


WHERE = defprimitive(
    "where",
    xp.where,
    None,  # the condition is not differentiable
    lambda F, g, ans, c, x, y: F.where(c, g, 0),
    lambda F, g, ans, c, x, y: F.where(c, 0, g),
    pattern="routes",
)


def where(condition, x, y):
    """``x`` where ``condition`` holds, else ``y``; each gradient flows back to its side."""
    cond = lift(condition)
    if cond.data.dtype != bool:
        cond = lift(cond.data.astype(bool))
    x, y = binary_lift(x, y)
    shape = broadcast_shape("where", cond.data.shape, x.data.shape, y.data.shape)
    x, y = align("where", x, y, shape=shape)
    return apply(WHERE, cond, x, y)


def _clip_mask(x, lo, hi):
    mask = xp.ones(x.shape, dtype=bool)
    if lo is not None:
        mask &= x >= lo
    if hi is not None:
        mask &= x <= hi
    return mask


CLIP = defprimitive(
    "clip",
    lambda x, min=None, max=None: xp.clip(x, min, max),
    lambda F, g, ans, x, min=None, max=None: F.where(_clip_mask(F.data(x), min, max), g, 0),
)


def clip(x, min=None, max=None):
    """Clamp to [min, max]; the gradient passes inside the closed interval, else 0."""
    if min is None and max is None:
        raise ValueError("clip: give at least one of min and max")
    return apply(CLIP, lift(x), min=min, max=max)


# ---------------------------------------------------------------- dtype
ASTYPE = defprimitive(
    "astype",
    lambda x, dtype: x.astype(dtype),
    lambda F, g, ans, x, dtype: g.astype(x.dtype),
)


def astype(x, dtype):
    """Cast to ``dtype``; the gradient is cast back to the input's dtype."""
    x = lift(x)
    dtype = xp.dtype(dtype)
    if dtype == x.data.dtype:
        return x
    if x.requires_grad and dtype.kind not in "fc":
        return lift(x.data.astype(dtype))  # leaving the differentiable world
    return apply(ASTYPE, x, dtype=dtype)
