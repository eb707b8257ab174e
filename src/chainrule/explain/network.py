"""A network on one example, explained: the delta rule by hand next to the engine.

A chain of layers ``h_0 = x``, ``a_{k+1} = W_k h_k + b_k``, ``h_{k+1} = g(a_{k+1})`` with a
loss ``L`` on top is built with chainrule ops on named leaves (``W0``, ``b0``, ``a1``,
``h1``, …), explained by :func:`~chainrule.explain.record.explain` (the engine's own
backward pass), and followed by a note that computes backpropagation's three steps in
plain NumPy, no autodiff, next to the engine's numbers:

1. the error in the top layer, ``δK = ∂L/∂aK`` (``p − y`` for softmax + NLL);
2. the weight gradients, ``∂L/∂Wk = δk+1 · hkᵀ`` and ``∂L/∂bk = δk+1``;
3. the error one layer down, ``δk = Wkᵀ δk+1 • g'(ak)``.

Two layouts: ``columns`` (``W·h + b`` on column vectors, as on the lecture's slides — the
``mlp`` example) and rows (``h·Wᵀ + b`` on a row, as ``nn.Linear`` computes — any chainrule
or imported PyTorch model: :func:`explain_model`, ``chainrule explain --model FILE``).
"""

from __future__ import annotations

import math

import numpy as np

from chainrule.creation import tensor
from chainrule.explain import fmt
from chainrule.explain.record import explain
from chainrule.interop.layers import named_chain
from chainrule.nn import activation as A
from chainrule.nn.functional import cross_entropy, mse_loss
from chainrule.nn.linear import Identity, Linear
from chainrule.ops import linear, log_softmax
from chainrule.ops.labels import class_labels

LOSSES = ("nll", "cross-entropy", "mse")
# symbol in formulas, and the derivative in words (for step 3)
_ACTIVATIONS = {
    A.Sigmoid: ("σ", lambda m: "σ' = (1 − σ)σ"),
    A.Tanh: ("tanh", lambda m: "tanh' = 1 − tanh²"),
    A.ReLU: ("relu", lambda m: "relu'(a) = 1 where a > 0, else 0"),
    A.LeakyReLU: (
        "leaky_relu",
        lambda m: f"leaky_relu'(a) = 1 where a > 0, else {m.negative_slope:g}",
    ),
    A.ELU: ("elu", lambda m: f"elu'(a) = 1 where a > 0, else α·eᵃ (α = {m.alpha:g})"),
    A.GELU: (
        "gelu",
        lambda m: (
            "gelu'(a) = Φ(a) + a·φ(a)"
            if m.approximate == "none"
            else "gelu' of the tanh approximation"
        ),
    ),
    A.Softmax: ("softmax", lambda m: "softmax's Jacobian: J·g = s ⊙ (g − Σ g ⊙ s)"),
    A.LogSoftmax: ("log_softmax", lambda m: "log_softmax's Jacobian: J·g = g − softmax(a)·Σ g"),
}


def _named(t, name):
    t.name = name
    return t


def network_graph(layers, x, target, *, loss="cross-entropy", columns=False):
    """Build ``L`` for ``layers`` — ``[("linear", W, b or None)`` or ``("activation",
    module)]`` in forward order — on the one example ``x``.

    ``target``: a one-hot ``y`` for ``"nll"`` (``L = −Σ y·log softmax(out)``), a class
    index for ``"cross-entropy"`` (fused softmax + NLL), the target values for ``"mse"``.
    Returns ``(L, leaves, plan)``: the loss, the named leaves, and the steps with the names
    of their inputs and outputs (what the hand computation and the note read).
    """
    if loss not in LOSSES:
        raise ValueError(f"explain: unknown loss {loss!r}; choose from {', '.join(LOSSES)}")
    h = tensor(np.asarray(x, dtype=np.float64), dtype=np.float64)
    h.name = "x"
    leaves = {"x": h}
    plan, k = [], 0
    for layer in layers:
        if layer[0] == "linear":
            _, weight, bias = layer
            W = _named(tensor(np.asarray(weight, dtype=np.float64), requires_grad=True), f"W{k}")
            b = None
            if bias is not None:
                b = tensor(np.asarray(bias, dtype=np.float64), requires_grad=True)
                b = _named(b, f"b{k}")
            leaves[W.name] = W
            if b is not None:
                leaves[b.name] = b
            step = {"kind": "linear", "k": k, "W": W.name, "input": h.name}
            step["b"] = None if b is None else b.name
            if columns:
                a = _named(W @ h, f"W{k}h{k}")
                if b is not None:
                    a = a + b
            else:
                a = linear(h, W, b)
            h = _named(a, f"a{k + 1}")
            step["out"] = h.name
            k += 1
        else:
            module = layer[1]
            previous = plan[-1]["out"] if plan else "x"
            base = f"h{k}"  # a second activation after one layer: h1_2
            repeats = sum(s["out"] == base or s["out"].startswith(f"{base}_") for s in plan)
            name = f"{base}_{repeats + 1}" if repeats else base
            step = {"kind": "activation", "module": module, "input": previous}
            h = _named(module(h), name)
            step["out"] = name
        plan.append(step)
    out = h
    if loss == "nll":
        y = _named(tensor(np.asarray(target, dtype=np.float64)), "y")
        leaves["y"] = y
        logp = _named(log_softmax(out, axis=0 if columns else -1), "logp")
        ylogp = _named(y * logp, "ylogp")
        s = _named(ylogp.sum(), "s")
        L = _named(-s, "L")
    elif loss == "cross-entropy":
        L = _named(cross_entropy(out, np.asarray(target).reshape(-1)), "L")
    else:
        target = np.asarray(target, dtype=np.float64).reshape(out.shape)
        L = _named(mse_loss(out, tensor(target)), "L")
    return L, leaves, plan


# --- the delta rule, by hand ----------------------------------------------------------------
def _softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _through(module, a, h, g):
    """``∂L/∂a`` from ``g = ∂L/∂h`` for ``h = module(a)``, by the derivative's formula."""
    kind = type(module)
    if kind is A.Sigmoid:
        return g * h * (1 - h)
    if kind is A.Tanh:
        return g * (1 - h * h)
    if kind is A.ReLU:
        return g * (a > 0)
    if kind is A.LeakyReLU:
        return g * np.where(a > 0, 1.0, module.negative_slope)
    if kind is A.ELU:
        return g * np.where(a > 0, 1.0, h + module.alpha)  # α·eᵃ = h + α where a ≤ 0
    if kind is A.GELU:
        if module.approximate == "none":
            cdf = 0.5 * (1 + np.vectorize(math.erf)(a / math.sqrt(2)))
            return g * (cdf + a * np.exp(-0.5 * a * a) / math.sqrt(2 * math.pi))
        c = math.sqrt(2 / math.pi)
        t = np.tanh(c * (a + 0.044715 * a**3))
        return g * (0.5 * (1 + t) + 0.5 * a * (1 - t * t) * c * (1 + 3 * 0.044715 * a * a))
    if kind is A.Softmax:
        return h * (g - (g * h).sum(axis=module.dim, keepdims=True))
    if kind is A.LogSoftmax:
        return g - np.exp(h) * g.sum(axis=module.dim, keepdims=True)
    raise TypeError(f"explain: no hand derivative for {kind.__name__}")  # pragma: no cover


def delta_rule(plan, values, target, *, loss, columns):
    """Backpropagation in plain NumPy: ``{node name: ∂L/∂node}`` for every pre-activation
    ``a_k`` (the errors δk) and every ``W_k``, ``b_k``, plus ``p`` (softmax losses)."""
    out = plan[-1]["out"]
    z = values[out]
    hand = {}
    if loss == "mse":
        g = 2 * (z - np.asarray(target, dtype=np.float64).reshape(z.shape)) / z.size
    else:
        axis = 0 if columns else -1
        p = _softmax(z, axis)
        if loss == "nll":
            y = np.asarray(target, dtype=np.float64)
        else:
            y = np.zeros_like(z)
            y[0, int(np.asarray(target).reshape(-1)[0])] = 1.0
        hand["p"] = p
        g = (p - y) / (1 if loss == "nll" else z.shape[0])  # the mean over one example
    for step in reversed(plan):
        if step["kind"] == "activation":
            g = _through(step["module"], values[step["input"]], values[step["out"]], g)
            continue
        hand[step["out"]] = g
        W, h = values[step["W"]], values[step["input"]]
        hand[step["W"]] = g @ h.T if columns else g.T @ h
        if step["b"]:
            hand[step["b"]] = g if columns else g.sum(axis=0)
        g = W.T @ g if columns else g @ W
    return hand


# --- the note -------------------------------------------------------------------------------
def _h(step):
    return "h0" if step["input"] == "x" else step["input"]


def _rows(plan, loss, columns):
    """``(formula, node, comment)`` for each line of the note, top layer first."""
    linears = [s for s in plan if s["kind"] == "linear"]
    top = linears[-1]
    K = top["k"] + 1
    after = [s["module"] for s in plan[plan.index(top) + 1 :]]
    if loss == "mse":
        first = (
            f"δ{K} = ∂L/∂a{K} = 2(a{K} − y)/n",
            "1. error in the top layer (mean squared error)",
        )
    else:
        first = (f"δ{K} = ∂L/∂a{K} = p − y", "1. error in the top layer (softmax + NLL)")
    if after:
        names = ", ".join(_ACTIVATIONS[type(m)][0] for m in after)
        first = (f"δ{K} = ∂L/∂a{K}", f"1. error in the top layer, back through {names}")
    rows = [(first[0], top["out"], first[1])]
    for i in range(len(linears) - 1, -1, -1):
        step = linears[i]
        k, h, d = step["k"], _h(step), f"δ{step['k'] + 1}"
        again = (
            "2. weight gradient of the top layer"
            if i == len(linears) - 1
            else ("2. again, one layer down" + (" (h0 = x)" if k == 0 else ""))
        )
        rows.append(
            (f"∂L/∂W{k} = {d}·{h}ᵀ" if columns else f"∂L/∂W{k} = {d}ᵀ·{h}", step["W"], again)
        )
        if step["b"]:
            rows.append((f"∂L/∂b{k} = {d}", step["b"], ""))
        if i == 0:
            break
        below = linears[i - 1]
        between = [s["module"] for s in plan[plan.index(below) + 1 : plan.index(step)]]
        back = f"W{k}ᵀ·{d}" if columns else f"{d}·W{k}"
        if not between:
            rows.append(
                (
                    f"δ{k} = {back}",
                    below["out"],
                    "3. backpropagate the error (no activation: g' = 1)",
                )
            )
            continue
        symbols = [_ACTIVATIONS[type(m)][0] for m in between]
        g = symbols[0] if len(symbols) == 1 else "(" + "∘".join(reversed(symbols)) + ")"
        words = "; ".join(_ACTIVATIONS[type(m)][1](m) for m in between)
        if all(type(m) not in (A.Softmax, A.LogSoftmax) for m in between):
            formula = f"δ{k} = {back} • {g}'(a{k})"
        else:
            formula = f"δ{k} = J_{g}(a{k})ᵀ·({back})"
        rows.append((formula, below["out"], f"3. backpropagate the error, {words}"))
    return rows


def add_delta_rule_note(expl, plan, target, *, loss, columns):
    """The delta rule by hand, each step next to the engine's number (✓ agree / ✗ DIFFER)."""
    hand = delta_rule(plan, expl.values, target, loss=loss, columns=columns)
    p = expl.precision
    lines = [
        "The delta rule of backpropagation, computed by hand in NumPy (no autodiff), next to the",
        "engine's gradients from the backward pass above:",
    ]
    if "p" in hand:
        lines += ["", f"p = softmax({plan[-1]['out']}) = {fmt.array(hand['p'], p)}"]
    for formula, key, comment in _rows(plan, loss, columns):
        if comment:
            lines.append("")
            lines.append(comment)
        h, g = hand[key], expl.gradients[key]
        ok = "✓ agree" if np.allclose(h, g, rtol=1e-12, atol=1e-15) else "✗ DIFFER"
        lines.append(f"  {formula}")
        lines.append(f"      by hand  {fmt.array(h, p)}")
        lines.append(f"      engine   {fmt.array(g, p)}   {ok}")
    if columns:
        title = "The delta rule by hand (δK, ∂L/∂Wk = δk+1·hkᵀ, δk = Wkᵀδk+1 • g'(ak))"
    else:
        title = "The delta rule by hand (δK, ∂L/∂Wk = δk+1ᵀ·hk, δk = δk+1·Wk • g'(ak))"
    expl.add_note(title, lines)
    return hand


def formulas(plan, loss, columns):
    """``h0 = x, a1 = W0·h0 + b0, h1 = σ(a1), …, L = …``: the network in one line."""
    parts = ["h0 = x"]
    for step in plan:
        if step["kind"] == "linear":
            k, h = step["k"], _h(step)
            product = f"W{k}·{h}" if columns else f"{h}·W{k}ᵀ"
            bias = f" + {step['b']}" if step["b"] else ""
            parts.append(f"{step['out']} = {product}{bias}")
        else:
            symbol = _ACTIVATIONS[type(step["module"])][0]
            parts.append(f"{step['out']} = {symbol}({step['input']})")
    out = plan[-1]["out"]
    parts.append(
        {
            "nll": f"L = −Σ y·log softmax({out})",
            "cross-entropy": f"L = cross_entropy({out}, y)",
            "mse": f"L = mean(({out} − y)²)",
        }[loss]
    )
    return ", ".join(parts)


# --- a model --------------------------------------------------------------------------------
def model_layers(model):
    """``(layers, names)``: the model's chain as :func:`network_graph` takes it (Dropout
    and Identity left out: the eval-mode forward) and ``{"W0": "0.weight", ...}``."""
    layers, names, k = [], {}, 0
    for where, layer in named_chain(model, "explain"):
        if type(layer) is Linear:
            bias = None if layer.bias is None else layer.bias.data
            layers.append(("linear", layer.weight.data, bias))
            prefix = f"{where}." if where else ""
            names[f"W{k}"] = f"{prefix}weight"
            if bias is not None:
                names[f"b{k}"] = f"{prefix}bias"
            k += 1
        elif type(layer) not in (A.Dropout, Identity):
            layers.append(("activation", layer))
    if not k:
        raise TypeError("explain: the model has no Linear layer")
    return layers, names


def explain_model(
    model, x, target=None, *, loss="cross-entropy", precision=4, title=None, note=None
):
    """Explain ``model`` (an MLP or Sequential of Linear and activation layers: a chainrule
    model or one from ``cr.nn.from_torch``) on the one example ``x``, in float64.

    ``target``: the class index (``loss="cross-entropy"``; default: the model's predicted
    class) or the target values (``"mse"``). The weights become leaves ``W0, b0, W1, …``
    (the subtitle says which parameter each is; :func:`model_layers` gives the mapping),
    so ``expl.gradients["W0"]`` is ``∂L/∂`` the first Linear's weight. ``note``: text
    appended to the subtitle (where the model and the example came from).
    """
    if loss not in ("cross-entropy", "mse"):
        raise ValueError(f"explain: loss must be 'cross-entropy' or 'mse', got {loss!r}")
    layers, names = model_layers(model)
    row = np.asarray(x, dtype=np.float64).reshape(1, -1)
    n_in = layers[0][1].shape[1]
    if row.shape[1] != n_in:
        raise ValueError(
            f"explain: the example has {row.shape[1]} features, the model takes {n_in}"
        )
    chosen = ""
    if target is None:
        if loss != "cross-entropy":
            raise ValueError("explain: give the target values for the mse loss")
        L0, _, _ = network_graph(layers, row, 0, loss=loss)
        logits = L0.parents[0].data  # the model's output, under the loss
        target, chosen = int(np.argmax(logits)), " (the model's prediction)"
    if loss == "cross-entropy":
        n_out = [s for s in layers if s[0] == "linear"][-1][1].shape[0]
        outputs = f"a model with {n_out} outputs"
        target = int(class_labels("explain", np.array([target]), n_out, classes=outputs)[0])
    L, _, plan = network_graph(layers, row, target, loss=loss)
    label = f"label y = class {target}{chosen}" if loss == "cross-entropy" else "target y"
    mapping = ", ".join(f"{leaf} = {param}" for leaf, param in names.items())
    subtitle = f"{formulas(plan, loss, False)}   (one example, {label}; {mapping}"
    subtitle += f"; {note})" if note else ")"
    expl = explain(
        L,
        precision=precision,
        title=title or f"Explaining {type(model).__name__} on one example",
        subtitle=subtitle,
    )
    add_delta_rule_note(expl, plan, target, loss=loss, columns=False)
    return expl


__all__ = [
    "add_delta_rule_note",
    "delta_rule",
    "explain_model",
    "formulas",
    "model_layers",
    "network_graph",
]
