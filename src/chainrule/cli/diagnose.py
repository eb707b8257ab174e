"""``chainrule diagnose RUN_DIR`` and ``chainrule gradcheck``.

diagnose: read a run folder (monitor.jsonl, metrics.jsonl, config.toml), print the
findings; ``--plot`` saves PNGs in the run folder, ``--html`` a self-contained page,
``--json`` prints the findings as JSON. Exit status 1 when a finding is an "error".

gradcheck: build an MLP from a configuration, check every parameter's gradient against
finite differences in float64 on a few random examples and print the table. Exit status
1 when a gradient is wrong.
"""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np

from chainrule import backend, nn
from chainrule.diagnostics.checks import diagnose
from chainrule.diagnostics.html_report import write_html_report
from chainrule.diagnostics.model_gradcheck import check_model_gradients
from chainrule.diagnostics.plots import plot_run
from chainrule.diagnostics.run_data import load_run
from chainrule.experiment.options import EmptyEntry, split_list


def register(subparsers):
    p = subparsers.add_parser(
        "diagnose",
        help="explain what went wrong in a training run (gradient flow, saturation, ...)",
        description="Read a run folder written by 'chainrule train --monitor N' and report "
        "vanishing/exploding gradients, saturation, dead units, unbroken symmetry, NaNs, "
        "a learning rate too high or too low, and overfitting — or that it looks healthy.",
        epilog="exit status: 0 no error found (warnings allowed), 1 an error-level finding, "
        "2 the run folder cannot be read. example: chainrule train --layers 64,64 --monitor 10 "
        "--out runs/a && chainrule diagnose runs/a --html",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run folder")
    p.add_argument("--plot", action="store_true", help="save PNG plots in the run folder")
    p.add_argument(
        "--html",
        nargs="?",
        const="",
        metavar="PATH",
        help="write a self-contained HTML report (default RUN_DIR/diagnosis.html)",
    )
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.set_defaults(func=run_diagnose)

    g = subparsers.add_parser(
        "gradcheck",
        help="check an MLP's backprop gradients against finite differences",
        description="Build an MLP, compute the loss on a few random examples and compare "
        "every parameter's gradient with central finite differences in float64.",
        epilog="exit status 1 when a gradient is wrong (relative error > 1e-2). example: "
        "chainrule gradcheck --layers 4,5,3 --activation tanh --loss cross-entropy --examples 3",
    )
    g.add_argument(
        "--layers", default="4,5,3", metavar="N,N,...", help="all layer sizes, input to output"
    )
    g.add_argument("--activation", default="tanh", help="hidden activation (relu, tanh, ...)")
    g.add_argument("--init", default="xavier", help="weight initialization (MLP init names)")
    g.add_argument(
        "--loss",
        default="cross-entropy",
        choices=("cross-entropy", "mse"),
        help="softmax cross-entropy on integer labels, or mean squared error on random targets",
    )
    g.add_argument("--examples", type=int, default=3, metavar="N", help="random examples")
    g.add_argument(
        "--dtype",
        default="float64",
        choices=("float32", "float64"),
        help="model dtype (float32 is checked in float64, with a warning)",
    )
    g.add_argument("--eps", type=float, default=1e-6, help="finite-difference step")
    g.add_argument(
        "--max-entries",
        type=int,
        default=200,
        metavar="N",
        help="check at most N random entries per parameter",
    )
    g.add_argument("--seed", type=int, default=0)
    g.set_defaults(func=run_gradcheck)


def run_diagnose(args) -> int:
    data = load_run(args.run_dir)
    report = diagnose(data)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report)
    if args.plot or args.html is not None:
        try:
            if args.html is not None:
                path = write_html_report(data, args.html or None)
                print(f"\nwrote {path} (and the PNG plots in {data.run_dir})", file=sys.stderr)
            else:
                paths = plot_run(data)
                print(f"\nwrote {', '.join(paths)}", file=sys.stderr)
        except ImportError as e:
            raise ValueError(str(e)) from None
    return 1 if "error" in {f.severity for f in report.findings} else 0


def _sizes(text):
    try:
        sizes = [int(s) for s in split_list(text)]
    except EmptyEntry:
        raise ValueError(f"--layers: empty entry in {text!r} (write e.g. 4,16,3)") from None
    except ValueError:
        raise ValueError(f"--layers: expected comma-separated integers, got {text!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"--layers: need at least an input and an output size, got {text!r}")
    return sizes


def run_gradcheck(args) -> int:
    sizes = _sizes(args.layers)
    if args.examples < 1:
        raise ValueError(f"--examples must be ≥ 1, got {args.examples}")
    if args.seed < 0:
        raise ValueError(f"--seed must be ≥ 0, got {args.seed}")
    backend.manual_seed(args.seed)
    model = nn.MLP(sizes, activation=args.activation, init=args.init, dtype=args.dtype)
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((args.examples, sizes[0])).astype(args.dtype)
    if args.loss == "cross-entropy":
        y = rng.integers(0, sizes[-1], args.examples)

        def loss_fn(out, target):
            return nn.functional.cross_entropy(out, target)
    else:
        y = rng.standard_normal((args.examples, sizes[-1]))

        def loss_fn(out, target):
            return ((out - target) ** 2).mean()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = check_model_gradients(
            model, loss_fn, x, y, eps=args.eps, max_entries=args.max_entries, seed=args.seed
        )
    for w in caught:
        print(f"chainrule gradcheck: warning: {w.message}", file=sys.stderr)
    print(
        f"model: MLP {'-'.join(map(str, sizes))}, {args.activation}, init {args.init}, "
        f"{args.loss} loss"
    )
    print(report)
    return 0 if report.passed else 1
