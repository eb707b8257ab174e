"""Where each node and wire goes in the page's picture.

Two sources of positions, one drawing: :func:`graphviz_layout` asks Graphviz's ``dot``
(``-Tjson``) for node centres and wire splines when it is installed; otherwise
:func:`builtin_layout` places nodes in layers, inputs on the left and the output on the
right (a node's layer is one more than its deepest input; a leaf sits just left of its
first consumer), and orders each layer by the barycenter of its neighbours to untangle
wires. Either way the page draws the same SVG elements with the same ids and data
attributes, so it behaves identically with and without Graphviz.

The page scales the picture down to its panel's width, never beyond it. A long chain
(an MLP's loss: a dozen layers of wide matrix labels) drawn left to right would have to
shrink until its text is unreadable, so when the left-to-right picture is wider than
:data:`FIT_WIDTH` the layers run top to bottom instead (``direction="TB"``), whichever of
the two needs less shrinking.
"""

from __future__ import annotations

import itertools
import json
import math
import subprocess
from dataclasses import dataclass, field

from chainrule.explain import fmt
from chainrule.explain.dot import dot_program, node_symbol, run_dot, to_dot, wire_grad, wire_value


@dataclass
class Box:
    x: float  # centre
    y: float
    w: float
    h: float


@dataclass
class Wire:
    path: str  # SVG path data, ending at the arrow tip
    lx: float  # label centre
    ly: float


@dataclass
class Layout:
    width: float
    height: float
    boxes: dict = field(default_factory=dict)  # node id -> Box
    wires: dict = field(default_factory=dict)  # edge id (or "out") -> Wire
    source: str = "builtin"


CHAR_W = 7.2  # average width of a 12px sans-serif character
OP_R = 22
ROW = 92
PAD = 24
LABEL_H = 44  # room for a wire's two label lines (value, gradient) in a vertical gap
# the picture's width (layout units) that the page draws at full size in a 1280-px window
# (the panel is ~1220 px wide and the page draws layout units at SCALE = 1.3)
FIT_WIDTH = 940
PAGE_TEXT_SCALE = 1.3  # the page's label text relative to Graphviz's (12.5-13.5 px vs 11 pt)


def _node_size(n, nodes):
    if n.kind == "op":
        d = max(2 * OP_R, CHAR_W * len(node_symbol(n, nodes)) + 18)
        return d, (d if d <= 2 * OP_R + 8 else 2 * OP_R)  # long labels: an ellipse
    w = max(46, CHAR_W * 1.15 * len(n.label) + 22)
    grad = "" if n.grad is None else fmt.short(n.grad, 3)
    w = max(w, CHAR_W * len(grad) + 18)
    return w, 46 if n.kind == "input" else 32


def builtin_layout(expl, direction="LR"):
    """Layered layout computed here (no Graphviz needed): left to right (``"LR"``) or top
    to bottom (``"TB"``).

    A wire that skips layers gets a dummy point in every layer it crosses (Sugiyama's
    method), so it bends around the nodes in between instead of running through them.
    """
    nodes = [n for n in expl.nodes if not n.folded]
    by_id = {n.id: n for n in expl.nodes}
    visible = {n.id for n in nodes}
    edges = [e for e in expl.edges if e.src in visible]

    layer = {}
    for n in nodes:  # nodes are in topological order
        ins = [i for i in n.inputs if i in visible]
        layer[n.id] = 1 + max((layer[i] for i in ins), default=-1)
    for n in reversed(nodes):  # pull each leaf right, next to its first consumer
        if n.kind != "op" and n.consumers:
            layer[n.id] = max(0, min(layer[expl.edges[c].dst] for c in n.consumers) - 1)
    n_layers = max(layer.values()) + 1

    # vertices: node ids, plus ("d", edge id, layer) dummies along long wires
    preds = {n.id: [] for n in nodes}
    succs = {n.id: [] for n in nodes}
    chains = {}
    for e in edges:
        chain = [e.src] + [("d", e.id, L) for L in range(layer[e.src] + 1, layer[e.dst])]
        chain.append(e.dst)
        for v in chain[1:-1]:
            preds[v], succs[v] = [], []
            layer[v] = v[2]
        for a, b in itertools.pairwise(chain):
            succs[a].append(b)
            preds[b].append(a)
        chains[e.id] = chain
    rows = [[] for _ in range(n_layers)]
    for v in preds:
        rows[layer[v]].append(v)
    pos = {}

    def renumber():
        for row in rows:
            for k, v in enumerate(row):
                pos[v] = k - (len(row) - 1) / 2

    renumber()
    for _ in range(8):  # barycenter sweeps: right, then left
        for L in range(1, n_layers):
            rows[L].sort(key=lambda v: _mean([pos[p] for p in preds[v]], pos[v]))
            renumber()
        for L in range(n_layers - 2, -1, -1):
            rows[L].sort(key=lambda v: _mean([pos[c] for c in succs[v]], pos[v]))
            renumber()

    sizes = {n.id: _node_size(n, expl.nodes) for n in nodes}
    root = next(n for n in nodes if n.is_output)
    label_len = {e.id: max(len(wire_value(by_id[e.src])), len(wire_grad(e.grad))) for e in edges}
    out_text = max(len(wire_value(root)), len(wire_grad(root.grad)), 6)
    lay = Layout(width=0, height=0, source="builtin")
    if direction == "TB":
        _place_top_to_bottom(lay, expl, nodes, edges, rows, layer, pos, chains, sizes, label_len)
    else:
        _place_left_to_right(lay, expl, nodes, edges, rows, layer, pos, chains, sizes, label_len)
    r = lay.boxes[root.id]
    if direction == "TB":
        out_len = 2 * LABEL_H
        lay.wires["out"] = _curve_v([(r.x, r.y + r.h / 2), (r.x, r.y + r.h / 2 + out_len - 8)])
        lay.height = r.y + r.h / 2 + out_len + PAD
        lay.width = max(lay.width, r.x + CHAR_W * out_text / 2 + PAD)
    else:
        out_len = max(CHAR_W * out_text + 40, 90)
        lay.wires["out"] = _curve([(r.x + r.w / 2, r.y), (r.x + r.w / 2 + out_len - 8, r.y)])
        lay.width = r.x + r.w / 2 + out_len + PAD
    return lay


def _place_left_to_right(lay, expl, nodes, edges, rows, layer, pos, chains, sizes, label_len):
    # each gap between two layers is as wide as the labels drawn in it (on first legs)
    by_id = {n.id: n for n in expl.nodes}
    longest = [6] * len(rows)
    for e in edges:
        longest[layer[e.src]] = max(longest[layer[e.src]], label_len[e.id])
    gaps = [max(100.0, CHAR_W * k + 40) for k in longest]
    widths = [
        max((sizes[v][0] for v in row if not isinstance(v, tuple)), default=0) for row in rows
    ]
    tallest = max(len(r) for r in rows)
    height = tallest * ROW + 2 * PAD + 8
    xs, x = [], PAD
    for w, gap in zip(widths, gaps):
        xs.append(x + w / 2)
        x += w + gap

    def y_of(v):
        return height / 2 + pos[v] * ROW

    lay.height = height
    for n in nodes:
        w, h = sizes[n.id]
        lay.boxes[n.id] = Box(xs[layer[n.id]], y_of(n.id), w, h)
    for e in edges:
        a, b = lay.boxes[e.src], lay.boxes[e.dst]
        points = [(a.x + a.w / 2, a.y)]
        points += [(xs[v[2]], y_of(v)) for v in chains[e.id][1:-1]]
        end = (b.x - b.w / 2, b.y)
        if by_id[e.dst].kind == "op":  # end on the circle, not its bounding box
            end = _on_circle(b, *points[-1])
        points.append(end)
        lay.wires[e.id] = _curve(points)


def _place_top_to_bottom(lay, expl, nodes, edges, rows, layer, pos, chains, sizes, label_len):
    # columns as wide as the widest node or wire label; layers as tall as their tallest
    # node, with room for a wire's two label lines below each
    by_id = {n.id: n for n in expl.nodes}
    widest = max([w for w, _ in sizes.values()] + [CHAR_W * k for k in label_len.values()])
    col = 1.2 * widest + 24  # labels near the top of converging wires stay apart
    widest_row = max(len(r) for r in rows)
    width = widest_row * col + 2 * PAD
    heights = [
        max((sizes[v][1] for v in row if not isinstance(v, tuple)), default=0) for row in rows
    ]
    ys, y = [], PAD
    for h in heights:
        ys.append(y + h / 2)
        y += h + 2 * LABEL_H + 16

    def x_of(v):
        return width / 2 + pos[v] * col

    lay.width = width
    for n in nodes:
        w, h = sizes[n.id]
        lay.boxes[n.id] = Box(x_of(n.id), ys[layer[n.id]], w, h)
    for e in edges:
        a, b = lay.boxes[e.src], lay.boxes[e.dst]
        points = [(a.x, a.y + a.h / 2)]
        points += [(x_of(v), ys[v[2]]) for v in chains[e.id][1:-1]]
        end = (b.x, b.y - b.h / 2)
        if by_id[e.dst].kind == "op":
            end = _on_circle(b, *points[-1])
        points.append(end)
        lay.wires[e.id] = _curve_v(points)


def _curve(points):
    """A smooth path through ``points`` (horizontal tangents), labelled on its first leg."""
    wire = _bezier(*points[0], *points[1])
    if len(points) == 2:
        return wire
    path = wire.path
    for (x1, y1), (x2, y2) in itertools.pairwise(points):
        path += " " + _bezier(x1, y1, x2, y2).path.split(" ", 1)[1]
    return Wire(path, wire.lx, wire.ly)


def _curve_v(points):
    """A smooth path through ``points`` with vertical tangents, labelled on its first leg."""
    wire = _bezier_v(*points[0], *points[1])
    path = wire.path
    for (x1, y1), (x2, y2) in itertools.pairwise(points[1:]):
        path += " " + _bezier_v(x1, y1, x2, y2).path.split(" ", 1)[1]
    return Wire(path, wire.lx, wire.ly)


def _bezier_v(x1, y1, x2, y2):
    """The vertical twin of :func:`_bezier`: leaves downwards, arrives from above."""
    dy = max(30.0, (y2 - y1) * 0.5)
    c1x, c1y, c2x, c2y = x1, y1 + dy, x2, y2 - dy
    # the label sits a quarter of the way down, still near its source's column: two
    # wires that meet at one node would put their labels side by side at the midpoint
    t = 0.25
    mx = (1 - t) ** 3 * x1 + 3 * (1 - t) ** 2 * t * c1x + 3 * (1 - t) * t**2 * c2x + t**3 * x2
    my = (1 - t) ** 3 * y1 + 3 * (1 - t) ** 2 * t * c1y + 3 * (1 - t) * t**2 * c2y + t**3 * y2
    path = f"M{x1:.1f},{y1:.1f} C{c1x:.1f},{c1y:.1f} {c2x:.1f},{c2y:.1f} {x2:.1f},{y2:.1f}"
    return Wire(path, mx, my)


def _mean(values, default):
    return sum(values) / len(values) if values else default


def _on_circle(b, x1, y1):
    dx, dy = x1 - b.x, y1 - b.y
    rx, ry = b.w / 2, b.h / 2  # the point where the ray from the centre leaves the ellipse
    t = 1.0 / (math.hypot(dx / rx, dy / ry) or 1.0)
    return b.x + dx * t, b.y + dy * t


def _bezier(x1, y1, x2, y2):
    dx = max(30.0, (x2 - x1) * 0.5)
    c1x, c1y, c2x, c2y = x1 + dx, y1, x2 - dx, y2
    t = 0.5  # the label sits at the curve's midpoint
    mx = (1 - t) ** 3 * x1 + 3 * (1 - t) ** 2 * t * c1x + 3 * (1 - t) * t**2 * c2x + t**3 * x2
    my = (1 - t) ** 3 * y1 + 3 * (1 - t) ** 2 * t * c1y + 3 * (1 - t) * t**2 * c2y + t**3 * y2
    path = f"M{x1:.1f},{y1:.1f} C{c1x:.1f},{c1y:.1f} {c2x:.1f},{c2y:.1f} {x2:.1f},{y2:.1f}"
    return Wire(path, mx, my)


def graphviz_layout(expl, direction="LR"):
    """Node centres and wire splines from Graphviz's ``dot -Tjson`` (raises if missing)."""
    # the page draws 12.5-px text where Graphviz measured 11-pt labels: reserve room for it
    dot = to_dot(expl, rankdir=direction, text_scale=PAGE_TEXT_SCALE)
    data = json.loads(run_dot(dot, "json").decode("utf-8"))
    x0, y0, x1, y1 = (float(v) for v in data["bb"].split(","))
    height = y1 - y0
    lay = Layout(width=x1 - x0 + 2 * PAD, height=height + 2 * PAD, source="graphviz")

    def pt(s):
        x, y = (float(v) for v in s.split(",")[-2:])
        return x - x0 + PAD, (y1 - y) + PAD

    objects = data.get("objects", [])
    gvid = {}
    for obj in objects:
        gvid[obj["_gvid"]] = obj["name"]
        name = obj["name"]
        if not name.startswith("n") or "pos" not in obj:
            continue
        x, y = pt(obj["pos"])
        lay.boxes[int(name[1:])] = Box(x, y, float(obj["width"]) * 72, float(obj["height"]) * 72)
    for e in data.get("edges", []):
        eid = e.get("id", "")
        key = "out" if eid == "edge-out" else int(eid.split("-")[1])
        spline = e["pos"].split()
        end = None
        points = []
        for tok in spline:
            if tok.startswith("e,"):
                end = pt(tok[2:])
            elif tok.startswith("s,"):
                continue
            else:
                points.append(pt(tok))
        d = f"M{points[0][0]:.1f},{points[0][1]:.1f}"
        for k in range(1, len(points) - 2, 3):
            (ax, ay), (bx, by), (cx, cy) = points[k : k + 3]
            d += f" C{ax:.1f},{ay:.1f} {bx:.1f},{by:.1f} {cx:.1f},{cy:.1f}"
        if end is not None:
            d += f" L{end[0]:.1f},{end[1]:.1f}"
        lx, ly = pt(e["lp"]) if "lp" in e else points[len(points) // 2]
        lay.wires[key] = Wire(d, lx, ly)
    return lay


def layout(expl, how="auto"):
    """``how``: "auto" (Graphviz if installed, else built-in), "graphviz" or "builtin"."""
    if how not in ("auto", "graphviz", "builtin"):
        raise ValueError(f"layout: expected 'auto', 'graphviz' or 'builtin', got {how!r}")
    if how == "graphviz" or (how == "auto" and dot_program()):
        try:
            return _fitted(expl, graphviz_layout)
        except (OSError, ValueError, KeyError, IndexError, subprocess.SubprocessError):
            if how == "graphviz":
                raise
    return _fitted(expl, builtin_layout)


def _fitted(expl, make):
    """Left to right, unless that is wider than FIT_WIDTH and top to bottom is narrower."""
    wide = make(expl, "LR")
    if wide.width <= FIT_WIDTH:
        return wide
    tall = make(expl, "TB")
    return tall if tall.width < wide.width else wide
