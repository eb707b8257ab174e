"""``chainrule diagnose RUN_DIR`` and ``chainrule gradcheck``.

diagnose: read a run folder (monitor.jsonl, metrics.jsonl, config.toml), print the
findings; ``--plot`` saves PNGs in the run folder, ``--html`` a self-contained page,
``--json`` prints the findings as JSON. Exit status 1 when a finding is an "error".

gradcheck: build an MLP from a configuration — or read one with ``--model FILE`` (a run
folder, a ``cr.save`` model, or bare PyTorch/safetensors weights with ``--activation``:
chainrule/cli/model_file.py) — check every parameter's gradient against finite
differences in float64 on a few random examples (or ``--data`` rows) and print the
table. Exit status 1 when a gradient is wrong.
"""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np

from chainrule import backend, nn
from chainrule.cli.model_file import data_rows, is_classifier, layer_sizes, loss_for, read_model
from chainrule.diagnostics.checks import diagnose
from chainrule.diagnostics.html_report import write_html_report
from chainrule.diagnostics.model_gradcheck import check_model_gradients
from chainrule.diagnostics.plots import plot_run
from chainrule.diagnostics.run_data import load_run


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
        help="check a model's backprop gradients against finite differences",
        description="Build an MLP (or read one with --model), compute the loss on a few "
        "examples and compare every parameter's gradient with central finite differences "
        "in float64.",
        epilog="exit status 1 when a gradient is wrong (relative error > 1e-2). examples: "
        "chainrule gradcheck --layers 4,5,3 --activation tanh --loss cross-entropy --examples 3; "
        "chainrule gradcheck --model runs/a --data digits; "
        "chainrule gradcheck --model model.pt --activation relu (a torch state dict)",
    )
    g.add_argument(
        "--model",
        metavar="FILE",
        help="check this model instead of building one: a run folder or checkpoint, a "
        "cr.save(model) file, or bare weights (.pt/.pth state dict, .safetensors) with "
        "--activation",
    )
    g.add_argument(
        "--layers",
        metavar="N,N,...",
        help="all layer sizes, input to output (default 4,5,3; with --model: checked "
        "against bare weights)",
    )
    g.add_argument(
        "--activation",
        help="hidden activation (relu, tanh, ...; default tanh; with --model: the one "
        "between bare weights' Linear layers)",
    )
    g.add_argument("--init", help="weight initialization (MLP init names; default xavier)")
    g.add_argument(
        "--loss",
        choices=("cross-entropy", "mse"),
        help="softmax cross-entropy on integer labels (the default; a run: its own loss), "
        "or mean squared error on random targets",
    )
    g.add_argument("--examples", type=int, default=3, metavar="N", help="examples (rows)")
    g.add_argument(
        "--data",
        metavar="NAME_OR_CSV",
        help="take the examples from this data set's first rows (with their labels) instead "
        "of random ones; a run's standardization is applied",
    )
    g.add_argument("--data-dir", metavar="DIR", help="folder holding MNIST-style files")
    g.add_argument(
        "--split", choices=("train", "test"), default="test", help="--data's split (test)"
    )
    g.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        help="model dtype (default float64; float32 is checked in float64, with a warning)",
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


def run_gradcheck(args) -> int:
    if args.examples < 1:
        raise ValueError(f"--examples must be ≥ 1, got {args.examples}")
    if args.seed < 0:
        raise ValueError(f"--seed must be ≥ 0, got {args.seed}")
    if args.model is not None:
        model, loss_fn, x, y, what = _imported(args)
    else:
        model, loss_fn, x, y, what = _built(args)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = check_model_gradients(
            model, loss_fn, x, y, eps=args.eps, max_entries=args.max_entries, seed=args.seed
        )
    for w in caught:
        print(f"chainrule gradcheck: warning: {w.message}", file=sys.stderr)
    print(what)
    print(report)
    return 0 if report.passed else 1


def _built(args):
    """The MLP the options describe, on random examples (gradcheck without --model)."""
    for option in ("data", "data_dir"):
        if getattr(args, option) is not None:
            raise ValueError(f"--{option.replace('_', '-')} needs --model (the model to check)")
    sizes = layer_sizes(args.layers or "4,5,3")
    activation, init = args.activation or "tanh", args.init or "xavier"
    loss, dtype = args.loss or "cross-entropy", args.dtype or "float64"
    backend.manual_seed(args.seed)
    model = nn.MLP(sizes, activation=activation, init=init, dtype=dtype)
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((args.examples, sizes[0])).astype(dtype)
    if loss == "cross-entropy":
        y = rng.integers(0, sizes[-1], args.examples)

        def loss_fn(out, target):
            return nn.functional.cross_entropy(out, target)
    else:
        y = rng.standard_normal((args.examples, sizes[-1]))

        def loss_fn(out, target):
            return ((out - target) ** 2).mean()

    what = f"model: MLP {'-'.join(map(str, sizes))}, {activation}, init {init}, {loss} loss"
    return model, loss_fn, x, y, what


def _imported(args):
    """The model of ``--model FILE``, on ``--data`` rows or random examples."""
    for option in ("init", "dtype"):
        if getattr(args, option) is not None:
            raise ValueError(f"--{option}: the model of --model comes with its own weights")
    source = read_model(args.model, activation=args.activation, layers=args.layers)
    loss_fn, loss_name = loss_for(source, args.loss)
    classes = is_classifier(source, args.loss)
    if args.data is not None:
        x, y = data_rows(source, args.data, args.data_dir, args.split, slice(0, args.examples))
        inputs = f"the first {len(x)} rows of {args.data} {args.split}"
    else:
        if args.data_dir is not None:
            raise ValueError("--data-dir needs --data")
        rng = np.random.default_rng(args.seed)
        x = rng.standard_normal((args.examples, source.n_features))
        if classes:
            y = rng.integers(0, source.n_outputs, args.examples)
        else:
            y = rng.standard_normal((args.examples, source.n_outputs))
        inputs = f"{args.examples} random standard-normal inputs (seed {args.seed})"
    what = f"model: {source.describe()}; loss: {loss_name}; on {inputs}"
    return source.model, loss_fn, x, y, what
