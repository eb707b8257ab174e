"""One self-contained HTML page that steps through an explanation on its graph.

No network: the SVG, the step data (JSON), the stylesheet (``page.css``) and the script
(``page.js``) are all inlined. Every element that changes has a stable hook for tests
and for readers of the source: ``[data-node="q"]`` on nodes, ``[data-edge="3"]`` on
wires, ``data-value`` / ``data-grad`` with full-precision numbers on the wire labels,
``data-show-at`` (the step from which an element is shown), ``#narration``,
``#prev`` / ``#next`` / ``#reset``, ``#step-counter``, and ``body[data-step]``.
"""

from __future__ import annotations

import html
import json
from importlib import resources

import numpy as np

from chainrule.explain import fmt
from chainrule.explain.dot import node_symbol, wire_grad, wire_value
from chainrule.explain.layout import layout as make_layout

GRAD_COLOR = "#d62728"
VALUE_COLOR = "#1b7f3b"
SCALE = 1.3  # draw the picture a little larger than its layout units


def _asset(name):
    return resources.files("chainrule.explain").joinpath(name).read_text(encoding="utf-8")


def _num(a):
    """Full-precision JSON for a data attribute: a number or nested lists; nan/inf as text."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        v = float(a)
        return v if np.isfinite(v) else fmt.json_number(v)
    return [_num(x) for x in a]


def _attr(value):
    return html.escape(json.dumps(value, allow_nan=False), quote=True)


MAX_DATA = 1000  # larger arrays get no full-precision data attribute (the page stays small)


def _data(kind, a):
    """``data-grad="[...]"`` (or data-value) with every number, or the shape if too large."""
    a = np.asarray(a)
    if a.size > MAX_DATA:
        return f'data-{kind}-shape="{_attr(list(a.shape))}"'
    return f'data-{kind}="{_attr(_num(a))}"'


def _t(text):
    return html.escape(str(text), quote=True)


def svg(expl, lay):
    """The graph as inline SVG with hooks for the page's script."""
    nodes, edges = expl.nodes, expl.edges
    root = next(n for n in nodes if n.is_output)
    out = [
        f'<svg id="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {lay.width:.0f} '
        f'{lay.height:.0f}" width="{lay.width * SCALE:.0f}" height="{lay.height * SCALE:.0f}" '
        f'role="img" aria-label="computational graph" data-layout="{lay.source}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto">'
        '<path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>',
    ]
    # wires first, so nodes are drawn on top of them
    wires = [(e.id, nodes[e.src], nodes[e.dst], e.index, e.grad, e.grad_at) for e in edges]
    wires.append(("out", root, None, 0, root.grad, root.grad_at))
    # builtin: value above the wire, gradient below it (CS231n); Graphviz reserves room for
    # both lines above the wire and gives the block's centre
    up, down = (5, 11) if lay.source == "builtin" else (7, 7)
    for key, src, dst, index, grad, grad_at in wires:
        if src.folded or key not in lay.wires:
            continue
        w = lay.wires[key]
        dst_name = dst.name if dst is not None else ""
        value_at = src.shown_at
        out.append(
            f'<g class="wire" data-edge="{key}" data-src="{_t(src.name)}" '
            f'data-dst="{_t(dst_name)}" data-index="{index}">'
            f"<title>{_t(wire_title(expl, src, dst, grad))}</title>"
            f'<path class="wire-line" d="{w.path}" marker-end="url(#arrow)"/>'
            f'<text class="val" x="{w.lx:.1f}" y="{w.ly - up:.1f}" data-show-at="{value_at}" '
            f"{_data('value', src.value)}>{_t(wire_value(src))}</text>"
        )
        if grad is not None and grad_at is not None:
            out.append(
                f'<text class="grad" x="{w.lx:.1f}" y="{w.ly + down:.1f}" '
                f'data-show-at="{grad_at}" {_data("grad", grad)}>'
                f"{_t(wire_grad(grad))}</text>"
            )
        out.append("</g>")
    for n in nodes:
        if n.folded or n.id not in lay.boxes:
            continue
        b = lay.boxes[n.id]
        cls = f"node {n.kind}" + (" output" if n.is_output else "")
        out.append(
            f'<g class="{cls}" data-node="{_t(n.name)}" data-op="{_t(n.op or "")}" '
            f'data-show-at="{n.shown_at}">'
            f"<title>{_t(node_title(expl, n))}</title>"
        )
        if n.kind == "op":
            r = b.h / 2
            out.append(f'<ellipse cx="{b.x:.1f}" cy="{b.y:.1f}" rx="{b.w / 2:.1f}" ry="{r:.1f}"/>')
            out.append(
                f'<text class="sym" x="{b.x:.1f}" y="{b.y + 5:.1f}">'
                f"{_t(node_symbol(n, nodes))}</text>"
            )
            if len(n.consumers) > 1 and n.grad is not None:  # a merge: show the sum
                out.append(
                    f'<text class="grad total" x="{b.x:.1f}" y="{b.y + r + 14:.1f}" '
                    f'data-show-at="{n.grad_at}" {_data("grad", n.grad)}>'
                    f"{_t('Σ ' + wire_grad(n.grad))}</text>"
                )
        else:
            x, y = b.x - b.w / 2, b.y - b.h / 2
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{b.w:.1f}" height="{b.h:.1f}" rx="8"/>'
            )
            ty = b.y + 5 if n.grad is None else b.y - 3
            out.append(f'<text class="name" x="{b.x:.1f}" y="{ty:.1f}">{_t(n.label)}</text>')
            if n.grad is not None and n.grad_at is not None:
                out.append(
                    f'<text class="grad total" x="{b.x:.1f}" y="{b.y + 15:.1f}" '
                    f'data-show-at="{n.grad_at}" {_data("grad", n.grad)}>'
                    f"{_t(wire_grad(n.grad))}</text>"
                )
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def wire_title(expl, src, dst, grad):
    """The tooltip of a wire: its ends, the value it carries and its gradient."""
    p = expl.precision
    R = expl.output
    head = f"{src.name} → {dst.name}" if dst is not None else f"{src.name} (output)"
    lines = [head, f"value {src.name} = {fmt.array(src.value, p)}"]
    if grad is not None:
        lines.append(f"gradient ∂{R}/∂{src.name} along this wire = {fmt.array(grad, p)}")
    return "\n".join(lines)


def node_title(expl, n):
    """The tooltip of a node: its op, value and gradient."""
    p = expl.precision
    lines = [f"{n.name} ({n.op or n.kind})", f"value = {fmt.array(n.value, p)}"]
    if n.grad is not None:
        lines.append(f"∂{expl.output}/∂{n.name} = {fmt.array(n.grad, p)}")
    return "\n".join(lines)


def _step_json(st):
    return {
        "index": st.index,
        "phase": st.phase,
        "kind": st.kind,
        "title": st.title,
        "lines": st.lines,
        "node": st.node,
        "edge": st.edge,
        "pattern": st.pattern,
        "nodes": st.focus_nodes,
        "edges": [str(e) for e in st.focus_edges],
    }


def _gradient_table(expl):
    p = expl.precision
    R = expl.output
    rows = []
    for n in expl.nodes:
        if n.kind != "input":
            continue
        g = n.grad
        rows.append(
            f'<tr data-input="{_t(n.name)}"><th scope="row">{_t(n.name)}</th>'
            f'<td class="val">{_t(fmt.array(n.value, p))}</td>'
            + (
                f'<td class="grad" data-show-at="{n.grad_at}" {_data("grad", g)}>'
                f"{_t(fmt.array(g, p))}</td>"
                if g is not None
                else "<td>—</td>"
            )
            + "</tr>"
        )
    return (
        '<table id="gradients"><caption>Gradients of '
        f"{_t(R)} with respect to every input</caption>"
        f"<thead><tr><th>input</th><th>value</th><th>∂{_t(R)}/∂input</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def to_html(expl, layout="auto"):
    """The page as a string (see :meth:`Explanation.html`)."""
    lay = make_layout(expl, layout)
    data = {
        "title": expl.title,
        "output": expl.output,
        "steps": [_step_json(s) for s in expl.steps],
        "layout": lay.source,
    }
    payload = json.dumps(data, ensure_ascii=False, allow_nan=False).replace("</", "<\\/")
    notes = "".join(
        f'<section class="note"><h2>{_t(title)}</h2><pre>{_t(chr(10).join(lines))}</pre></section>'
        for title, lines in expl.notes
    )
    warnings = ""
    if expl.warnings:
        items = "".join(f"<li>⚠ {_t(w)}</li>" for w in expl.warnings)
        warnings = f'<section id="warnings"><h2>Warnings</h2><ul>{items}</ul></section>'
    step_items = "".join(
        f'<li data-step="{s.index}" class="{s.phase}"><button type="button">'
        f"{_t(s.title)}</button></li>"
        for s in expl.steps
    )
    subtitle = f'<p class="subtitle">{_t(expl.subtitle)}</p>' if expl.subtitle else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="chainrule explain">
<title>{_t(expl.title or "chainrule explain")}</title>
<style>
{_asset("page.css")}
</style>
</head>
<body data-step="0">
<header>
<h1>{_t(expl.title or "chainrule explain")}</h1>
{subtitle}
<p class="legend"><span class="val">green: forward value</span> ·
<span class="grad">red: gradient ∂{_t(expl.output)}/∂(wire)</span> ·
keys: ← → step, Home reset</p>
</header>
<main>
<div id="graph-panel">
{svg(expl, lay)}
</div>
<div id="controls" role="toolbar" aria-label="step through the computation">
<button type="button" id="reset" title="Reset (Home)">Reset</button>
<button type="button" id="prev" title="Previous step (←)">◀ Prev</button>
<button type="button" id="next" title="Next step (→)">Next ▶</button>
<span id="step-counter" aria-live="polite"></span>
<span id="phase"></span>
</div>
<div id="panels">
<section id="narration-panel">
<h2 id="step-title"></h2>
<div id="narration" aria-live="polite"></div>
{_gradient_table(expl)}
{notes}
{warnings}
</section>
<nav id="steps-panel" aria-label="all steps"><h2>Steps</h2>
<ol id="step-list">{step_items}</ol></nav>
</div>
</main>
<script type="application/json" id="explain-data">{payload}</script>
<script>
{_asset("page.js")}
</script>
</body>
</html>
"""
