"""``chainrule explain``: every value and gradient of an expression, step by step."""

from __future__ import annotations

import argparse
import sys

from chainrule.explain import ExpressionError, examples, explain_expression
from chainrule.files import atomic_write

EPILOG = """\
examples:
  chainrule explain "(x+y)*z" --at x=-2,y=5,z=-4
  chainrule explain "q = x + y; f = q * z" --at x=-2,y=5,z=-4      (name intermediates)
  chainrule explain "sum(dot(W, x)**2)" --at "W=[[0.1,0.5],[-0.3,0.8]],x=[[0.2],[0.4]]"
  chainrule explain --example sigmoid-neuron --html neuron.html
  chainrule explain --list

expressions: numbers, variables, + - * / **, unary minus, parentheses, and
  exp log sqrt abs tanh sigmoid relu max(a,b) min(a,b) dot(a,b) sum(a)
  (max(a)/min(a) reduce a vector); 'NAME = expr;' names an intermediate result.
values: --at NAME=VALUE,...  with numbers or nested lists: w=[2,-3], W=[[1,2],[3,4]].
"""


def register(subparsers):
    p = subparsers.add_parser(
        "explain",
        help="narrate the forward and backward pass of an expression or a built-in example",
        description=(
            "Show every value and gradient: the forward pass node by node, then the "
            "backward pass edge by edge (upstream × local = downstream), with each gate's "
            "pattern named. Optionally draw the graph (DOT, SVG, PNG) or write a "
            "self-contained HTML page that steps through it."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("expression", nargs="?", help='the expression, e.g. "(x+y)*z"')
    p.add_argument(
        "--at",
        action="append",
        metavar="NAME=VALUE,...",
        help="values of the variables (repeatable), e.g. x=-2,y=5 or w=[2,-3]",
    )
    p.add_argument(
        "--example",
        metavar="NAME",
        help="a built-in example: the classic backpropagation exercises (see --list)",
    )
    p.add_argument("--list", action="store_true", help="list the built-in examples")
    p.add_argument("--dot", metavar="FILE", help="write the graph as Graphviz DOT ('-': stdout)")
    p.add_argument("--svg", metavar="FILE", help="draw the graph as SVG (needs Graphviz)")
    p.add_argument("--png", metavar="FILE", help="draw the graph as PNG (needs Graphviz)")
    p.add_argument("--html", metavar="FILE", help="write a step-through web page (one file)")
    p.add_argument(
        "--layout",
        choices=("auto", "graphviz", "builtin"),
        default="auto",
        help="graph layout for --html: Graphviz's when installed (auto) or the built-in one",
    )
    p.add_argument("--no-forward", action="store_true", help="narrate the backward pass only")
    p.add_argument(
        "--precision",
        type=int,
        default=4,
        metavar="N",
        help="significant digits in the narration (default 4)",
    )
    p.add_argument("--ascii", action="store_true", help="ASCII only: df/dx instead of ∂f/∂x")
    p.add_argument("-q", "--quiet", action="store_true", help="print no narration")
    p.set_defaults(func=run)
    return p


def _can_print_unicode(stream):
    enc = getattr(stream, "encoding", None) or "ascii"
    try:
        "∂σ−⊙ᵀ²√Σ‖→⚠✓".encode(enc)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _explanation(args):
    if args.example and args.expression:
        raise ValueError("give an expression or --example NAME, not both")
    if args.example:
        if args.at:
            raise ValueError("--at sets an expression's variables; examples come with their own")
        return examples.get(args.example).explain(precision=args.precision)
    if not args.expression:
        raise ValueError(
            'give an expression, e.g. chainrule explain "(x+y)*z" --at x=-2,y=5,z=-4, '
            "or --example NAME (see --list)"
        )
    values = ",".join(args.at) if args.at else {}
    return explain_expression(args.expression, values, precision=args.precision)


def run(args):
    if args.list:
        print(examples.listing())
        return 0
    if not 1 <= args.precision <= 17:
        raise ValueError(f"--precision must be between 1 and 17, got {args.precision}")
    try:
        expl = _explanation(args)
    except ExpressionError as e:
        if e.col is None:
            raise
        print(str(e), file=sys.stderr)  # the expression, then a caret under the problem
        return 2

    ascii_only = args.ascii or not _can_print_unicode(sys.stdout)
    dot_to_stdout = args.dot == "-"
    if not args.quiet and not dot_to_stdout:
        sys.stdout.write(expl.text(forward=not args.no_forward, ascii=ascii_only))
        sys.stdout.flush()

    written = []
    if args.dot:
        if dot_to_stdout:
            sys.stdout.write(expl.dot())
        else:
            atomic_write(args.dot, expl.dot())
            written.append(args.dot)
    if args.html:
        atomic_write(args.html, expl.html(layout=args.layout))
        written.append(args.html)
    for path, kind in ((args.svg, "svg"), (args.png, "png")):
        if path:
            expl.render(path, kind)
            written.append(path)
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0
