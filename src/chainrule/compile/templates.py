"""NumPy templates of the primitives for ``step.source()``: each writes the NumPy calls
its primitive's own forward or VJP makes, in their order, so the printed source computes
the same bits (tests/compile/test_compile_source.py holds every template to the replay).

``FORWARD[name](out, ins, params, c)`` and ``VJP[name](out, i, g, ans, ins, params, c)``
return the lines, or None for a case they do not cover; ``c`` is the renderer (names,
shapes, constants). A primitive without a template is printed as a call of its
registered function instead.
"""

from __future__ import annotations

from chainrule.ops.operands import keepdims_shape


# fwd(out, ins, params, c) / vjp(out, i, g, ans, ins, params, c) -> lines, or None when
# the case is not covered (then the primitive's own function is called instead).
def _fwd_linear(out, ins, params, c):
    x, w, b = ins
    return [f"{out} = {x} @ {w}.T", f"{out} += {b}"]


def _fwd_cross_entropy(out, ins, params, c):
    x, labels = ins[0], c.expr(params["labels"])
    n = c.shape(0)[0]
    red = params.get("reduction", "mean")
    z, losses = c.temp("z"), c.temp("losses")
    lines = [
        f"{z} = {x} - {x}.max(axis=1, keepdims=True)",
        f"{losses} = np.log(np.exp({z}).sum(axis=1)) - {z}[np.arange({n}), {labels}]",
    ]
    if red == "none":
        return [*lines, f"{out} = {losses}"]
    total = f"{losses}.sum() / {n}" if red == "mean" else f"{losses}.sum()"
    return [*lines, f"{out} = np.asarray({total})"]


def _fwd_sigmoid(out, ins, params, c):
    (x,) = ins
    e = c.temp("e")
    return [
        f"{e} = np.exp(-np.abs({x}))",
        f"{out} = np.where({x} >= 0, 1 / (1 + {e}), {e} / (1 + {e}))",
    ]


def _fwd_sum(out, ins, params, c):
    (x,) = ins
    expr = f"{x}.sum(axis={params.get('axis')!r}, keepdims={params.get('keepdims', False)!r})"
    return [f"{out} = np.asarray({expr})" if not c.out_shape else f"{out} = {expr}"]


FORWARD = {
    "linear": _fwd_linear,
    "matmul": lambda out, ins, p, c: [f"{out} = {ins[0]} @ {ins[1]}"],
    "relu": lambda out, ins, p, c: [f"{out} = np.maximum({ins[0]}, 0)"],
    "tanh": lambda out, ins, p, c: [f"{out} = np.tanh({ins[0]})"],
    "sigmoid": _fwd_sigmoid,
    "leaky_relu": lambda out, ins, p, c: [
        f"{out} = np.where({ins[0]} > 0, {ins[0]}, {ins[0]} * {p['negative_slope']!r})"
    ],
    "cross_entropy": _fwd_cross_entropy,
    "add": lambda out, ins, p, c: [f"{out} = {ins[0]} + {ins[1]}"],
    "sub": lambda out, ins, p, c: [f"{out} = {ins[0]} - {ins[1]}"],
    "mul": lambda out, ins, p, c: [f"{out} = {ins[0]} * {ins[1]}"],
    "div": lambda out, ins, p, c: [f"{out} = {ins[0]} / {ins[1]}"],
    "neg": lambda out, ins, p, c: [f"{out} = -{ins[0]}"],
    "exp": lambda out, ins, p, c: [f"{out} = np.exp({ins[0]})"],
    "log": lambda out, ins, p, c: [f"{out} = np.log({ins[0]})"],
    "abs": lambda out, ins, p, c: [f"{out} = np.abs({ins[0]})"],
    "sum": _fwd_sum,
}


def _vjp_linear(out, i, g, ans, ins, params, c):
    x, w, _ = ins
    if c.ndim(g) != 2:
        return None
    if i == 0:
        return [f"{out} = {g} @ {w}"]
    if i == 1:
        return [f"{out} = {g}.T @ {x}"]
    n, dtype = c.shape_of(g)[0], c.dtype_of(g)
    return [f"{out} = np.ones({n}, np.{dtype}) @ {g}"]


def _vjp_cross_entropy(out, i, g, ans, ins, params, c):
    x, labels = ins[0], c.expr(params["labels"])
    red = params.get("reduction", "mean")
    if red == "none":
        return None
    n = c.shape_of(x)[0]
    lines = [
        f"{out} = np.exp({x} - {x}.max(axis=1, keepdims=True))",
        f"{out} /= {out}.sum(axis=1, keepdims=True)  # p = softmax(a)",
        f"{out}[np.arange({n}), {labels}] -= 1  # p − onehot(y)",
    ]
    return [*lines, f"{out} *= {g} / {n}" if red == "mean" else f"{out} *= {g}"]


def _vjp_sum(out, i, g, ans, ins, params, c):
    (x,) = ins
    shape = c.shape_of(x)
    kshape = keepdims_shape(shape, params.get("axis"))
    return [f"{out} = np.broadcast_to({g}.reshape({kshape!r}), {shape!r})"]


VJP = {
    "linear": _vjp_linear,
    "matmul": lambda out, i, g, ans, ins, p, c: [
        f"{out} = {g} @ {ins[1]}.mT" if i == 0 else f"{out} = {ins[0]}.mT @ {g}"
    ],
    "relu": lambda out, i, g, ans, ins, p, c: [f"{out} = {g} * ({ans} > 0)"],
    "tanh": lambda out, i, g, ans, ins, p, c: [f"{out} = {g} * (1 - {ans} * {ans})"],
    "sigmoid": lambda out, i, g, ans, ins, p, c: [f"{out} = {g} * {ans} * (1 - {ans})"],
    "leaky_relu": lambda out, i, g, ans, ins, p, c: [
        f"{out} = np.where({ins[0]} > 0, {g}, {g} * {p['negative_slope']!r})"
    ],
    "cross_entropy": _vjp_cross_entropy,
    "add": lambda out, i, g, ans, ins, p, c: [f"{out} = {g}"],
    "sub": lambda out, i, g, ans, ins, p, c: [f"{out} = {g}" if i == 0 else f"{out} = -{g}"],
    "mul": lambda out, i, g, ans, ins, p, c: [f"{out} = {g} * {ins[1 - i]}"],
    "div": lambda out, i, g, ans, ins, p, c: [
        f"{out} = {g} / {ins[1]}" if i == 0 else f"{out} = -{g} * {ans} / {ins[1]}"
    ],
    "neg": lambda out, i, g, ans, ins, p, c: [f"{out} = -{g}"],
    "exp": lambda out, i, g, ans, ins, p, c: [f"{out} = {g} * {ans}"],
    "log": lambda out, i, g, ans, ins, p, c: [f"{out} = {g} / {ins[0]}"],
    "abs": lambda out, i, g, ans, ins, p, c: [f"{out} = {g} * np.sign({ins[0]})"],
    "sum": _vjp_sum,
}
