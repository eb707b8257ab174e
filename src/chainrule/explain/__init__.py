"""Explain: see every value and gradient of a computation, step by step.

``cr.explain(loss)`` narrates the forward values node by node and the engine's backward
pass edge by edge in the lecture's notation (upstream × local = downstream), names each
gate's pattern (add distributes, mul switches, max routes, branches add), and draws the
graph as DOT, SVG/PNG (through Graphviz) or a self-contained HTML page that steps
through it. ``chainrule explain "(x+y)*z" --at x=-2,y=5,z=-4`` does the same for an
expression typed on the command line, and ``chainrule explain --example NAME`` replays
the lecture's examples.
"""

from chainrule.explain.core import Edge, Explanation, Node, Step, explain
from chainrule.explain.evaluate import build
from chainrule.explain.parser import ExpressionError, parse, parse_assignments


def explain_expression(source, values=None, *, precision=4, title=None):
    """Explain an expression such as ``"(x+y)*z"`` at ``values`` (a dict, or ``"x=-2,y=5"``).

    The expression is parsed safely (never ``eval``), evaluated by building a chainrule
    graph on float64 leaves named after the variables, and explained with :func:`explain`.
    """
    import numpy as np

    from chainrule.explain import fmt
    from chainrule.explain.parser import to_source

    with np.errstate(all="ignore"):
        out, leaves, statements = build(source, values)
    if title is None:
        parts = [
            f"{st.name if st.name else (out.name or 'f')} = {to_source(st.expr)}"
            for st in statements
        ]
        title = "Explaining " + "; ".join(parts)
    at = ", ".join(f"{k} = {fmt.array(t.data, precision)}" for k, t in leaves.items())
    return explain(out, precision=precision, title=title, subtitle=f"at {at}")


__all__ = [
    "Edge",
    "Explanation",
    "ExpressionError",
    "Node",
    "Step",
    "explain",
    "explain_expression",
    "parse",
    "parse_assignments",
]
