"""Explain on click: the chain rule at one unit or one weight, for one training example.

For example ``i`` the page runs the engine's forward pass ``a_k = W_k h_{k-1} + b_k``,
``h_k = g(a_k)`` and one backward pass of that example's data loss ``L`` (``cr.grad``, so
no ``.grad`` of the training run is touched), keeping every ``∂L/∂a_k`` and ``∂L/∂h_k``.
The explanation then shows, with the engine's numbers:

* at a hidden unit j of layer k: the forward sum, ``h = g(a)``; the upstream gradient
  ``∂L/∂h_j = Σ_m W_{k+1}[m, j] δ_{k+1}[m]`` (its terms and the engine's total), the local
  derivative ``g'(a_j)`` (the engine's VJP of g at an upstream 1), and
  ``δ_j = ∂L/∂a_j = upstream × local``; ``∂L/∂W_k[j, :] = δ_j h_{k-1}ᵀ``;
* at an output unit: ``δ = ∂L/∂z_j`` (for cross-entropy ``softmax(z)_j − [y = j]``);
* at a weight ``W_k[j, i]``: ``∂L/∂W_k[j, i] = δ_k[j] · h_{k-1}[i]``, with the engine's
  gradient entry next to the product, and the step plain SGD would take from it.
"""

from __future__ import annotations

import numpy as np

from chainrule.autograd import grad, no_grad
from chainrule.tensor import Tensor

FEATURE_NAMES = {
    "x1": "x₁",
    "x2": "x₂",
    "x1^2": "x₁²",
    "x2^2": "x₂²",
    "x1*x2": "x₁x₂",
    "sin(x1)": "sin x₁",
    "sin(x2)": "sin x₂",
}


def _n(v) -> str:
    """A number for a formula: 4 significant digits, a true minus sign, negative numbers
    in parentheses so ``w·h`` terms read unambiguously."""
    text = f"{float(v):.4g}".replace("-", "−")
    return f"({text})" if text.startswith("−") else text


def _f(x) -> float:
    return float(np.asarray(x).reshape(()))


def _forward(session, index: int):
    """The graph of example ``index`` (a training row) and every gradient of its loss."""
    X, y = session.prepared.train
    if not 0 <= index < len(y):
        raise ValueError(f"explain: example must be 0..{len(y) - 1}, got {index}")
    model = session.model
    was_training = model.training
    model.eval()  # dropout off: the example's forward pass is deterministic
    try:
        x = Tensor(X[index : index + 1])
        out, hidden = model(x, return_hidden=True)
        loss = session.trainer.loss_fn(out, y[index : index + 1])
        linears = model.linears
        wanted = [out] + [t for h in hidden for t in (h.pre, h.post)]
        wanted += [p for lin in linears for p in (lin.weight, lin.bias) if p is not None]
        with np.errstate(all="ignore"):
            found = grad(loss, wanted, allow_unused=True)
    finally:
        model.train(was_training)
    g = dict(zip(map(id, wanted), found))

    def gof(t):
        v = g.get(id(t))
        return None if v is None else np.asarray(v.data, np.float64)

    layers = []  # one per Linear layer k = 1..L: a, h (None at the output), δ, ∂L/∂h
    for k, lin in enumerate(linears):
        if k < len(hidden):
            a, h = hidden[k].pre, hidden[k].post
            layers.append(
                {"a": a.data[0], "h": h.data[0], "delta": gof(a)[0], "dh": gof(h)[0], "pre": a}
            )
        else:
            layers.append({"a": out.data[0], "h": None, "delta": gof(out)[0], "dh": None})
        layers[-1]["W"] = np.asarray(lin.weight.data, np.float64)
        layers[-1]["dW"] = gof(lin.weight)
        layers[-1]["db"] = gof(lin.bias) if lin.bias is not None else None
    inputs = np.asarray(X[index], np.float64)
    example = {"index": index, "x": inputs, "y": y[index], "out": out.data[0]}
    example["loss"] = _f(loss.data)
    return example, layers


def hardest_example(session) -> int:
    """The training row with the largest loss now (the one worth explaining first)."""
    X, y = session.prepared.train
    model = session.model
    was_training = model.training
    model.eval()
    try:
        with no_grad(), np.errstate(all="ignore"):
            out = np.asarray(model(Tensor(X)).data, np.float64)
    finally:
        model.train(was_training)
    if session.data.task == "classification":
        z = out - out.max(axis=1, keepdims=True)
        per_row = np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]  # −log softmax
    else:
        per_row = (out[:, 0] - y) ** 2
    per_row = np.where(np.isfinite(per_row), per_row, np.inf)
    return int(np.argmax(per_row))


def _local_derivative(activation, a: float) -> float:
    """g'(a) from the engine: the VJP of the activation module at an upstream gradient 1."""
    leaf = Tensor(np.array([[a]]), requires_grad=True)
    (d,) = grad(activation(leaf).sum(), [leaf])
    return _f(d.data)


def _prev(example, layers, k):
    """h_{k-1}: the inputs of Linear layer k (0-based)."""
    return example["x"] if k == 0 else np.asarray(layers[k - 1]["h"], np.float64)


def _names(session, k):
    """Names of the inputs of Linear layer k (0-based): features, or h units."""
    if k == 0:
        return [FEATURE_NAMES[f] for f in session.data.features]
    return [f"h{k}[{i}]" for i in range(session.model.sizes[k])]


def _row(label, formula, value):
    return {"label": label, "formula": formula, "value": None if value is None else float(value)}


def explain_unit(session, layer: int, unit: int, example: int = 0) -> dict:
    """The chain rule at unit ``unit`` of layer ``layer`` (1-based; the last is the
    output layer) for training example ``example``."""
    ex, layers = _forward(session, example)
    n_layers = len(layers)
    if not 1 <= layer <= n_layers:
        raise ValueError(f"explain: layer must be 1..{n_layers}, got {layer}")
    k = layer - 1
    L = layers[k]
    if not 0 <= unit < len(L["a"]):
        raise ValueError(f"explain: layer {layer} has units 0..{len(L['a']) - 1}, got {unit}")
    h_prev, names = _prev(ex, layers, k), _names(session, k)
    W, b = L["W"], session.model.linears[k].bias
    bias = 0.0 if b is None else float(b.data[unit])
    a = float(L["a"][unit])
    terms = " + ".join(f"{_n(W[unit, i])}·{_n(h_prev[i])}" for i in range(len(h_prev)))
    rows = [
        _row(
            f"a = Σᵢ W{layer}[{unit},i]·{'x' if k == 0 else f'h{k}'}[i] + b",
            f"{terms} + {_n(bias)}",
            a,
        )
    ]
    out = {
        "kind": "unit",
        "layer": layer,
        "unit": unit,
        "example": example,
        "loss": ex["loss"],
        "a": a,
        "delta": float(L["delta"][unit]),
        "dW_row": [float(v) for v in L["dW"][unit]],
        "inputs": [float(v) for v in h_prev],
        "input_names": names,
    }
    if L["h"] is not None:  # a hidden unit: g, upstream from layer k+1, local, downstream
        act = session.model.activations[k]
        h = float(L["h"][unit])
        nxt = layers[k + 1]
        parts = [(float(nxt["W"][m, unit]), float(nxt["delta"][m])) for m in range(len(nxt["a"]))]
        upstream = float(L["dh"][unit])
        local = _local_derivative(act, a)
        out.update(
            h=h,
            upstream=upstream,
            upstream_terms=[{"w": w, "delta": d} for w, d in parts],
            upstream_sum=float(sum(w * d for w, d in parts)),
            local=local,
            product=upstream * local,
        )
        rows += [
            _row(f"h = {session.config.activation}(a)", f"{session.config.activation}({_n(a)})", h),
            _row(
                f"upstream ∂L/∂h = Σₘ W{layer + 1}[m,{unit}]·δ{layer + 1}[m]",
                " + ".join(f"{_n(w)}·{_n(d)}" for w, d in parts),
                upstream,
            ),
            _row(f"local ∂h/∂a = {session.config.activation}′(a)", f"at a = {_n(a)}", local),
            _row(
                "downstream δ = ∂L/∂a = upstream × local",
                f"{_n(upstream)} × {_n(local)}",
                out["delta"],
            ),
        ]
    else:
        delta = out["delta"]
        if session.data.task == "classification" and session.config.loss == "cross-entropy":
            z = np.asarray(ex["out"], np.float64)
            p = np.exp(z - z.max())
            p /= p.sum()
            onehot = 1.0 if int(ex["y"]) == unit else 0.0
            formula = f"softmax(z)[{unit}] − [y = {unit}] = {_n(p[unit])} − {onehot:g}"
            out["softmax"] = float(p[unit])
        else:
            formula = "∂L/∂z from the loss's own backward"
        rows += [_row(f"output z[{unit}] = a", "", a), _row("δ = ∂L/∂z", formula, delta)]
    rows.append(
        _row(
            f"∂L/∂W{layer}[{unit},:] = δ·{'x' if k == 0 else f'h{k}'}ᵀ",
            ", ".join(f"{_n(out['delta'])}·{_n(v)}" for v in h_prev),
            None,
        )
    )
    out["rows"] = rows
    out["title"] = (
        f"unit {unit} of {'the output layer' if L['h'] is None else f'hidden layer {layer}'}, "
        f"example {example}"
    )
    out["target"] = _target(session, ex)
    return out


def explain_weight(session, layer: int, to: int, frm: int, example: int = 0) -> dict:
    """The chain rule at weight ``W_layer[to, frm]`` (1-based ``layer``: the Linear layer
    whose input unit ``frm`` feeds its unit ``to``) for training example ``example``."""
    ex, layers = _forward(session, example)
    if not 1 <= layer <= len(layers):
        raise ValueError(f"explain: layer must be 1..{len(layers)}, got {layer}")
    k = layer - 1
    L = layers[k]
    W = L["W"]
    if not (0 <= to < W.shape[0] and 0 <= frm < W.shape[1]):
        raise ValueError(
            f"explain: W{layer} has shape {W.shape[0]}×{W.shape[1]}, no entry [{to}, {frm}]"
        )
    h_prev, names = _prev(ex, layers, k), _names(session, k)
    delta, h_in = float(L["delta"][to]), float(h_prev[frm])
    engine = float(L["dW"][to, frm])
    lr = session.config.resolved_lr()
    rows = [
        _row(f"weight W{layer}[{to},{frm}]", f"from {names[frm]} to unit {to}", W[to, frm]),
        _row(f"forward input {names[frm]}", "the value flowing into the weight", h_in),
        _row(f"δ{layer}[{to}] = ∂L/∂a", "the unit's error signal (engine)", delta),
        _row("∂L/∂W = δ · input", f"{_n(delta)} × {_n(h_in)}", delta * h_in),
        _row("∂L/∂W from the engine's backward", "W.grad of this example's loss", engine),
        _row("plain SGD step −lr·∂L/∂W", f"−{lr:g} × {_n(engine)}", -lr * engine),
    ]
    return {
        "kind": "weight",
        "layer": layer,
        "to": to,
        "from": frm,
        "example": example,
        "loss": ex["loss"],
        "weight": float(W[to, frm]),
        "input": h_in,
        "input_name": names[frm],
        "delta": delta,
        "product": delta * h_in,
        "grad": engine,
        "rows": rows,
        "title": f"weight W{layer}[{to},{frm}] ({names[frm]} → unit {to}), example {example}",
        "target": _target(session, ex),
    }


def _target(session, ex) -> dict:
    """The example itself: its point in the plane, network inputs, target and loss."""
    point = session.data.points[session.data.train[ex["index"]]]
    return {
        "point": [float(v) for v in point],
        "x": [float(v) for v in ex["x"]],
        "y": float(ex["y"]),
        "loss": ex["loss"],
        "output": [float(v) for v in np.asarray(ex["out"], np.float64)],
    }
