"""The graph as Graphviz DOT text, and SVG/PNG through Graphviz's ``dot`` program.

CS231n style: inputs on the left, the output on the right; op nodes are circles labelled
by their op; every wire carries its forward value (green, above) and the gradient that
flows back along it (red, below). DOT is plain text written here, so it needs nothing
installed; drawing it needs the ``dot`` program (``apt-get install graphviz``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from chainrule.explain import fmt
from chainrule.files import atomic_write

VALUE_COLOR = "#1b7f3b"
GRAD_COLOR = "#d62728"
NOT_FOUND = "Graphviz 'dot' not found; install graphviz (apt-get install graphviz) or use --dot"
FORMATS = ("svg", "png", "pdf")


class GraphvizNotFoundError(OSError):
    """The ``dot`` program is not installed."""

    def __init__(self):
        super().__init__(NOT_FOUND)


def node_symbol(node, nodes):
    """The label drawn in an op's circle: ``+``, ``×``, ``σ``; a folded constant joins it
    (``×2``, ``+1``, ``**2``)."""
    if node.kind != "op":
        return node.label
    sym = node.description.symbol or node.op
    for i in node.inputs:
        c = nodes[i]
        if c.folded:
            return f"{sym}{c.label}"
    return sym


def wire_value(node, precision=3):
    """The forward value a wire carries, short: ``x = −2``, ``W = 2×2``."""
    v = fmt.short(node.value, precision)
    if node.kind == "constant" and node.label != node.name:
        return v
    return f"{node.name} = {v}" if "×" not in v or node.value.ndim == 0 else f"{node.name}: {v}"


def wire_grad(grad, precision=3):
    return "" if grad is None else fmt.short(grad, precision)


def _esc(text):
    return (
        str(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )


def _q(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(expl, precision=3, rankdir="LR", text_scale=1.0):
    """DOT text for an :class:`~chainrule.explain.model.Explanation`; ``rankdir`` "LR"
    (inputs left, output right) or "TB" (inputs on top). ``text_scale`` enlarges the
    labels' font sizes (the page, whose text is larger than Graphviz's, asks for room)."""
    node_pt, edge_pt, grad_pt = (f"{size * text_scale:g}" for size in (13, 11, 11))
    nodes, edges = expl.nodes, expl.edges
    lines = [
        "digraph chainrule {",
        f'  graph [rankdir={rankdir}, fontname="Helvetica", fontsize=14, nodesep=0.3, ranksep=0.6,'
        f" labelloc=t, label={_q(expl.title or '')}];",
        f'  node [fontname="Helvetica", fontsize={node_pt}, color="#444444"];',
        f'  edge [fontname="Helvetica", fontsize={edge_pt}, color="#666666", arrowsize=0.6];',
    ]
    for n in nodes:
        if n.folded:
            continue
        nid = f"n{n.id}"
        attrs = {"id": f"node-{n.name}", "tooltip": f"{n.name} ({n.kind})"}
        if n.kind == "op":
            sym = node_symbol(n, nodes)
            attrs.update(
                shape="circle" if len(sym) <= 4 else "ellipse",
                style="filled",
                fillcolor="#fff4d6",
                label=sym,
                width="0.5",
                height="0.5",
            )
        elif n.kind == "input":
            label = _esc(n.name)
            if n.grad is not None:
                grad = _esc(wire_grad(n.grad, precision))
                label += f'<br/><font color="{GRAD_COLOR}" point-size="{grad_pt}">{grad}</font>'
            attrs.update(shape="box", style="rounded,filled", fillcolor="#e8f0fe")
            attrs["label"] = f"<{label}>"
        else:
            attrs.update(shape="box", style="rounded,dashed", label=n.label, fontcolor="#555555")
        lines.append(f"  {nid} [{_attrs(attrs)}];")
    for e in edges:
        src = nodes[e.src]
        if src.folded:
            continue
        label = f'<font color="{VALUE_COLOR}">{_esc(wire_value(src, precision))}</font>'
        if e.grad is not None:
            label += f'<br/><font color="{GRAD_COLOR}">{_esc(wire_grad(e.grad, precision))}</font>'
        lines.append(f'  n{e.src} -> n{e.dst} [id="edge-{e.id}", label=<{label}>];')
    root = next(n for n in nodes if n.is_output)
    lines.append("  out [shape=point, style=invis, width=0.01];")
    label = f'<font color="{VALUE_COLOR}">{_esc(wire_value(root, precision))}</font>'
    if root.grad is not None:
        label += f'<br/><font color="{GRAD_COLOR}">{_esc(wire_grad(root.grad, precision))}</font>'
    lines.append(f'  n{root.id} -> out [id="edge-out", label=<{label}>];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _attrs(attrs):
    def value(v):
        return v if v.startswith("<") and v.endswith(">") else _q(v)  # HTML-like label

    return ", ".join(f"{k}={value(str(v))}" for k, v in attrs.items())


def dot_program():
    """Path of Graphviz's ``dot``, or None."""
    return shutil.which("dot")


def run_dot(dot_text, fmt_name, timeout=60):
    """Run ``dot -T<fmt>`` on ``dot_text`` and return its output bytes."""
    exe = dot_program()
    if exe is None:
        raise GraphvizNotFoundError()
    proc = subprocess.run(
        [exe, f"-T{fmt_name}"],
        input=dot_text.encode("utf-8"),
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise OSError(f"Graphviz 'dot -T{fmt_name}' failed: {msg[-1] if msg else proc.returncode}")
    return proc.stdout


def render(expl, path, format=None):
    """Draw the graph to ``path``; the format comes from ``format`` or the file suffix."""
    path = Path(path)
    name = (format or path.suffix.lstrip(".")).lower()
    if name not in FORMATS:
        raise ValueError(
            f"render: cannot tell the format of {str(path)!r}; use a .svg, .png or .pdf name"
        )
    data = run_dot(to_dot(expl), name)
    atomic_write(path, data)
    return path
