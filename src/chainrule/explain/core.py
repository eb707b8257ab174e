"""``explain(tensor)``: the forward values and the backward pass of a graph, step by step.

The backward pass narrated here *is* the engine's: :func:`explain` calls
``run_backward([root], [gradient], retain_graph=True, trace=...)`` and records what the
engine hands to the trace callback on every edge — the upstream gradient ``g`` of a
tensor and the contribution ``g_i`` it sends to its input ``i``. Nothing re-derives the
chain rule; the local derivative printed next to each edge is the op's own VJP evaluated
at an upstream gradient of 1. ``inputs=`` is passed so that explaining leaves every
``.grad`` untouched: ``cr.explain(loss)`` followed by ``loss.backward()`` still gives the
usual gradients.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chainrule.explain import fmt
from chainrule.explain.rules import DISPLAY_NAMES, pattern_sentence, rule

# sub-expression templates whose numbers are worth substituting into the local derivative
_LOCAL_SUBST = {
    ("sigmoid", 0): "(1 − {out})·{out}",
    ("tanh", 0): "1 − {out}²",
    ("log", 0): "1/{0}",
    ("div", 0): "1/{1}",
    ("div", 1): "−{0}/{1}²",
    ("sqrt", 0): "1/(2·{out})",
}

_DOMAIN_HINTS = {
    "log": "log of a negative number is nan, log 0 is −∞",
    "div": "division by zero",
    "sqrt": "the square root of a negative number is nan",
    "pow": "a negative base with a fractional exponent is nan; 0 to a negative power is ∞",
    "exp": "exp overflowed",
}


@dataclass
class Node:
    """One tensor of the graph: an input (leaf that requires grad), a constant, or an op."""

    id: int
    name: str
    label: str
    kind: str  # "input", "constant" or "op"
    op: str | None
    pattern: str | None
    inputs: list  # node ids of the op's inputs, in order
    params: dict
    value: np.ndarray
    grad: np.ndarray | None = None
    folded: bool = False  # an unnamed scalar constant drawn inside its consumer's label
    is_output: bool = False
    consumers: list = field(default_factory=list)  # edge ids where this node is the input
    shown_at: int = 0  # step at which its value is known
    grad_at: int | None = None  # step at which its total gradient is known

    @property
    def requires_grad(self):
        return self.kind != "constant"


@dataclass
class Edge:
    """Input ``index`` of node ``dst`` is node ``src``; ``grad`` is what flows back along it."""

    id: int
    src: int
    dst: int
    index: int
    grad: np.ndarray | None = None
    upstream: np.ndarray | None = None
    local: np.ndarray | None = None
    grad_at: int | None = None


@dataclass
class Step:
    """One step of the narration: a forward node, or a backward edge, merge or seed."""

    index: int
    phase: str  # "forward", "backward" or "summary"
    kind: str  # "inputs", "op", "seed", "edge", "merge", "gradients"
    title: str
    lines: list
    node: str | None = None  # the node computed (forward) or receiving gradient (backward)
    edge: int | None = None
    src: str | None = None
    dst: str | None = None
    op: str | None = None
    pattern: str | None = None
    formula: str | None = None  # the local derivative, written out
    value: np.ndarray | None = None  # forward value of ``node``
    upstream: np.ndarray | None = None
    local: np.ndarray | None = None
    downstream: np.ndarray | None = None
    focus_nodes: list = field(default_factory=list)
    focus_edges: list = field(default_factory=list)

    @property
    def text(self):
        return "\n".join(self.lines)


class Explanation:
    """The result of :func:`explain`: narration, gradients, and pictures of one graph.

    Attributes:
        steps: forward steps (values node by node), backward steps (edge by edge, with
            merges where branches add), and a closing gradient table.
        gradients: name -> total gradient of the output with respect to that tensor, for
            every tensor that requires grad (inputs and intermediate results).
        values: name -> forward value, for every tensor in the graph.
        inputs: names of the leaves that require grad, in order of first use.
        output: the output's name.
        warnings: domain problems (nan/inf) found on the way.
        notes: extra sections ``(title, lines)`` appended to the narration.
    """

    def __init__(self, nodes, edges, steps, *, precision, title, subtitle, warnings):
        self.nodes = nodes
        self.edges = edges
        self.steps = steps
        self.precision = precision
        self.title = title
        self.subtitle = subtitle
        self.warnings = warnings
        self.notes = []
        self.output = next(n.name for n in nodes if n.is_output)
        self.inputs = [n.name for n in nodes if n.kind == "input"]
        self.values = {n.name: n.value for n in nodes}
        self.gradients = {n.name: n.grad for n in nodes if n.grad is not None}

    # ------------------------------------------------------------------ text
    def add_note(self, title, lines):
        """Append a section to the narration (text and page)."""
        self.notes.append((title, list(lines)))

    def text(self, forward=True, ascii=False):
        """The narration as plain text with Unicode math (``ascii=True``: ASCII only)."""
        out = []
        if self.title:
            out.append(self.title)
        if self.subtitle:
            out.append(self.subtitle)
        phases = [
            ("forward", "Forward pass: the value of every node, inputs first"),
            (
                "backward",
                "Backward pass, edge by edge: "
                "upstream gradient × local gradient = downstream gradient",
            ),
        ]
        width = len(str(len(self.steps)))
        for phase, heading in phases:
            if phase == "forward" and not forward:
                continue
            if out:
                out.append("")
            out.append(heading)
            for st in self.steps:
                if st.phase != phase:
                    continue
                label = f"{st.index + 1:>{width}}"
                for k, line in enumerate(st.lines):
                    out.append(f"  {label if k == 0 else ' ' * width}  {line}")
        out.append("")
        out.extend(self._gradient_table())
        for title, lines in self.notes:
            out.append("")
            out.append(title)
            out.extend("  " + line for line in lines)
        if self.warnings:
            out.append("")
            out.append("Warnings")
            out.extend("  ⚠ " + w for w in self.warnings)
        text = "\n".join(out) + "\n"
        return fmt.to_ascii(text) if ascii else text

    def _gradient_table(self):
        p = self.precision
        root = self.output
        rows = [
            (n.name, fmt.array(n.value, p), fmt.array(n.grad, p) if n.grad is not None else "—")
            for n in self.nodes
            if n.kind == "input"
        ]
        head = ("input", "value", f"∂{root}/∂input")
        lines = [f"Gradients of {root} with respect to every input"]
        if all(len(v) <= 40 and len(g) <= 40 for _, v, g in rows):
            w = [max(len(r[k]) for r in [head, *rows]) for k in range(3)]
            for r in [head, *rows]:
                lines.append("  " + "  ".join(c.ljust(w[k]) for k, c in enumerate(r)).rstrip())
        else:
            for name, v, g in rows:
                lines.append(f"  {name} = {v}")
                lines.append(f"  {' ' * len(name)}   ∂{root}/∂{name} = {g}")
        return lines

    def __str__(self):
        return self.text()

    def __repr__(self):
        return (
            f"<Explanation of {self.output}: {len(self.nodes)} nodes, "
            f"{len(self.steps)} steps, inputs {', '.join(self.inputs) or 'none'}>"
        )

    # ------------------------------------------------------------------ pictures
    def dot(self):
        """The graph in Graphviz's DOT language: values on the wires, gradients in red."""
        from chainrule.explain.dot import to_dot

        return to_dot(self)

    def render(self, path, format=None):
        """Draw the graph to ``path`` (.svg or .png, or ``format``) with Graphviz's ``dot``."""
        from chainrule.explain.dot import render

        return render(self, path, format)

    def html(self, path=None, layout="auto"):
        """A self-contained page that steps through the narration on the graph.

        Returns the HTML text; writes it to ``path`` when given. ``layout`` is "auto"
        (Graphviz's layout when ``dot`` is installed, else the built-in one),
        "graphviz" or "builtin".
        """
        from chainrule.explain.page import to_html

        text = to_html(self, layout=layout)
        if path is not None:
            from pathlib import Path

            Path(path).write_text(text, encoding="utf-8")
        return text

    def _repr_html_(self):  # Jupyter: show the page inline
        return self.html()


# ====================================================================== building
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


def explain(tensor, *, name=None, gradient=None, precision=4, title=None, subtitle=None):
    """Explain how ``tensor`` was computed and how its gradient flows back, step by step.

    Args:
        tensor: the output of a chainrule computation that requires grad (e.g. a loss).
        name: what to call the output when it has no ``.name`` (default ``"f"``).
        gradient: the upstream gradient for a non-scalar output (as for ``backward``).
        precision: significant digits in the narration.
        title, subtitle: headings for the narration and the page.

    Returns an :class:`Explanation`: ``.text()`` / ``str()``, ``.steps``, ``.gradients``,
    ``.dot()``, ``.render(path)``, ``.html(path)``. The graph is kept (the engine runs
    with ``retain_graph=True``) and no ``.grad`` is written.
    """
    from chainrule.autograd.engine import run_backward
    from chainrule.autograd.primitive import RAW
    from chainrule.tensor import Tensor

    if not isinstance(tensor, Tensor):
        raise TypeError(f"explain: expected a chainrule Tensor, got {type(tensor).__name__}")
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
        nodes.append(node)
        for i, p in enumerate(t.parents):
            e = Edge(id=len(edges), src=index[id(p)], dst=k, index=i)
            edges.append(e)
            nodes[index[id(p)]].consumers.append(e.id)
    for n in nodes:  # an unnamed scalar constant is drawn inside its op's label (×2, **2)
        if n.kind == "constant" and n.label != n.name and len(n.consumers) == 1:
            e = edges[n.consumers[0]]
            n.folded = e.index > 0 or rule(nodes[e.dst].op).commutative
    edge_of = {(e.dst, e.index): e for e in edges}

    # ---- the engine's backward pass, recorded edge by edge
    events = []

    def trace(t, i, parent, g, gi):
        local = None
        r = rule(t._op.name)
        try:
            if (r.elementwise and t.shape == parent.shape) or (t.size == 1 and parent.size == 1):
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

    steps, warnings = _build_steps(nodes, edges, [e for e, *_ in events], precision)
    if title is None:
        title = f"Explaining {nodes[-1].name} = {_forward_formula(nodes[-1], nodes)}"
    return Explanation(
        nodes,
        edges,
        steps,
        precision=precision,
        title=title,
        subtitle=subtitle,
        warnings=warnings,
    )


# ====================================================================== narration
def _forward_formula(node, nodes):
    """``x + y``, ``σ(q1)``, ``W @ x`` — the op applied to its inputs' labels."""
    if node.kind != "op":
        return node.label
    r = rule(node.op)
    args = [nodes[i].label for i in node.inputs]
    params = {k: _param_text(v) for k, v in node.params.items()}
    if node.op == "pow" and nodes[node.inputs[1]].label == "2":
        return f"{_wrap(args[0])}²"
    template = r.forward
    if "{args}" in template:
        text = template.replace("{args}", ", ".join(args))
    else:
        text = _format(template, [_wrap(a) for a in args], params)
    extra = [f"{k}={v}" for k, v in params.items() if v != "None" and "{" + k + "}" not in template]
    if node.op in ("sum", "max", "logsumexp") and node.params.get("axis") is None:
        extra = [x for x in extra if not x.startswith("keepdims")]
    if node.op in ("reshape", "broadcast_to", "sum_to"):
        text = f"{text[:-1]}, {params['shape']})"
        extra = []
    if node.op == "transpose" and node.params.get("axes") is None:
        extra = []
    if node.op == "cross_entropy":
        extra = [x for x in extra if not x.startswith("labels")]
    if extra:
        text += f"  [{', '.join(extra)}]"
    return text


def _wrap(label):
    """Parenthesise a label that is not a plain name or number (e.g. a negative number)."""
    return f"({label})" if label.startswith(fmt.MINUS) else label


def _param_text(v):
    if isinstance(v, np.ndarray):
        return fmt.shape(v) if v.size > 4 else str(v.tolist())
    if isinstance(v, np.dtype):
        return str(v)
    return str(v)


def _format(template, args, params):
    out = template
    for k, a in enumerate(args):
        out = out.replace("{" + str(k) + "}", a)
    for k, v in params.items():
        out = out.replace("{" + k + "}", v)
    return out


def _values_subst(node, nodes, p):
    """The forward formula with numbers in place of names, for scalar inputs only."""
    if node.kind != "op" or node.op not in _SUBST_OPS:
        return None
    ins = [nodes[i] for i in node.inputs]
    if not all(fmt.is_scalar(n.value) for n in ins):
        return None
    vals = [fmt.number(np.asarray(n.value).reshape(()), p) for n in ins]
    if node.op == "pow" and nodes[node.inputs[1]].label == "2":
        return f"{fmt.paren(vals[0])}²"
    return fmt.fill(rule(node.op).forward, vals)


_SUBST_OPS = {
    "add",
    "sub",
    "mul",
    "div",
    "pow",
    "neg",
    "exp",
    "log",
    "sqrt",
    "abs",
    "tanh",
    "sigmoid",
    "relu",
    "maximum",
}


def _value_text(v, p):
    v = np.asarray(v)
    if v.ndim == 0:
        return fmt.number(v, p)
    if v.size <= fmt.SMALL:
        return fmt.array(v, p)
    return fmt.summary(v, p)


def _build_steps(nodes, edges, order, p):
    steps, warnings = [], []
    root = next(n for n in nodes if n.is_output)
    R = root.name

    def d(a, b):  # ∂a/∂b
        return f"∂{a}/∂{b}"

    # ---------------------------------------------------------------- forward
    lines, focus = [], []
    for n in nodes:
        if n.kind == "op" or n.folded or n.label != n.name:  # small constants read inline
            continue
        v = _value_text(n.value, p)
        small = n.value.ndim and n.value.size <= fmt.SMALL  # a summary already has its shape
        shape = f"  {fmt.shape(n.value)}" if small else ""
        what = "input" if n.kind == "input" else "constant, no gradient"
        lines.append(f"{n.name} = {v}{shape}   ({what})")
        focus.append(n.name)
    steps.append(
        Step(len(steps), "forward", "inputs", "Inputs", lines or ["(no inputs)"], focus_nodes=focus)
    )
    for n in nodes:
        if n.kind != "op":
            continue
        n.shown_at = len(steps)
        formula = _forward_formula(n, nodes)
        subst = _values_subst(n, nodes, p)
        value = _value_text(n.value, p)
        parts = [n.name, formula]
        if subst and subst != formula:
            parts.append(subst)
        if n.value.ndim and n.value.size > fmt.SMALL:
            parts.append(value)
        else:
            parts.append(value + ("" if n.value.ndim == 0 else f"  {fmt.shape(n.value)}"))
        lines = [" = ".join(parts)]
        ins = [nodes[i] for i in n.inputs]
        if not fmt.finite(n.value) and all(fmt.finite(i.value) for i in ins):
            hint = _DOMAIN_HINTS.get(n.op, "the result is not finite")
            w = f"{n.name} = {formula} is {_nonfinite_word(n.value)}: {hint}"
            lines.append("⚠ " + w)
            warnings.append(w)
        steps.append(
            Step(
                len(steps),
                "forward",
                "op",
                f"{n.name} = {formula}",
                lines,
                node=n.name,
                op=n.op,
                value=n.value,
                focus_nodes=[n.name],
                focus_edges=[f"{e}" for e in _in_edges(n, edges)],
            )
        )
    for n in nodes:
        if n.kind != "op":
            n.shown_at = 0

    # ---------------------------------------------------------------- backward
    root.grad_at = len(steps)
    seed = root.grad if root.grad is not None else np.ones_like(root.value)
    given = "" if np.all(seed == 1) else "   (the gradient given for the output)"
    steps.append(
        Step(
            len(steps),
            "backward",
            "seed",
            f"∂{R}/∂{R} = 1",
            [
                f"{d(R, R)} = {_value_text(seed, p)}"
                + (given or f"   (start at the output: the gradient of {R} with respect to itself)")
            ],
            node=R,
            downstream=seed,
            focus_nodes=[R],
        )
    )
    incoming = {}
    for e in order:
        incoming.setdefault(e.src, []).append(e)
    seen_count = {}
    for e in order:
        src, dst = nodes[e.src], nodes[e.dst]
        e.grad_at = len(steps)
        steps.append(_edge_step(len(steps), e, src, dst, nodes, R, p, warnings))
        seen_count[e.src] = seen_count.get(e.src, 0) + 1
        contributions = incoming[e.src]
        if seen_count[e.src] == len(contributions):
            src.grad_at = len(steps) if len(contributions) > 1 else len(steps) - 1
            if len(contributions) > 1:
                steps.append(_merge_step(len(steps), src, contributions, nodes, R, p))

    # ---------------------------------------------------------------- summary
    lines = []
    for n in nodes:
        if n.kind == "input":
            g = _value_text(n.grad, p) if n.grad is not None else "—"
            lines.append(f"{d(R, n.name)} = {g}")
    steps.append(
        Step(
            len(steps),
            "summary",
            "gradients",
            "Gradients of every input",
            lines,
            focus_nodes=[n.name for n in nodes if n.kind == "input"],
        )
    )
    return steps, warnings


def _in_edges(node, edges):
    return [e.id for e in edges if e.dst == node.id]


def _nonfinite_word(a):
    a = np.asarray(a, dtype=np.float64)
    has_nan, has_inf = bool(np.isnan(a).any()), bool(np.isinf(a).any())
    return "nan and ±∞" if has_nan and has_inf else ("nan" if has_nan else "infinite")


def _edge_step(k, e, src, dst, nodes, R, p, warnings):
    r = rule(dst.op)
    names = [nodes[i].label for i in dst.inputs]
    up_name = f"∂{R}/∂{dst.name}"
    down_name = f"∂{R}/∂{src.name}"
    local_name = f"∂{dst.name}/∂{src.name}"
    sentence = pattern_sentence(dst.op, dst.pattern, e.index)
    which = ""
    if dst.inputs.count(src.id) > 1:  # x · x: the same tensor is both inputs
        which = f" ({('first', 'second', 'third')[min(e.index, 2)]} input)"
    head = f"{dst.name} → {src.name}{which}   " + (
        sentence or f"{dst.op}: upstream gradient × local derivative"
    )
    lines = [head]
    formula = None
    scalar = fmt.is_scalar(e.grad) and fmt.is_scalar(e.upstream)
    if e.index < len(r.local) and r.local[e.index]:
        formula = _local_formula(dst, e.index, names, nodes)
    if e.local is not None:
        local_text = _value_text(e.local, p)
        parts = [local_name]
        if formula and formula != local_text:
            parts.append(formula)
        subst = _LOCAL_SUBST.get((dst.op, e.index))
        if subst and all(fmt.is_scalar(nodes[i].value) for i in dst.inputs):
            vals = {
                str(j): fmt.number(np.ravel(nodes[i].value)[0], p) for j, i in enumerate(dst.inputs)
            }
            vals["out"] = fmt.number(np.ravel(dst.value)[0], p)
            parts.append(fmt.fill(subst, vals))
        parts.append(local_text)
        ones = not scalar and bool(np.all(e.local == 1))
        if ones:  # add, sum, reshape: the gradient passes through unchanged
            parts = [local_name, "1 (for every element)"]
        lines.append("local  " + " = ".join(parts))
        if ones:
            lines.append(f"chain  {down_name} = {up_name} · 1 = {_value_text(e.grad, p)}")
        elif scalar:
            chain = f"{down_name} = {up_name} · {local_name} = " + fmt.fill(
                "{0} · {1} = {2}",
                [
                    fmt.number(np.ravel(e.upstream)[0], p),
                    fmt.number(np.ravel(e.local)[0], p),
                    _value_text(e.grad, p),
                ],
            )
            lines.append("chain  " + chain)
        else:
            lines.append(f"chain  {down_name} = {up_name} ⊙ {local_name}")
            lines.append(f"         = {_value_text(e.upstream, p)} ⊙ {_value_text(e.local, p)}")
            lines.append(f"         = {_value_text(e.grad, p)}")
    else:
        vjp = r.vjp[e.index] if e.index < len(r.vjp) and r.vjp[e.index] else None
        if vjp:
            vjp_text = _format(vjp.replace("{g}", up_name).replace("{out}", dst.name), names, {})
            lines.append(f"chain  {down_name} = {vjp_text}")
        else:
            lines.append(f"chain  {down_name} = VJP of {dst.op} applied to {up_name}")
        shape = "" if np.ndim(e.grad) == 0 else fmt.shape(e.grad)
        lines.append(f"         = {_value_text(e.grad, p)}  {shape}".rstrip())
        lines.insert(1, f"upstream  {up_name} = {_value_text(e.upstream, p)}")
    if not fmt.finite(e.grad) and fmt.finite(e.upstream):
        through = f"{dst.name} = {_forward_formula(dst, nodes)}"
        w = f"{down_name} (through {through}) is {_nonfinite_word(e.grad)}"
        lines.append("⚠ " + w)
        warnings.append(w)
    return Step(
        k,
        "backward",
        "edge",
        f"{dst.name} → {src.name} ({DISPLAY_NAMES.get(dst.op, dst.op)})",
        lines,
        node=src.name,
        edge=e.id,
        src=src.name,
        dst=dst.name,
        op=dst.op,
        pattern=dst.pattern,
        formula=formula,
        upstream=e.upstream,
        local=e.local,
        downstream=e.grad,
        focus_nodes=[src.name, dst.name],
        focus_edges=[str(e.id)],
    )


def _local_formula(dst, index, names, nodes):
    r = rule(dst.op)
    template = r.local[index]
    if dst.op == "pow" and index == 0 and nodes[dst.inputs[1]].kind == "constant":
        c = float(np.asarray(nodes[dst.inputs[1]].value).ravel()[0])
        c1 = c - 1
        if c1 == 1:
            return f"{names[1]}·{names[0]}"
        return f"{names[1]}·{names[0]}^{fmt.number(c1)}"
    return _format(template, [_wrap(n) for n in names], {"out": dst.name})


def _merge_step(k, src, contributions, nodes, R, p):
    n = len(contributions)
    users = []
    for e in contributions:
        users.append(nodes[e.dst].name)
    head = (
        f"{src.name} is used {n} times ({', '.join(users)}): branches add — "
        f"the gradients from every use are summed"
    )
    total = _value_text(src.grad, p) if src.grad is not None else "—"
    name = f"∂{R}/∂{src.name}"
    if all(fmt.is_scalar(e.grad) for e in contributions):
        terms = [_value_text(e.grad, p) for e in contributions]
        body = [
            f"{name} = " + fmt.fill(" + ".join(f"{{{i}}}" for i in range(n)), terms) + f" = {total}"
        ]
        body.append(
            "  ("
            + ", ".join(f"{t} via {nodes[e.dst].name}" for t, e in zip(terms, contributions))
            + ")"
        )
    else:
        pad = " " * len(name)
        first = contributions[0]
        body = [f"{name} = {_value_text(first.grad, p)}   via {nodes[first.dst].name}"]
        body += [
            f"{pad} + {_value_text(e.grad, p)}   via {nodes[e.dst].name}" for e in contributions[1:]
        ]
        body.append(f"{pad} = {total}")
    return Step(
        k,
        "backward",
        "merge",
        f"{src.name}: branches add",
        [head, *body],
        node=src.name,
        src=src.name,
        pattern="adds",
        downstream=src.grad,
        focus_nodes=[src.name],
        focus_edges=[str(e.id) for e in contributions],
    )
