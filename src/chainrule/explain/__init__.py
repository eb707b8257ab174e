"""Explain: see every value and gradient of a computation, step by step.

``cr.explain(loss)`` narrates the forward values node by node and the engine's backward
pass edge by edge in the chain rule's notation (upstream × local = downstream:
∂L/∂x = ∂L/∂q · ∂q/∂x), names each gate's pattern (add distributes, mul switches, max
routes, branches add), and draws the graph as DOT, SVG/PNG (through Graphviz) or a
self-contained HTML page that steps through it. ``chainrule explain "(x+y)*z" --at
x=-2,y=5,z=-4`` does the same for an expression typed on the command line, and
``chainrule explain --example NAME`` replays the worked examples: the circuit
(x + y)·z, a sigmoid neuron, the norm ‖W x‖², a 2-3-2 MLP.
"""

from chainrule.explain.expression import explain_expression
from chainrule.explain.model import Edge, Explanation, Node, Step
from chainrule.explain.parser import ExpressionError, parse, parse_assignments
from chainrule.explain.record import explain

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
