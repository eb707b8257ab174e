"""Elementwise primitives: exp, log, the activation functions, max/where/clip.

Each primitive is registered with its VJP and its description, and its public wrapper
sits right under it. ``maximum`` shows the third gate pattern of backpropagation: it
*routes* the upstream gradient to the larger input only; ``relu`` *gates* it (it passes
where the input was positive).
"""

from __future__ import annotations

from chainrule.autograd.primitive import apply, defprimitive, tensor_function
from chainrule.backend import xp
from chainrule.ops.alignment import align, binary_operands
from chainrule.ops.arithmetic import neg
from chainrule.ops.operands import binary_lift, broadcast_shape, lift

# ---------------------------------------------------------------- unary functions
EXP = defprimitive(
    "exp",
    xp.exp,
    lambda F, g, ans, x: g * ans,
    saves=("ans",),
    symbol="exp",
    formula="exp({0})",
    local="e^{0}",
    vjp="{g} ⊙ e^{0}",
    domain="exp overflowed",
    elementwise=True,
    substitute=True,
)


@tensor_function(EXP)
def exp(x):
    """e^x; its derivative is itself, so the VJP reuses the output: g · e^x."""
    return apply(EXP, lift(x))


LOG = defprimitive(
    "log",
    xp.log,
    lambda F, g, ans, x: g / x,
    saves=(0,),
    symbol="log",
    formula="log({0})",
    local="1/{0}",
    local_values="1/{0}",
    vjp="{g} / {0}",
    domain="log of a negative number is nan, log 0 is −∞",
    elementwise=True,
    substitute=True,
)


@tensor_function(LOG)
def log(x):
    """Natural logarithm; ∂/∂x = 1/x."""
    return apply(LOG, lift(x))


SQRT = defprimitive(
    "sqrt",
    xp.sqrt,
    lambda F, g, ans, x: g / (2 * ans),
    saves=("ans",),
    symbol="√",
    formula="√{0}",
    local="1/(2√{0})",
    local_values="1/(2·{out})",
    vjp="{g} / (2√{0})",
    domain="the square root of a negative number is nan",
    elementwise=True,
    substitute=True,
)


@tensor_function(SQRT)
def sqrt(x):
    """√x; ∂/∂x = 1 / (2√x)."""
    return apply(SQRT, lift(x))


ABS = defprimitive(
    "abs",
    xp.abs,
    lambda F, g, ans, x: g * F.sign(x),
    saves=(0,),
    symbol="|·|",
    formula="|{0}|",
    local="sign({0})",
    vjp="{g} ⊙ sign({0})",
    tie=lambda i, inputs, params: inputs[0] == 0,
    ties="at the kink {0} = 0: the engine takes sign(0) = 0, so no gradient passes there "
    "(as PyTorch)",
    elementwise=True,
    substitute=True,
)


@tensor_function(ABS)
def abs(x):
    """|x|; ∂/∂x = sign(x), taken as 0 at x = 0 (as in PyTorch)."""
    return apply(ABS, lift(x))


TANH = defprimitive(
    "tanh",
    xp.tanh,
    lambda F, g, ans, x: g * (1 - ans * ans),
    saves=("ans",),
    symbol="tanh",
    formula="tanh({0})",
    local="1 − tanh²({0})",
    local_values="1 − {out}²",
    vjp="{g} ⊙ (1 − {out}²)",
    elementwise=True,
    substitute=True,
)


@tensor_function(TANH)
def tanh(x):
    """tanh(x); ∂/∂x = 1 − tanh²(x)."""
    return apply(TANH, lift(x))


def _sigmoid(x):
    # σ(x) = 1 / (1 + e^-x), evaluated through e^-|x| so no exp overflows
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


SIGMOID = defprimitive(
    "sigmoid",
    _sigmoid,
    lambda F, g, ans, x: g * ans * (1 - ans),
    saves=("ans",),
    symbol="σ",
    formula="σ({0})",
    local="(1 − σ)σ",
    local_values="(1 − {out})·{out}",
    vjp="{g} ⊙ (1 − σ)σ",
    elementwise=True,
    substitute=True,
)


@tensor_function(SIGMOID)
def sigmoid(x):
    """σ(x) = 1 / (1 + e^-x); ∂/∂x = (1 − σ)σ, the identity σ'(x) = σ(x)(1 − σ(x)).
    Fused for stability."""
    return apply(SIGMOID, lift(x))


def _relu(x):
    return xp.maximum(x, 0)


# The gate is read from the output (ans > 0 exactly where x > 0) and applied as a product
# with the boolean mask: one branch-free pass, where ``where(mask, g, 0)`` on a random
# sign pattern is ~20x slower in NumPy (branch mispredictions).
RELU = defprimitive(
    "relu",
    _relu,
    lambda F, g, ans, x: g * (ans > 0),
    pattern="gates",
    saves=("ans",),
    symbol="relu",
    formula="relu({0})",
    local="1 if {0} > 0, else 0",
    vjp="{g} where {0} > 0, else 0",
    tie=lambda i, inputs, params: inputs[0] == 0,
    ties="gates, and {0} = 0 is the kink: the engine takes relu'(0) = 0, so no gradient "
    "passes there (as PyTorch)",
    elementwise=True,
    substitute=True,
)


@tensor_function(RELU)
def relu(x):
    """max(0, x); ∂/∂x = 1 where x > 0, else 0 (0 at x = 0): the gradient is gated."""
    return apply(RELU, lift(x))


def _leaky_relu(x, negative_slope=0.01):
    return xp.where(x > 0, x, x * negative_slope)


LEAKY_RELU = defprimitive(
    "leaky_relu",
    _leaky_relu,
    lambda F, g, ans, x, negative_slope: F.where(x > 0, g, g * negative_slope),
    saves=(0,),
    symbol="lrelu",
    formula="leaky_relu({0})",
    local="1 if {0} > 0, else α",
    vjp="{g} ⊙ (1 or α)",
    tie=lambda i, inputs, params: inputs[0] == 0,
    ties="at the kink {0} = 0: the engine takes the slope α of the negative side (as PyTorch)",
    elementwise=True,
)


@tensor_function(LEAKY_RELU)
def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, α·x otherwise (α = ``negative_slope``); ∂/∂x = 1 or α (α at x = 0)."""
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
    saves=(0, 1),
    symbol="max",
    formula="max({0}, {1})",
    local=("1 if {0} > {1}, ½ if {0} = {1}, else 0", "1 if {1} > {0}, ½ if {0} = {1}, else 0"),
    vjp=(
        "{g} where {0} > {1}, ½·{g} on a tie, else 0",
        "{g} where {1} > {0}, ½·{g} on a tie, else 0",
    ),
    tie=lambda i, inputs, params: inputs[0] == inputs[1],
    ties="routes, but {0} and {1} tie: neither won, so each gets half of the upstream "
    "gradient (as torch.maximum)",
    elementwise=True,
    commutative=True,
    substitute=True,
    display="max",
)


@tensor_function(MAXIMUM)
def maximum(x, y):
    """Elementwise max; ∂/∂x = 1 where x > y, else 0: the gradient is *routed* to the
    larger input, and a tie splits it (½ each)."""
    return apply(MAXIMUM, *binary_operands("maximum", x, y))


def minimum(x, y):
    """Elementwise min, composed as −maximum(−x, −y) (same routing and tie rule)."""
    return neg(maximum(neg(x), neg(y)))


WHERE = defprimitive(
    "where",
    xp.where,
    None,  # the condition is not differentiable
    lambda F, g, ans, c, x, y: F.where(c, g, 0),
    lambda F, g, ans, c, x, y: F.where(c, 0, g),
    pattern="routes",
    saves=(0,),
    symbol="where",
    formula="where({0}, {1}, {2})",
    local=("", "1 where {0}, else 0", "0 where {0}, else 1"),
    vjp=("", "{g} where {0}, else 0", "{g} where not {0}, else 0"),
    elementwise=True,
    pattern_text=(
        "",
        "routes: the gradient goes to the side that was chosen",
        "routes: the gradient goes to the side that was chosen",
    ),
)


@tensor_function(WHERE)
def where(condition, x, y):
    """``x`` where ``condition`` holds, else ``y``; ∂/∂x = 1 where the condition holds,
    ∂/∂y = 1 elsewhere: each gradient flows back to its side."""
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


def _at_bound(x, lo, hi):
    at = xp.zeros(x.shape, dtype=bool)
    if lo is not None:
        at |= x == lo
    if hi is not None:
        at |= x == hi
    return at


CLIP = defprimitive(
    "clip",
    lambda x, min=None, max=None: xp.clip(x, min, max),
    lambda F, g, ans, x, min=None, max=None: F.where(_clip_mask(F.data(x), min, max), g, 0),
    saves=(0,),
    symbol="clip",
    formula="clip({0})",
    local="1 inside the closed interval [min, max], else 0",
    vjp="{g} inside the closed interval, else 0",
    tie=lambda i, inputs, params: _at_bound(inputs[0], params.get("min"), params.get("max")),
    ties="at a bound of the interval: the interval is closed, so the engine passes the "
    "whole gradient there (as torch.clamp)",
    elementwise=True,
)


@tensor_function(CLIP)
def clip(x, min=None, max=None):
    """Clamp to [min, max]; ∂/∂x = 1 inside the closed interval, else 0."""
    if min is None and max is None:
        raise ValueError("clip: give at least one of min and max")
    return apply(CLIP, lift(x), min=min, max=max)
