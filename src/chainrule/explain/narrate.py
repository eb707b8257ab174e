"""The narration of a recorded graph: forward steps node by node, backward steps edge by
edge (upstream gradient × local derivative = downstream gradient), merges where branches
add, and a closing gradient table.

Every op-specific word comes from the op's registration (``node.description``, see
:class:`chainrule.autograd.description.Description`): its forward formula, its local
derivative ∂out/∂input, the VJP written out, the domain hint, the sentence for its gate
pattern. The only table here is :data:`PATTERNS`, the meaning of each gate pattern of
backpropagation, which is shared by every op that has it.
"""

from __future__ import annotations

import numpy as np

from chainrule.explain import fmt
from chainrule.explain.model import Step

# the engine's Primitive.pattern, in words
PATTERNS = {
    "distributes": "distributes: every input gets the upstream gradient unchanged",
    "switches": "switches: each input's gradient is the upstream gradient times the other input",
    "routes": "routes: only the input that won gets the gradient; the other gets 0",
    "gates": "gates: the gradient passes where the input was positive, and is 0 elsewhere",
    "copies": "copies: the forward copied its input, so backward the copies' gradients add up",
    "adds": "adds: the forward summed copies, so backward copies the gradient back",
}


def display_name(node):
    """How the narration names the op (``max`` for ``maximum``)."""
    return node.description.display or node.op


def pattern_sentence(node, index, nodes=None):
    """``"add distributes: every input gets ..."``, the op's own sentence when it has no
    pattern, or None. Where input ``index`` sits at a tie or a kink (the description's
    ``tie``), the sentence says what the engine does there instead (``ties``)."""
    d = node.description
    tie = tie_sentence(node, index, nodes) if nodes is not None else None
    if tie is not None:
        return tie
    if node.pattern is None:
        return d.sentence
    text = d.at("pattern_text", index) or PATTERNS.get(node.pattern, node.pattern)
    return f"{display_name(node)} {text}"


def tie_sentence(node, index, nodes):
    """The op's ``ties`` text where its ``tie`` predicate holds for input ``index`` on
    the recorded values (with how many elements, when not all of them), else None."""
    d = node.description
    if d.tie is None or not d.ties:
        return None
    inputs = [nodes[i].value for i in node.inputs]
    try:
        mask = np.asarray(d.tie(index, inputs, node.params), dtype=bool)
    except Exception:  # a user's predicate that cannot take these values: say nothing
        return None
    if not mask.any():
        return None
    labels = [_wrap(nodes[i].label) for i in node.inputs]
    text = _format(d.ties, labels, {})
    if mask.size > 1 and not mask.all():
        where = f"at {int(mask.sum())} of {mask.size} elements"
        text = f"{text[:-1]}; {where})" if text.endswith(")") else f"{text} ({where})"
    return f"{display_name(node)} {text}"


def forward_formula(node, nodes):
    """``x + y``, ``σ(q1)``, ``W @ x`` — the op applied to its inputs' labels."""
    if node.kind != "op":
        return node.label
    d = node.description
    labels = [nodes[i].label for i in node.inputs]
    params = {k: _param_text(v) for k, v in node.params.items()}
    template = d.formula if d.formula is not None else node.op + "({args})"
    if callable(template):
        return template([_wrap(a) for a in labels])
    if "{args}" in template:
        text = template.replace("{args}", ", ".join(labels))
    else:
        text = _format(template, [_wrap(a) for a in labels], params)
    shown = node.params if d.params is None else {k: node.params.get(k) for k in d.params}
    extra = [
        f"{k}={params[k]}"
        for k, v in shown.items()
        if v is not None and v is not False and "{" + k + "}" not in template
    ]
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
    if node.kind != "op" or not node.description.substitute:
        return None
    ins = [nodes[i] for i in node.inputs]
    if not all(fmt.is_scalar(n.value) for n in ins):
        return None
    vals = [fmt.number(np.asarray(n.value).reshape(()), p) for n in ins]
    formula = node.description.formula
    if callable(formula):
        return formula([fmt.paren(v) for v in vals])
    return fmt.fill(formula, vals)


def _value_text(v, p):
    v = np.asarray(v)
    if v.ndim == 0:
        return fmt.number(v, p)
    if v.size <= fmt.SMALL:
        return fmt.array(v, p)
    return fmt.summary(v, p)


def build_steps(nodes, edges, order, p):
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
        formula = forward_formula(n, nodes)
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
            hint = n.description.domain or "the result is not finite"
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
    r = dst.description
    names = [nodes[i].label for i in dst.inputs]
    up_name = f"∂{R}/∂{dst.name}"
    down_name = f"∂{R}/∂{src.name}"
    local_name = f"∂{dst.name}/∂{src.name}"
    sentence = pattern_sentence(dst, e.index, nodes)
    which = ""
    if dst.inputs.count(src.id) > 1:  # x · x: the same tensor is both inputs
        which = f" ({('first', 'second', 'third')[min(e.index, 2)]} input)"
    head = f"{dst.name} → {src.name}{which}   " + (
        sentence or f"{dst.op}: upstream gradient × local derivative"
    )
    lines = [head]
    formula = None
    scalar = fmt.is_scalar(e.grad) and fmt.is_scalar(e.upstream)
    if r.at("local", e.index):
        formula = _local_formula(dst, e.index, names, nodes)
    if e.local is not None:
        local_text = _value_text(e.local, p)
        parts = [local_name]
        if formula and formula != local_text:
            parts.append(formula)
        subst = r.at("local_values", e.index)
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
        vjp = r.at("vjp", e.index)
        if vjp:
            vjp_text = _format(vjp.replace("{g}", up_name).replace("{out}", dst.name), names, {})
            lines.append(f"chain  {down_name} = {vjp_text}")
        else:
            lines.append(f"chain  {down_name} = VJP of {dst.op} applied to {up_name}")
        shape = "" if np.ndim(e.grad) == 0 else fmt.shape(e.grad)
        lines.append(f"         = {_value_text(e.grad, p)}  {shape}".rstrip())
        lines.insert(1, f"upstream  {up_name} = {_value_text(e.upstream, p)}")
    if not fmt.finite(e.grad) and fmt.finite(e.upstream):
        through = f"{dst.name} = {forward_formula(dst, nodes)}"
        w = f"{down_name} (through {through}) is {_nonfinite_word(e.grad)}"
        lines.append("⚠ " + w)
        warnings.append(w)
    return Step(
        k,
        "backward",
        "edge",
        f"{dst.name} → {src.name} ({display_name(dst)})",
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
    """The local derivative ∂dst/∂(input ``index``) in the inputs' labels."""
    template = dst.description.at("local", index)
    wrapped = [_wrap(n) for n in names]
    if callable(template):
        constants = [
            float(np.ravel(nodes[i].value)[0]) if nodes[i].kind == "constant" else None
            for i in dst.inputs
        ]
        return template(wrapped, constants)
    return _format(template, wrapped, {"out": dst.name})


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
