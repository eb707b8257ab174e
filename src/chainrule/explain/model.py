"""The result of ``explain``: the graph's nodes and edges, the narration's steps, and the
:class:`Explanation` object that holds them (text, gradients, pictures).

These are plain records: :mod:`chainrule.explain.record` fills them from a graph and the
engine's backward pass, :mod:`chainrule.explain.narrate` writes the steps, and
:mod:`chainrule.explain.dot` / :mod:`chainrule.explain.page` draw them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chainrule.autograd.description import Description
from chainrule.explain import fmt
from chainrule.explain.dot import render, to_dot
from chainrule.explain.page import to_html
from chainrule.files import atomic_write


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
    # the op's description from its registration (formula, local derivative, symbol)
    description: Description = field(default_factory=Description)

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
        return to_dot(self)

    def render(self, path, format=None):
        """Draw the graph to ``path`` (.svg or .png, or ``format``) with Graphviz's ``dot``."""
        return render(self, path, format)

    def html(self, path=None, layout="auto"):
        """A self-contained page that steps through the narration on the graph.

        Returns the HTML text; writes it to ``path`` when given. ``layout`` is "auto"
        (Graphviz's layout when ``dot`` is installed, else the built-in one),
        "graphviz" or "builtin".
        """
        text = to_html(self, layout=layout)
        if path is not None:
            atomic_write(path, text)
        return text

    def draw(self, layout="builtin", precision=3):
        """A static SVG picture of the graph with every value and gradient (CS231n style),
        drawn without Graphviz; see :func:`chainrule.draw`."""
        # late-bound, like _repr_mimebundle_ below: display is a higher layer
        from chainrule.display import draw

        return draw(self, layout=layout, precision=precision)

    # Jupyter: the step-through page in its own frame, the narration as text
    def _repr_mimebundle_(self, include=None, exclude=None):
        # late-bound: chainrule.display sits above this layer (DESIGN.md), so it is
        # imported on the first notebook display, never when this module is imported
        from chainrule.display import mimebundle

        return mimebundle(self, include, exclude)
