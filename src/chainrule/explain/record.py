"""``explain(tensor)``: record a graph and the engine's own backward pass through it.

The backward pass narrated is *the engine's*: :func:`explain` calls
``run_backward([root], [gradient], retain_graph=True, trace=...)`` and records what the
engine hands to the trace callback on every edge — the upstream gradient ``g`` of a
tensor and the contribution ``g_i`` it sends to its input ``i``. Nothing re-derives the
chain rule; the local derivative printed next to an edge is the op's own VJP evaluated at
an upstream gradient of 1. ``inputs=`` is passed so that explaining leaves every
``.grad`` untouched: ``cr.explain(loss)`` followed by ``loss.backward()`` still gives the
usual gradients. What each op means in words comes from its registration
(``Primitive.description``); :mod:`chainrule.explain.narrate` turns it into steps.
"""

from __future__ import annotations

import numpy as np

from chainrule.autograd.engine import run_backward
from chainrule.autograd.primitive import RAW
from chainrule.explain import fmt
from chainrule.explain.model import Edge, Explanation, Node
from chainrule.explain.narrate import build_steps, forward_formula
from chainrule.tensor import Tensor


def _collect(root):
    """Every tensor reachable from ``root`` (constants included), inputs before users."""
    order, seen = [], set()
    stack = [(root, False)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        if t._op is not None:
            if t._parents is None:
                raise ValueError(
                    "explain: the graph was freed by an earlier backward(); explain the "
                    "output before calling backward(), or pass retain_graph=True to it"
                )
            for p in reversed(t._parents):
                if id(p) not in seen:
                    stack.append((p, False))
    return order


def _order_inputs(order):
    """Leaves first, in the order the ops use them (W0, x, b0, W1, ...), then the ops."""
    ops = [t for t in order if t._op is not None]
    first_use = {}
    for k, t in enumerate(ops):
        for i, p in enumerate(t._parents):
            first_use.setdefault(id(p), (k, i))
    leaves = [t for t in order if t._op is None]
    leaves.sort(key=lambda t: first_use.get(id(t), (-1, 0)))
    return leaves + ops


def _unique(name, used):
    if name not in used:
        return name
    k = 2
    while f"{name}_{k}" in used:
        k += 1
    return f"{name}_{k}"


def _next_free(prefix, counter, used):
    while f"{prefix}{counter[0]}" in used:
        counter[0] += 1
    name = f"{prefix}{counter[0]}"
    counter[0] += 1
    return name


def _name_nodes(tensors, root, root_name, precision):
    """Unique names: the tensor's own ``name``; else ``f`` for the output, ``x0``/``W1``
    for inputs (by dimension), ``q1, q2, ...`` for intermediate results, and the value
    itself for small constants."""
    used = {t.name for t in tensors if t.name}
    names, labels = {}, {}
    seen_named = set()
    leaf_k, q_k, c_k = [0], [1], [1]
    for t in tensors:
        if t.name:
            name = t.name if t.name not in seen_named else _unique(t.name, used | seen_named)
            seen_named.add(name)
        elif t is root:
            name = _unique(root_name, used)
        elif t._op is None and t.requires_grad:
            name = _next_free("W" if t.ndim >= 2 else "x", leaf_k, used)
        elif t._op is None:
            name = _next_free("c", c_k, used)
        else:
            name = _next_free("q", q_k, used)
        used.add(name)
        names[id(t)] = name
        is_small_const = t._op is None and not t.requires_grad and not t.name and t.size == 1
        labels[id(t)] = (
            fmt.number(np.asarray(t.data).reshape(()), precision) if (is_small_const) else name
        )
    return names, labels


def explain(tensor, *, at=None, name=None, gradient=None, precision=4, title=None, subtitle=None):
    """Explain how ``tensor`` was computed and how its gradient flows back, step by step.

    >>> cr.explain(loss)                                    # a chainrule computation
    >>> cr.explain("(x+y)*z", at={"x": -2, "y": 5, "z": -4})  # an expression, as the CLI's
    >>> cr.explain("q = x + y; f = q * z", at="x=-2,y=5,z=-4")

    Args:
        tensor: the output of a chainrule computation that requires grad (e.g. a loss),
            or an expression as text — what ``chainrule explain "EXPR" --at VALUES``
            takes (see :func:`~chainrule.explain.expression.explain_expression`).
        at: an expression's variables: ``{"x": -2, "w": [2, -3]}`` or ``"x=-2,w=[2,-3]"``
            (only with an expression; a Tensor carries its own values).
        name: what to call the output when it has no ``.name`` (default ``"f"``); an
            expression names its result itself (``"L = (x+y)*z"``).
        gradient: the upstream gradient for a non-scalar output (as for ``backward``).
        precision: significant digits in the narration.
        title: the heading of the narration and the page.
        subtitle: a line under the title (e.g. the input values).

    Returns an :class:`Explanation`: ``.text()`` / ``str()``, ``.steps``, ``.gradients``,
    ``.dot()``, ``.render(path)``, ``.html(path)``. The graph is kept (the engine runs
    with ``retain_graph=True``) and no ``.grad`` is written.
    """
    if isinstance(tensor, str):
        return _explain_text(tensor, at, name, gradient, precision, title, subtitle)
    if at is not None:
        raise TypeError(
            "explain: at= gives the variables of an expression written as text, e.g. "
            'explain("(x+y)*z", at="x=-2,y=5,z=-4"); a Tensor carries its own values'
        )
    if not isinstance(tensor, Tensor):
        raise TypeError(
            f"explain: expected a chainrule Tensor or an expression (a str), got "
            f"{type(tensor).__name__}"
        )
    if not tensor.requires_grad:
        raise ValueError(
            "explain: the tensor does not require grad, so there is no backward pass to show "
            "(make its inputs with requires_grad=True)"
        )
    if gradient is None and tensor.size != 1:
        raise ValueError(
            f"explain: the output has shape {tensor.shape}, not a single number; explain a "
            "scalar (wrap it in sum(...)) or pass gradient= with the output's shape"
        )
    precision = int(precision)
    if not 1 <= precision <= 17:
        raise ValueError(f"explain: precision must be between 1 and 17, got {precision}")
    root = tensor
    tensors = _order_inputs(_collect(root))
    names, labels = _name_nodes(tensors, root, name or "f", precision)
    index = {id(t): k for k, t in enumerate(tensors)}

    nodes, edges = [], []
    for k, t in enumerate(tensors):
        if t._op is None:
            kind = "input" if t.requires_grad else "constant"
        else:
            kind = "op"
        node = Node(
            id=k,
            name=names[id(t)],
            label=labels[id(t)],
            kind=kind,
            op=t._op.name if t._op is not None else None,
            pattern=t._op.pattern if t._op is not None else None,
            inputs=[index[id(p)] for p in t.parents],
            params=dict(t._params or {}),
            value=np.array(t.data, copy=True),
            is_output=t is root,
        )
        if t._op is not None:
            node.description = t._op.description
        nodes.append(node)
        for i, p in enumerate(t.parents):
            e = Edge(id=len(edges), src=index[id(p)], dst=k, index=i)
            edges.append(e)
            nodes[index[id(p)]].consumers.append(e.id)
    for n in nodes:  # an unnamed scalar constant is drawn inside its op's label (×2, **2)
        if n.kind == "constant" and n.label != n.name and len(n.consumers) == 1:
            e = edges[n.consumers[0]]
            n.folded = e.index > 0 or nodes[e.dst].description.commutative
    edge_of = {(e.dst, e.index): e for e in edges}

    # ---- the engine's backward pass, recorded edge by edge
    events = []

    def trace(t, i, parent, g, gi):
        local = None
        elementwise = t._op.description.elementwise
        try:
            if (elementwise and t.shape == parent.shape) or (t.size == 1 and parent.size == 1):
                ones = np.ones_like(t.data)
                args = [p.data for p in t._parents]
                local = np.asarray(t._op.vjps[i](RAW, ones, t.data, *args, **t._params))
                local = local.reshape(parent.shape)
        except Exception:  # a user primitive whose VJP cannot take a plain 1: skip it
            local = None
        events.append(
            (edge_of[(index[id(t)], i)], np.array(g, copy=True), np.array(gi, copy=True), local)
        )

    wanted = [t for t in tensors if t.requires_grad]
    with np.errstate(all="ignore"):
        found = run_backward([root], [gradient], retain_graph=True, trace=trace, inputs=wanted)
    for t, g in zip(wanted, found):
        if g is not None:
            nodes[index[id(t)]].grad = np.array(g.data, copy=True)
    for e, g, gi, local in events:
        e.upstream, e.grad, e.local = g, gi, local

    steps, warnings = build_steps(nodes, edges, [e for e, *_ in events], precision)
    if title is None:
        title = f"Explaining {nodes[-1].name} = {forward_formula(nodes[-1], nodes)}"
    return Explanation(
        nodes,
        edges,
        steps,
        precision=precision,
        title=title,
        subtitle=subtitle,
        warnings=warnings,
    )


def _explain_text(source, at, name, gradient, precision, title, subtitle):
    """``explain("EXPR", at=...)``: the expression path of ``chainrule explain``."""
    # expression.py builds the expression's graph and then calls explain() above on it,
    # so it is imported here, when text arrives, rather than in a cycle at import time
    from chainrule.explain.expression import explain_expression

    if name is not None:
        raise TypeError(
            "explain: name= names a Tensor's output; an expression names its result "
            f'itself: "{name} = ..." (e.g. "L = (x+y)*z")'
        )
    if gradient is not None:
        raise TypeError(
            "explain: gradient= is for a Tensor with several outputs; an expression "
            "must come to one number (wrap it in sum(...))"
        )
    expl = explain_expression(source, {} if at is None else at, precision=precision, title=title)
    if subtitle is not None:
        expl.subtitle = subtitle
    return expl
