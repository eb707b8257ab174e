"""Arithmetic primitives: add, sub, mul, div, pow, neg — each with its wrapper under it.

Two of the gate patterns of backpropagation are visible in the VJPs below: ``add``
*distributes* the upstream gradient unchanged to both inputs (∂(x + y)/∂x = 1), and
``mul`` *switches* them: each input's gradient is the upstream gradient times the *other*
input (∂(x·y)/∂x = y).
"""

from __future__ import annotations

from chainrule.autograd.primitive import apply, defprimitive, tensor_function
from chainrule.backend import xp
from chainrule.ops.alignment import binary_operands
from chainrule.ops.operands import lift

ADD = defprimitive(
    "add",
    xp.add,
    lambda F, g, ans, x, y: g,
    lambda F, g, ans, x, y: g,
    pattern="distributes",
    saves=(),
    symbol="+",
    formula="{0} + {1}",
    local=("1", "1"),
    vjp=("{g}", "{g}"),
    elementwise=True,
    commutative=True,
    substitute=True,
)


@tensor_function(ADD)
def add(x, y):
    """x + y; ∂/∂x = ∂/∂y = 1, so both inputs get the upstream gradient unchanged."""
    return apply(ADD, *binary_operands("add", x, y))


SUB = defprimitive(
    "sub",
    xp.subtract,
    lambda F, g, ans, x, y: g,
    lambda F, g, ans, x, y: -g,
    pattern="distributes",
    saves=(),
    symbol="−",
    formula="{0} − {1}",
    local=("1", "−1"),
    vjp=("{g}", "−{g}"),
    elementwise=True,
    substitute=True,
    pattern_text=("", "distributes, with a sign: the subtracted input gets −(upstream gradient)"),
)


@tensor_function(SUB)
def sub(x, y):
    """x − y; ∂/∂x = 1, ∂/∂y = −1."""
    return apply(SUB, *binary_operands("sub", x, y))


MUL = defprimitive(
    "mul",
    xp.multiply,
    lambda F, g, ans, x, y: g * y,
    lambda F, g, ans, x, y: g * x,
    pattern="switches",
    saves=(0, 1),
    symbol="×",
    formula="{0} · {1}",
    local=("{1}", "{0}"),
    vjp=("{g} ⊙ {1}", "{g} ⊙ {0}"),
    elementwise=True,
    commutative=True,
    substitute=True,
)


@tensor_function(MUL)
def mul(x, y):
    """x · y; ∂/∂x = y, ∂/∂y = x (each input gets the upstream gradient times the other)."""
    return apply(MUL, *binary_operands("mul", x, y))


DIV = defprimitive(
    "div",
    xp.divide,
    lambda F, g, ans, x, y: g / y,
    lambda F, g, ans, x, y: -g * ans / y,  # -g x / y²
    saves=(1, "ans"),
    symbol="÷",
    formula="{0} / {1}",
    local=("1/{1}", "−{0}/{1}²"),
    local_values=("1/{1}", "−{0}/{1}²"),
    vjp=("{g} / {1}", "−{g} ⊙ {0}/{1}²"),
    domain="division by zero",
    elementwise=True,
    substitute=True,
)


@tensor_function(DIV)
def div(x, y):
    """x / y; ∂/∂x = 1/y, ∂/∂y = −x/y²."""
    return apply(DIV, *binary_operands("div", x, y))


def _number(c):
    """A constant in a formula: ``2``, ``0.5``, ``−1`` (the typographic minus)."""
    return format(c, ".4g").replace("-", "−")


def _pow_formula(args):
    """``x²`` for a literal exponent 2, else ``x^y``."""
    return f"{args[0]}²" if args[1] == "2" else f"{args[0]}^{args[1]}"


def _pow_local_base(args, constants):
    """∂(x^c)/∂x = c·x^(c−1), with c − 1 worked out when the exponent is a constant."""
    c = constants[1]
    if c is None:
        return f"{args[1]}·{args[0]}^({args[1]}−1)"
    if c - 1 == 1:
        return f"{args[1]}·{args[0]}"
    return f"{args[1]}·{args[0]}^{_number(c - 1)}"


POW = defprimitive(
    "pow",
    xp.power,
    lambda F, g, ans, x, y: g * y * x ** (y - 1),
    lambda F, g, ans, x, y: g * ans * F.log(x),
    saves=(0, 1, "ans"),
    symbol="**",
    formula=_pow_formula,
    local=(_pow_local_base, "{0}^{1}·ln {0}"),
    vjp=("{g} ⊙ {1}·{0}^({1}−1)", "{g} ⊙ {0}^{1}·ln {0}"),
    domain="a negative base with a fractional exponent is nan; 0 to a negative power is ∞",
    elementwise=True,
    substitute=True,
)


@tensor_function(POW)
def pow(x, y):
    """x ** y; ∂/∂x = y·x^(y−1), ∂/∂y = x^y·ln x."""
    return apply(POW, *binary_operands("pow", x, y))


NEG = defprimitive(
    "neg",
    xp.negative,
    lambda F, g, ans, x: -g,
    saves=(),
    symbol="−",
    formula="−{0}",
    local="−1",
    vjp="−{g}",
    elementwise=True,
    substitute=True,
)


@tensor_function(NEG)
def neg(x):
    """−x; ∂/∂x = −1."""
    return apply(NEG, lift(x))
