"""Explain an expression typed as text: parse it, build the graph, narrate it."""

from __future__ import annotations

import numpy as np

from chainrule.explain import fmt
from chainrule.explain.evaluate import build
from chainrule.explain.parser import to_source
from chainrule.explain.record import explain


def explain_expression(source, values=None, *, precision=4, title=None):
    """Explain an expression such as ``"(x+y)*z"`` at ``values`` (a dict, or ``"x=-2,y=5"``).

    The expression is parsed safely (never ``eval``), evaluated by building a chainrule
    graph on float64 leaves named after the variables, and explained with
    :func:`~chainrule.explain.record.explain`.
    """
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
