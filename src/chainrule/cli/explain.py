"""``chainrule explain``: every value and gradient of an expression, step by step."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from chainrule.cli.model_file import data_rows, is_classifier, read_model
from chainrule.data.prepare import prepare_inputs
from chainrule.experiment.options import EmptyEntry, split_list
from chainrule.explain import ExpressionError, examples, explain_expression
from chainrule.explain.network import explain_model
from chainrule.files import atomic_write

EPILOG = """\
examples:
  chainrule explain "(x+y)*z" --at x=-2,y=5,z=-4
  chainrule explain "q = x + y; f = q * z" --at x=-2,y=5,z=-4      (name intermediates)
  chainrule explain "sum(dot(W, x)**2)" --at "W=[[0.1,0.5],[-0.3,0.8]],x=[[0.2],[0.4]]"
  chainrule explain --example sigmoid-neuron --html neuron.html
  chainrule explain --list
  chainrule explain --model runs/a --data digits --row 0          (a trained model)
  chainrule explain --model model.pt --activation tanh --input 0.5,-1,2,0 --label 1

expressions: numbers, variables, + - * / **, unary minus, parentheses, and
  exp log sqrt abs tanh sigmoid relu max(a,b) min(a,b) dot(a,b) sum(a)
  (max(a)/min(a) reduce a vector); 'NAME = expr;' names an intermediate result.
values: --at NAME=VALUE,...  with numbers or nested lists: w=[2,-3], W=[[1,2],[3,4]].
models: --model FILE is a run folder, a cr.save(model) file, or bare weights (.pt/.pth
  state dict, .safetensors) with --activation; the example is --input ROW or
  --data NAME --row I; the narration ends with the delta rule computed by hand.
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
    m = p.add_argument_group("a model on one example")
    m.add_argument(
        "--model",
        metavar="FILE",
        help="a run folder, a cr.save(model) file, or bare weights (.pt/.pth, .safetensors)",
    )
    m.add_argument("--activation", help="bare weights: the activation between the layers")
    m.add_argument("--layers", metavar="N,N,...", help="bare weights: sizes to check")
    m.add_argument("--input", metavar="ROW", help="the example's features, e.g. 0.5,-1,2")
    m.add_argument("--data", metavar="NAME_OR_CSV", help="take the example from a data set")
    m.add_argument("--data-dir", metavar="DIR", help="folder holding MNIST-style files")
    m.add_argument("--split", choices=("train", "test"), default="test", help="--data's split")
    m.add_argument("--row", type=int, metavar="I", help="--data's row (default 0)")
    m.add_argument(
        "--label",
        metavar="Y",
        help="the class (cross-entropy; default: the data's label, else the model's "
        "prediction) or the target values (mse)",
    )
    m.add_argument(
        "--loss",
        choices=("cross-entropy", "mse"),
        help="the loss on top (default: a run's own, else cross-entropy)",
    )
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
    model_options = [
        f"--{name.replace('_', '-')}"
        for name in ("activation", "layers", "input", "data", "data_dir", "row", "label", "loss")
        if getattr(args, name) is not None
    ]
    if args.model is not None:
        if args.example or args.expression or args.at:
            raise ValueError("--model explains a model: give no expression, --at or --example")
        return _model_explanation(args)
    if model_options:
        raise ValueError(f"{model_options[0]} goes with --model FILE")
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


def _model_explanation(args):
    """``--model FILE`` on the one example ``--input ROW`` or ``--data NAME --row I``."""
    source = read_model(args.model, activation=args.activation, layers=args.layers)
    classifier = is_classifier(source, args.loss)
    if args.loss is None and source.kind == "run" and source.config.loss != "cross-entropy":
        raise ValueError(
            f"the run's loss is {source.config.loss} on softmax probabilities; explain it "
            "with --loss mse (on the outputs) or --loss cross-entropy"
        )
    loss = "cross-entropy" if classifier else "mse"
    if (args.input is None) == (args.data is None):
        raise ValueError("give the example: --input ROW (comma-separated) or --data NAME --row I")
    if args.data is not None:
        row = 0 if args.row is None else args.row
        if row < 0:
            raise ValueError(f"--row must be ≥ 0, got {row}")
        x, y = data_rows(source, args.data, args.data_dir, args.split, [row])
        where = f"row {row} of {args.data} {args.split}"
        target = y[0] if args.label is None else _label(args.label, classifier, source)
    else:
        for option in ("row", "data_dir"):
            if getattr(args, option) is not None:
                raise ValueError(f"--{option.replace('_', '-')} goes with --data")
        x = _row(args.input, source.n_features)
        if source.kind == "run":
            x = prepare_inputs(x, source.data_state, np.dtype(np.float64))
        where = "--input"
        target = None if args.label is None else _label(args.label, classifier, source)
    if target is None and not classifier:
        raise ValueError("--label: give the target values for the mse loss, e.g. --label 0.5")
    if source.kind == "run" and source.data_state.get("standardizer") is not None:
        where += ", standardized as in the run"
    return explain_model(
        source.model,
        x,
        target,
        loss=loss,
        precision=args.precision,
        title=f"Explaining {source.describe()} on one example",
        note=f"x: {where}",
    )


def _numbers(text, option):
    try:
        values = [float(v) for v in split_list(text)]
    except (EmptyEntry, ValueError):
        raise ValueError(f"{option}: expected comma-separated numbers, got {text!r}") from None
    if not all(np.isfinite(values)):
        raise ValueError(f"{option}: {text!r} has a value that is not a finite number")
    return np.array(values)


def _row(text, n_features):
    x = _numbers(text, "--input")
    if x.size != n_features:
        raise ValueError(f"--input has {x.size} numbers, but the model takes {n_features} features")
    return x.reshape(1, -1)


def _label(text, classifier, source):
    if not classifier:
        return _numbers(text, "--label")
    classes = source.data_state.get("classes") if source.kind == "run" else None
    if classes and text in [str(c) for c in classes]:
        return [str(c) for c in classes].index(text)
    try:
        return int(text)
    except ValueError:
        known = f" or one of {', '.join(map(str, classes))}" if classes else ""
        raise ValueError(f"--label: expected a class index{known}, got {text!r}") from None


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
