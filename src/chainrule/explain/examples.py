"""Worked examples of backpropagation, built in: ``chainrule explain --example NAME``.

Each example rebuilds one classic computation (the circuit f = (x + y)·z, a sigmoid
neuron, ‖W x‖², a 2-3-2 MLP with softmax + NLL) with chainrule and explains it; the
numbers are the textbook slides' own. All but ``mlp`` are expressions, so each is also a plain
``chainrule explain EXPR --at VALUES`` command (``--list`` prints them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chainrule.explain import fmt
from chainrule.explain.expression import explain_expression
from chainrule.explain.network import add_delta_rule_note, formulas, network_graph
from chainrule.explain.network import delta_rule as network_delta_rule
from chainrule.explain.record import explain
from chainrule.nn.activation import Sigmoid


@dataclass(frozen=True)
class Example:
    name: str
    description: str
    expression: str | None = None
    values: str | None = None
    # what the slide says: name -> value, for the docs and the tests
    expected: dict = field(default_factory=dict)

    def command(self):
        if self.expression is None:
            return None
        return f'chainrule explain "{self.expression}" --at "{self.values}"'

    def explain(self, precision=4):
        builder = _BUILDERS.get(self.name)
        if builder is not None:
            return builder(self, precision)
        expl = explain_expression(self.expression, self.values, precision=precision)
        expl.title = f"Example {self.name}: {self.description}"
        expl.subtitle = f"{self.expression}   at {self.values}"
        return expl


EXAMPLES = {
    e.name: e
    for e in [
        Example(
            "add-mul",
            "the first circuit, f = (x + y)·z (add distributes, multiply switches)",
            "q = x + y; f = q * z",
            "x=-2, y=5, z=-4",
            {"f": -12.0, "q": 3.0, "∂f/∂x": -4.0, "∂f/∂y": -4.0, "∂f/∂z": 3.0},
        ),
        Example(
            "sigmoid-neuron",
            "a neuron f = σ(w0·x0 + w1·x1 + b), with σ' = (1 − σ)σ",
            "f = sigmoid(w0*x0 + w1*x1 + b)",
            "w0=2, x0=-1, w1=-3, x1=-2, b=-3",
            {
                "f": 0.7311,
                "∂f/∂w0": -0.1966,
                "∂f/∂x0": 0.3932,
                "∂f/∂w1": -0.3932,
                "∂f/∂x1": -0.5898,
                "∂f/∂b": 0.1966,
            },
        ),
        Example(
            "sigmoid-gates",
            "the same neuron with σ taken apart into −·, exp, +1 and 1/x gates",
            "f = 1 / (1 + exp(-(w0*x0 + w1*x1 + b)))",
            "w0=2, x0=-1, w1=-3, x1=-2, b=-3",
            {
                "f": 0.7311,
                "∂f/∂w0": -0.1966,
                "∂f/∂x0": 0.3932,
                "∂f/∂w1": -0.3932,
                "∂f/∂x1": -0.5898,
                "∂f/∂b": 0.1966,
            },
        ),
        Example(
            "max-gate",
            "f = 2(x·y + max(z, w)): add distributes, mul switches, max routes",
            "f = 2 * (x*y + max(z, w))",
            "x=3, y=-4, z=2, w=-1",
            {"f": -20.0, "∂f/∂x": -8.0, "∂f/∂y": 6.0, "∂f/∂z": 2.0, "∂f/∂w": 0.0},
        ),
        Example(
            "branches",
            "f = x·y + x: x is used twice, so its branches add in the backward pass",
            "f = x*y + x",
            "x=3, y=-4",
            {"f": -9.0, "∂f/∂x": -3.0, "∂f/∂y": 3.0},
        ),
        Example(
            "norm-Wx",
            "f = ‖W·x‖², with ∇W f = 2q·xᵀ and ∇x f = 2Wᵀ·q",
            "q = dot(W, x); f = sum(q**2)",
            "W=[[0.1,0.5],[-0.3,0.8]], x=[[0.2],[0.4]]",
            {"f": 0.116, "∂f/∂W": [[0.088, 0.176], [0.104, 0.208]], "∂f/∂x": [[-0.112], [0.636]]},
        ),
        Example(
            "mlp",
            "a 2-3-2 MLP on one example: the delta rule δk = Wkᵀ δk+1 • g'(ak), "
            "by hand and by the engine",
        ),
    ]
}


def get(name):
    """The example called ``name``; a ValueError lists the known ones."""
    try:
        return EXAMPLES[name]
    except KeyError:
        raise ValueError(
            f"unknown example {name!r}; known examples: {', '.join(EXAMPLES)} "
            "(chainrule explain --list describes them)"
        ) from None


def listing():
    """One line per example: name, description, and the equivalent command."""
    width = max(len(n) for n in EXAMPLES)
    lines = []
    for e in EXAMPLES.values():
        lines.append(f"{e.name:<{width}}  {e.description}")
        if e.command():
            lines.append(f"{'':<{width}}    {e.command()}")
    return "\n".join(lines)


# ---------------------------------------------------------------------- norm-Wx
def _norm_wx(example, precision):
    expl = explain_expression(example.expression, example.values, precision=precision)
    expl.title = f"Example {example.name}: {example.description}"
    expl.subtitle = f"{example.expression}   at {example.values}"
    W, x, q = expl.values["W"], expl.values["x"], expl.values["q"]
    by_hand = {"W": 2 * q @ x.T, "x": 2 * W.T @ q}
    p = precision
    lines = ["The slide's closed forms, computed in NumPy, next to the engine's gradients:"]
    for name, formula in (("W", "2q·xᵀ"), ("x", "2Wᵀ·q")):
        hand, engine = by_hand[name], expl.gradients[name]
        ok = "✓ agree" if np.allclose(hand, engine, rtol=1e-12, atol=1e-15) else "✗ DIFFER"
        lines.append(f"∇{name} f = {formula} = {fmt.array(hand, p)}")
        lines.append(f"{' ' * (len(name) + 4)} engine   {fmt.array(engine, p)}   {ok}")
    expl.add_note("∇W f = 2q·xᵀ and ∇x f = 2Wᵀq", lines)
    return expl


# ---------------------------------------------------------------------- mlp
MLP_PARAMS = {
    # h_{k+1} = σ(W_k h_k + b_k), column vectors as on the slides; label: class 1
    "x": [[1.0], [-2.0]],
    "W0": [[0.1, -0.2], [0.4, 0.3], [-0.5, 0.2]],
    "b0": [[0.1], [-0.1], [0.2]],
    "W1": [[0.3, -0.6, 0.2], [-0.4, 0.5, 0.1]],
    "b1": [[0.0], [0.1]],
    "y": [[0.0], [1.0]],
}


def _mlp_layers():
    P = {k: np.array(v) for k, v in MLP_PARAMS.items()}
    return [
        ("linear", P["W0"], P["b0"]),
        ("activation", Sigmoid()),
        ("linear", P["W1"], P["b1"]),
    ]


def mlp_graph():
    """The 2-3-2 network of the ``mlp`` example, built with chainrule ops.

    Returns ``(L, leaves)``: the loss ``L = −Σ_j y_j log p_j`` with ``p = softmax(a2)``,
    and the named leaf tensors (the data ``x`` and one-hot ``y`` do not require grad).
    """
    L, leaves, _ = network_graph(
        _mlp_layers(), np.array(MLP_PARAMS["x"]), MLP_PARAMS["y"], loss="nll", columns=True
    )
    return L, leaves


def delta_rule(values):
    """The slides' three steps in plain NumPy (no chainrule): ``{name: array}``
    (:func:`chainrule.explain.network.delta_rule` on the ``mlp`` example's network)."""
    _, _, plan = network_graph(
        _mlp_layers(), np.array(MLP_PARAMS["x"]), MLP_PARAMS["y"], loss="nll", columns=True
    )
    return network_delta_rule(plan, values, MLP_PARAMS["y"], loss="nll", columns=True)


def _mlp(example, precision):
    layers = _mlp_layers()
    L, _, plan = network_graph(
        layers, np.array(MLP_PARAMS["x"]), MLP_PARAMS["y"], loss="nll", columns=True
    )
    title = f"Example {example.name}: {example.description}"
    subtitle = f"{formulas(plan, 'nll', True)}   (one example, label y = class 1)"
    expl = explain(L, precision=precision, title=title, subtitle=subtitle)
    add_delta_rule_note(expl, plan, MLP_PARAMS["y"], loss="nll", columns=True)
    return expl


_BUILDERS = {"norm-Wx": _norm_wx, "mlp": _mlp}
