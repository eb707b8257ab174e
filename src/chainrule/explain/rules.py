"""What each primitive means, in words: the lecture's notation, one row per op.

The engine does the arithmetic; this table only *writes it down*. For every primitive:

* ``symbol``: the label of its node in the picture (``+``, ``×``, ``max``, ``σ``);
* ``forward``: how the forward step reads (``{0} + {1}``, with input names filled in);
* ``local``: the local derivative ∂out/∂input_i as text (``{0}``, ``{1}`` are the input
  names, ``{out}`` the output's); for elementwise ops it is also the value the narration
  prints, and that value comes from the engine's own VJP evaluated at an upstream 1;
* ``vjp``: the vector-Jacobian product for tensors, with ``{g}`` the upstream gradient —
  the lecture's ``∇x z = (∂y/∂x)ᵀ ∇y z``;
* ``elementwise``: whether the local derivative is a plain elementwise factor.

The *gate pattern* comes from the engine itself (``Primitive.pattern``); :data:`PATTERNS`
turns it into a sentence. An op missing from the table (a user's own primitive) still
gets narrated, with generic wording.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    symbol: str
    forward: str
    local: tuple = ()
    vjp: tuple = ()
    elementwise: bool = False
    commutative: bool = False


RULES = {
    # arithmetic ------------------------------------------------------------------
    "add": Rule("+", "{0} + {1}", ("1", "1"), ("{g}", "{g}"), True, True),
    "sub": Rule("−", "{0} − {1}", ("1", "−1"), ("{g}", "−{g}"), True),
    "mul": Rule("×", "{0} · {1}", ("{1}", "{0}"), ("{g} ⊙ {1}", "{g} ⊙ {0}"), True, True),
    "div": Rule("÷", "{0} / {1}", ("1/{1}", "−{0}/{1}²"), ("{g} / {1}", "−{g} ⊙ {0}/{1}²"), True),
    "pow": Rule(
        "**",
        "{0}^{1}",
        ("{1}·{0}^({1}−1)", "{0}^{1}·ln {0}"),
        ("{g} ⊙ {1}·{0}^({1}−1)", "{g} ⊙ {0}^{1}·ln {0}"),
        True,
    ),
    "neg": Rule("−", "−{0}", ("−1",), ("−{g}",), True),
    # functions -------------------------------------------------------------------
    "exp": Rule("exp", "exp({0})", ("e^{0}",), ("{g} ⊙ e^{0}",), True),
    "log": Rule("log", "log({0})", ("1/{0}",), ("{g} / {0}",), True),
    "sqrt": Rule("√", "√{0}", ("1/(2√{0})",), ("{g} / (2√{0})",), True),
    "abs": Rule("|·|", "|{0}|", ("sign({0})",), ("{g} ⊙ sign({0})",), True),
    "tanh": Rule("tanh", "tanh({0})", ("1 − tanh²({0})",), ("{g} ⊙ (1 − {out}²)",), True),
    "sigmoid": Rule("σ", "σ({0})", ("(1 − σ)σ",), ("{g} ⊙ (1 − σ)σ",), True),
    "relu": Rule(
        "relu", "relu({0})", ("1 if {0} > 0, else 0",), ("{g} where {0} > 0, else 0",), True
    ),
    "leaky_relu": Rule(
        "lrelu", "leaky_relu({0})", ("1 if {0} > 0, else α",), ("{g} ⊙ (1 or α)",), True
    ),
    "maximum": Rule(
        "max",
        "max({0}, {1})",
        ("1 if {0} > {1}, else 0", "1 if {1} > {0}, else 0"),
        ("{g} where {0} > {1}, else 0", "{g} where {1} > {0}, else 0"),
        True,
        True,
    ),
    "where": Rule(
        "where",
        "where({0}, {1}, {2})",
        ("", "1 where {0}, else 0", "0 where {0}, else 1"),
        ("", "{g} where {0}, else 0", "{g} where not {0}, else 0"),
        True,
    ),
    "clip": Rule(
        "clip", "clip({0})", ("1 inside the interval, else 0",), ("{g} inside, else 0",), True
    ),
    "astype": Rule("cast", "{0} as {dtype}", ("1",), ("{g} cast back",), True),
    # reductions --------------------------------------------------------------------
    "sum": Rule("Σ", "Σ {0}", ("1",), ("{g} copied to every element of {0}",)),
    "max": Rule(
        "max",
        "max({0})",
        ("1 for the largest element, else 0",),
        ("{g} to the largest element of {0}, 0 elsewhere",),
    ),
    "logsumexp": Rule("lse", "log Σ e^{0}", ("softmax({0})",), ("{g} ⊙ softmax({0})",)),
    # linear algebra ------------------------------------------------------------------
    "matmul": Rule("@", "{0} @ {1}", ("", ""), ("{g} · {1}ᵀ", "{0}ᵀ · {g}")),
    "linear": Rule(
        "linear",
        "{0} @ {1}ᵀ + {2}",
        ("", "", ""),
        ("{g} · {1}", "{g}ᵀ · {0}", "Σ_rows {g}"),
    ),
    # shapes --------------------------------------------------------------------------
    "reshape": Rule("reshape", "reshape({0})", ("1",), ("{g} reshaped like {0}",)),
    "transpose": Rule("ᵀ", "{0}ᵀ", ("",), ("{g}ᵀ",)),
    "broadcast_to": Rule("copy", "broadcast({0})", ("1",), ("Σ {g} over the copies",)),
    "sum_to": Rule("Σ", "sum_to({0})", ("1",), ("{g} copied back",)),
    "getitem": Rule("[ ]", "{0}[…]", ("1",), ("{g} put back at the picked positions",)),
    "scatter_add": Rule("scatter", "scatter_add({0})", ("1",), ("{g} at the indices",)),
    "concatenate": Rule("concat", "concat(…)", (), ("this input's slice of {g}",)),
    "stack": Rule("stack", "stack(…)", (), ("this input's slice of {g}",)),
    # fused classifier ops ------------------------------------------------------------
    "softmax": Rule("softmax", "softmax({0})", ("",), ("{out} ⊙ ({g} − Σ {g} ⊙ {out})",)),
    "log_softmax": Rule("log_softmax", "log_softmax({0})", ("",), ("{g} − softmax({0}) · Σ {g}",)),
    "cross_entropy": Rule(
        "xent",
        "cross_entropy({0}, labels)",
        ("",),
        ("(softmax({0}) − onehot(labels)) · {g} / N",),
    ),
}

# the engine's Primitive.pattern, in the lecture's words
PATTERNS = {
    "distributes": "distributes: every input gets the upstream gradient unchanged",
    "switches": "switches: each input's gradient is the upstream gradient times the other input",
    "routes": "routes: only the input that won gets the gradient; the other gets 0",
    "gates": "gates: the gradient passes where the input was positive, and is 0 elsewhere",
    "copies": "copies: the forward copied its input, so backward the copies' gradients add up",
    "adds": "adds: the forward summed copies, so backward copies the gradient back",
}

PATTERN_OVERRIDES = {
    ("sub", 1): "distributes, with a sign: the subtracted input gets −(upstream gradient)",
    ("sum", 0): "distributes: every element gets the upstream gradient unchanged",
    ("max", 0): "routes: only the largest element gets the gradient; the others get 0",
    ("where", 1): "routes: the gradient goes to the side that was chosen",
    ("where", 2): "routes: the gradient goes to the side that was chosen",
}


def rule(op_name):
    """The row for ``op_name``, or a generic one for ops not in the table."""
    r = RULES.get(op_name)
    if r is not None:
        return r
    return Rule(op_name, op_name + "({args})", (), ())


# what to say on an edge of an op without a gate pattern, when a plain
# "upstream × local derivative" would say too little
OP_SENTENCES = {
    "reshape": "reshape keeps the numbers and changes the shape; the gradient is reshaped back",
    "expand_dims": "the gradient is reshaped back",
    "squeeze": "the gradient is reshaped back",
    "transpose": "transpose: the gradient is transposed back",
    "matmul": "matmul: each side gets the upstream gradient times the other side, transposed",
    "linear": "linear (x·Wᵀ + b): the matrix product's rule for x and W, and b sums the rows",
    "log_softmax": "log_softmax: with the NLL loss above it, this gives p − y",
    "softmax": "softmax: p ⊙ (upstream − Σ upstream ⊙ p)",
    "cross_entropy": "softmax + negative log-likelihood, fused: the gradient is (p − y) / N",
    "astype": "a dtype cast: the gradient is cast back",
}


def pattern_sentence(op_name, pattern, index):
    """``"add distributes: every input gets ..."`` — or None when the op has no pattern."""
    if pattern is None:
        return OP_SENTENCES.get(op_name)
    text = PATTERN_OVERRIDES.get((op_name, index)) or PATTERNS.get(pattern, pattern)
    return f"{DISPLAY_NAMES.get(op_name, op_name)} {text}"


# how the lecture calls an op when it names its pattern ("max routes", not "maximum")
DISPLAY_NAMES = {"maximum": "max"}
