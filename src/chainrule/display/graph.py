"""The graph of an explanation as a standalone SVG picture, CS231n style, drawn here.

Inputs on the left, the output on the right; op nodes are circles labelled by their op,
inputs are boxes; every wire carries the value flowing forward (green, above) and the
gradient ∂out/∂(wire) flowing back (red, below); an input's box holds its total
gradient, and a node that feeds several ops shows the sum of its branches (Σ).

Positions come from :mod:`chainrule.explain.layout` — chainrule's own layered layout by
default, so nothing but Python is needed (no Graphviz ``dot``); ``layout="graphviz"``
takes Graphviz's positions instead when it is installed. Styles are presentation
attributes, not a stylesheet, so the picture looks the same inline in a notebook, in an
``<img>``, in a file viewer and after an HTML sanitiser; its marker id is unique, so
several pictures on one page do not collide.
"""

from __future__ import annotations

import json

import numpy as np

from chainrule.display.scope import esc, new_id
from chainrule.explain.dot import node_symbol, run_dot, to_dot, wire_grad, wire_value
from chainrule.explain.layout import layout as make_layout
from chainrule.explain.page import node_title, wire_title

VALUE = "#1b7f3b"
GRAD = "#d62728"
LINE = "#8c959f"
INK = "#1f2328"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif"
TITLE_H = 26


def _full(a):
    """Every number of ``a`` for a data attribute (nan/inf as strings), or its shape."""
    a = np.asarray(a, dtype=np.float64)
    if a.size > 1000:
        return {"shape": list(a.shape)}

    def one(v):
        v = float(v)
        return v if np.isfinite(v) else repr(v)

    return one(a) if a.ndim == 0 else np.vectorize(one, otypes=[object])(a).tolist()


def _data(name, a):
    return f' data-{name}="{esc(json.dumps(_full(a)))}"'


def _text(x, y, text, *, fill=INK, size=12.5, weight=None, cls=None, extra=""):
    bold = f' font-weight="{weight}"' if weight else ""
    c = f' class="{cls}"' if cls else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" fill="{fill}" font-size="{size}"{bold}{c}{extra}>'
        f"{esc(text)}</text>"
    )


HALO = ' stroke="#ffffff" stroke-width="3" paint-order="stroke"'  # legible over a wire


def graph_svg(expl, layout="builtin", precision=3, title=True) -> str:
    """The SVG text of ``expl``'s graph (see the module docstring).

    ``layout``: "builtin" (default, pure Python), "graphviz" (needs ``dot``) or "auto".
    Each node is a ``<g data-node=NAME data-value=… data-grad=…>`` and each wire a
    ``<g data-edge=ID>``, with the full-precision numbers in the data attributes.
    """

    lay = make_layout(expl, layout)
    nodes = expl.nodes
    root = next(n for n in nodes if n.is_output)
    uid = "__UID__"  # replaced below by an id derived from the finished picture
    top = TITLE_H if title and expl.title else 0
    width, height = lay.width, lay.height + top
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{uid}" class="chainrule-graph" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'font-family="{FONT}" text-anchor="middle" role="img" '
        f'aria-label="{esc(expl.title or "computational graph")}" data-layout="{lay.source}">',
        f'<defs><marker id="{uid}-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{LINE}"/></marker></defs>',
        '<rect width="100%" height="100%" fill="#ffffff"/>',
    ]
    if top:
        out.append(_text(width / 2, 18, expl.title, size=13.5, weight=600))
    out.append(f'<g transform="translate(0,{top})">')
    # builtin: value above the wire, gradient below (CS231n); Graphviz reserves room for
    # both lines above the wire and gives the label block's centre
    up, down = (5, 12) if lay.source == "builtin" else (7, 8)
    wires = [(e.id, nodes[e.src], nodes[e.dst], e.grad) for e in expl.edges]
    wires.append(("out", root, None, root.grad))
    for key, src, dst, grad in wires:
        if src.folded or key not in lay.wires:
            continue
        w = lay.wires[key]
        dst_name = "" if dst is None else dst.name
        out.append(
            f'<g class="wire" data-edge="{key}" data-src="{esc(src.name)}" '
            f'data-dst="{esc(dst_name)}">'
            f"<title>{esc(wire_title(expl, src, dst, grad))}</title>"
            f'<path d="{w.path}" fill="none" stroke="{LINE}" stroke-width="1.4" '
            f'marker-end="url(#{uid}-arrow)"/>'
        )
        out.append(
            _text(w.lx, w.ly - up, wire_value(src, precision), fill=VALUE, cls="val", extra=HALO)
        )
        if grad is not None:
            out.append(
                _text(
                    w.lx,
                    w.ly + down,
                    wire_grad(grad, precision),
                    fill=GRAD,
                    weight=600,
                    cls="grad",
                    extra=HALO,
                )
            )
        out.append("</g>")
    for n in nodes:
        if n.folded or n.id not in lay.boxes:
            continue
        b = lay.boxes[n.id]
        attrs = _data("value", n.value) + (_data("grad", n.grad) if n.grad is not None else "")
        out.append(
            f'<g class="node {n.kind}" data-node="{esc(n.name)}" data-op="{esc(n.op or "")}"'
            f"{attrs}><title>{esc(node_title(expl, n))}</title>"
        )
        if n.kind == "op":
            r = b.h / 2
            out.append(
                f'<ellipse cx="{b.x:.1f}" cy="{b.y:.1f}" rx="{b.w / 2:.1f}" ry="{r:.1f}" '
                'fill="#fff4d6" stroke="#6e7781" stroke-width="1.3"/>'
            )
            out.append(_text(b.x, b.y + 5, node_symbol(n, nodes), size=15))
            if len(n.consumers) > 1 and n.grad is not None:  # branches add: show the sum
                out.append(
                    _text(
                        b.x,
                        b.y + r + 14,
                        "Σ " + wire_grad(n.grad, precision),
                        fill=GRAD,
                        weight=600,
                        cls="grad",
                    )
                )
        else:
            x, y = b.x - b.w / 2, b.y - b.h / 2
            dashed = ' stroke-dasharray="4 3"' if n.kind == "constant" else ""
            fill = "#e8f0fe" if n.kind == "input" else "#ffffff"
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{b.w:.1f}" height="{b.h:.1f}" rx="8" '
                f'fill="{fill}" stroke="#6e7781" stroke-width="1.3"{dashed}/>'
            )
            ty = b.y + 5 if n.grad is None else b.y - 3
            weight = 600 if n.kind == "input" else None
            out.append(_text(b.x, ty, n.label, size=14, weight=weight, cls="name"))
            if n.grad is not None:
                out.append(
                    _text(
                        b.x,
                        b.y + 15,
                        wire_grad(n.grad, precision),
                        fill=GRAD,
                        weight=600,
                        cls="grad",
                    )
                )
        out.append("</g>")
    out.append("</g></svg>")
    text = "\n".join(out)
    return text.replace(uid, new_id("crg", text))


def graphviz_svg(expl) -> str:
    """The same picture drawn entirely by Graphviz's ``dot -Tsvg`` (raises when missing)."""
    text = run_dot(to_dot(expl), "svg").decode("utf-8")
    start = text.find("<svg")  # drop the XML prolog and DOCTYPE: inline SVG needs neither
    return text[start:] if start >= 0 else text
