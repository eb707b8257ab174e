"""``chainrule train``, ``evaluate``, ``predict`` and ``info``.

The ``train`` options are generated from :class:`chainrule.experiment.config.TrainConfig`, the
one schema shared with TOML config files and the sweep runner. Options default to "not
given" so that the precedence is: built-in defaults < the checkpoint's config (with
``--resume``) < ``--config FILE`` < options on the command line.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import io
import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version

import numpy as np

import chainrule
from chainrule import backend
from chainrule.data import load_dataset
from chainrule.data.csv_files import is_number
from chainrule.data.prepare import prepare_inputs
from chainrule.experiment.config import GROUPS, TrainConfig, read_config
from chainrule.experiment.options import convert
from chainrule.experiment.run import run_training
from chainrule.experiment.run_folder import (
    check_run_folder,
    config_of,
    default_out,
    find_checkpoint,
    load_training_state,
    restore_model,
)
from chainrule.experiment.step_source import step_source
from chainrule.experiment.wiring import build_loss, check_targets
from chainrule.files import atomic_write
from chainrule.ops import softmax
from chainrule.tensor import Tensor
from chainrule.train.loop import evaluate, predict

TRAIN_EPILOG = """\
examples:
  chainrule train                                   # digits, 64-256-128-10 MLP, ~10 s
  chainrule train --data mnist --data-dir ~/data/mnist --layers 500,300 \\
                  --lr 0.05 --momentum 0.9 --weight-decay 1e-4 --epochs 30
  chainrule train --config examples/mnist_lecun.toml --data-dir ~/data/mnist
  chainrule train --data spirals --layers 64,64 --activation tanh --optimizer adam
  chainrule train --data my.csv --loss mse --schedule plateau --early-stopping 5
  chainrule train --out runs/a --checkpoint-every 200    # killed? continue it with:
  chainrule train --resume runs/a

config files (TOML) take the same keys, dashed or underscored, at the top level or under
[data], [model], [optimization], [regularization], [schedule], [run] tables:
  layers = [500, 300]
  lr = 0.05
  weight_decay = 1e-4
Options given on the command line override the file. Every run folder holds the full
resolved config.toml, so `chainrule train --config runs/a/config.toml` reruns it.

the run folder (--out, default runs/<data>-<timestamp>) receives config.toml,
metrics.jsonl (one line per epoch), metrics.json (final results), last.safetensors and
best.safetensors (full training state), loss.png and accuracy.png (with matplotlib).
"""

EVALUATE_EPILOG = """\
examples:
  chainrule evaluate runs/a                   # best.safetensors on the run's test split
  chainrule evaluate runs/a/last.safetensors
  chainrule evaluate runs/a --data fashion-mnist --data-dir ~/data/fmnist
"""

PREDICT_EPILOG = """\
examples:
  chainrule predict runs/a --input new_rows.csv                # CSV to stdout
  chainrule predict runs/a/best.safetensors --input x.csv --output preds.csv

The input holds one example per line, with the model's features as numbers (a header
line is skipped). Inputs are standardized with the training statistics saved in the
checkpoint. The output has a `prediction` column (the class label, or the regression
value) and, for classifiers, one probability column per class.
"""


# --- train -----------------------------------------------------------------------------
def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _converter(field):
    def parse(text):
        if field.metadata["nullable"] and text.strip().lower() in ("none", ""):
            return None
        try:
            return convert(field, text, _flag(field.name))
        except ValueError as e:
            message = str(e)
            for prefix in (f"{_flag(field.name)}: ", f"{_flag(field.name)} "):
                message = message.removeprefix(prefix)
            raise argparse.ArgumentTypeError(message) from None

    parse.__name__ = field.metadata["kind"]  # argparse names the type in its errors
    return parse


def add_config_options(parser: argparse.ArgumentParser) -> dict:
    """Add one option per TrainConfig field, in option groups; returns {group: group}."""
    titles = {
        "data": "data",
        "model": "model",
        "optimization": "optimization",
        "regularization": "regularization",
        "schedule": "learning-rate schedule",
        "run": "run",
    }
    groups = {g: parser.add_argument_group(titles[g]) for g in GROUPS}
    defaults = TrainConfig()
    for name, field in TrainConfig.fields().items():
        meta = field.metadata
        default = getattr(defaults, name)
        shown = ",".join(map(str, default)) if isinstance(default, list) else default
        help_text = meta["help"]
        if default is not None and not isinstance(default, bool):
            help_text += f"; default {shown if shown != '' else 'none'}"
        kwargs = dict(dest=name, default=argparse.SUPPRESS, help=help_text)
        if meta["kind"] == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
            kwargs["help"] += f" (default: {'on' if default else 'off'})"
        else:
            kwargs["type"] = _converter(field)
            kwargs["metavar"] = meta["metavar"] or (
                "{" + ",".join(meta["choices"]) + "}" if meta["choices"] else name.upper()
            )
        if name == "monitor":
            kwargs.update(nargs="?", const=10)
            kwargs["help"] += " (default when given without N: 10)"
        groups[meta["group"]].add_argument(_flag(name), **kwargs)
    return groups


def _strict(parser):
    """Make unknown options an error of this subcommand, listing the valid ones (argparse
    would otherwise report them from the top-level parser without the list)."""
    base = parser.parse_known_args

    def parse_known_args(args=None, namespace=None):
        namespace, extras = base(args, namespace)
        if extras:
            valid = sorted(
                o for a in parser._actions for o in a.option_strings if o.startswith("--")
            )
            unknown = extras[0]
            close = difflib.get_close_matches(unknown.split("=")[0], valid, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            parser.error(
                f"unrecognized argument {unknown}{hint}; valid options: " + " ".join(valid)
            )
        return namespace, extras

    def error(message):
        # one line, no usage dump: the valid choices are in the message, the rest in --help
        print(f"{parser.prog}: error: {message}", file=sys.stderr)
        sys.exit(2)

    parser.parse_known_args = parse_known_args
    parser.error = error
    return parser


def register(subparsers) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser(
        "train",
        help="train an MLP (digits by default) and save the run",
        description="Train a multilayer perceptron with backpropagation and minibatch SGD\n"
        "(or Adam, RMSprop, ...), then report its test accuracy. With no options: a\n"
        "64-256-128-10 ReLU MLP on the bundled digits data, in about ten seconds.",
        epilog=TRAIN_EPILOG,
        formatter_class=fmt,
    )
    groups = add_config_options(p)
    run = groups["run"]
    run.add_argument("--config", metavar="FILE.toml", help="read options from a TOML file")
    run.add_argument("--name", help="name the run folder runs/NAME (instead of --out)")
    run.add_argument(
        "--show-step",
        action="store_true",
        help="print the training step these options describe as NumPy code (cr.compile's "
        "step.source()) and exit without training",
    )
    run.add_argument(
        "--resume",
        nargs="?",
        const="",
        metavar="CHECKPOINT_OR_RUN",
        help="continue a run from its last.safetensors (a run folder or a checkpoint file; "
        "alone: the --out folder), exactly where it stopped",
    )
    p.set_defaults(func=train_command)
    _strict(p)

    e = subparsers.add_parser(
        "evaluate",
        help="test accuracy and loss of a saved model",
        description="Evaluate a trained model (a run folder's best.safetensors, or a checkpoint\n"
        "file) on its data set's test split, or on another data set with the same features.",
        epilog=EVALUATE_EPILOG,
        formatter_class=fmt,
    )
    e.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT")
    e.add_argument("--data", help="data set to evaluate on (default: the one it was trained on)")
    e.add_argument("--data-dir", metavar="DIR", help="folder holding MNIST-style files")
    e.add_argument(
        "--split",
        choices=("test", "train"),
        default="test",
        help="which split of the data set (default: test)",
    )
    e.set_defaults(func=evaluate_command)
    _strict(e)

    pr = subparsers.add_parser(
        "predict",
        help="predict classes (and probabilities) for rows of a CSV file",
        description="Run a trained model on new examples from a CSV file.",
        epilog=PREDICT_EPILOG,
        formatter_class=fmt,
    )
    pr.add_argument("checkpoint", metavar="CHECKPOINT")
    pr.add_argument("--input", required=True, metavar="FILE.csv", help="feature rows")
    pr.add_argument("--output", metavar="FILE.csv", help="where to write (default: stdout)")
    pr.set_defaults(func=predict_command)
    _strict(pr)

    i = subparsers.add_parser(
        "info",
        help="versions, backend, dtype and BLAS threads",
        description="Print what chainrule runs on: versions, array backend, default dtype,\n"
        "and the BLAS library, kernel and thread count (with threadpoolctl installed).",
        formatter_class=fmt,
    )
    i.set_defaults(func=info_command)


def _given(args) -> dict:
    """The TrainConfig options given on the command line."""
    return {k: v for k, v in vars(args).items() if k in TrainConfig.fields()}


def resolve_train_config(args):
    """``(config, resume_checkpoint_path or None)`` from the parsed command line."""
    given = _given(args)
    file_values = read_config(args.config) if args.config else {}
    if args.config:
        TrainConfig.from_dict(file_values, source=f"{args.config}")  # unknown keys → error
    if args.name:
        if "out" in given:
            raise ValueError("give --name or --out, not both")
        given["out"] = os.path.join("runs", args.name)
    base, resume = TrainConfig(), None
    if args.resume is not None:
        target = args.resume or given.get("out") or file_values.get("out")
        if not target:
            raise ValueError("--resume needs a run folder or checkpoint (or --out DIR)")
        resume = find_checkpoint(target, prefer="last")
        base = config_of(load_training_state(resume))
        base.out = os.path.dirname(os.path.abspath(resume))
    config = base.updated(file_values, source=args.config or "config").updated(
        given, source="option"
    )
    if config.out is None:
        config.out = default_out(config)
    return config, resume


def train_command(args) -> int:
    config, resume = resolve_train_config(args)
    if args.show_step:
        print(step_source(config), end="")
        return 0
    check_run_folder(config.out, resuming=resume is not None)  # before the line below

    def note(message):
        print(message, file=sys.stderr)

    def announce(data):  # once the data is read and the run folder exists
        what = "resuming" if resume else "training"
        sizes = "-".join(map(str, [data.n_features, *config.layers, data.n_outputs]))
        print(
            f"{what} {config.data}: MLP {sizes} {config.activation}, {config.optimizer} "
            f"lr {config.resolved_lr():g}, {config.schedule} schedule, "
            f"{config.epochs} epochs -> {config.out}",
            flush=True,
        )

    results = run_training(
        config, resume=resume, log=note, on_start=None if config.quiet else announce
    )
    print(summary(results, config))
    if results["stop_reason"]:
        print(f"chainrule train: training stopped: {results['stop_reason']}", file=sys.stderr)
        return 1
    return 0


def summary(results: dict, config) -> str:
    def pct(x):
        return "n/a" if x is None else f"{100 * x:.2f}%"

    lines = []
    if results["test_accuracy"] is not None:
        lines.append(
            f"test accuracy {pct(results['test_accuracy'])}  "
            f"(error {pct(1 - results['test_accuracy'])}, "
            f"test loss {results['test_loss']:.4f})"
        )
    elif results["test_loss"] is not None:
        lines.append(f"test loss {results['test_loss']:.4f}")
    epochs, steps = results["epochs"], results["steps"]
    tail = f"{epochs} epoch{'' if epochs == 1 else 's'}, {steps} step{'' if steps == 1 else 's'}"
    tail += f", {results['seconds']:.1f} s"
    if results["epochs_completed"] < results["epochs"]:
        tail += f" (stopped during epoch {results['epochs']})"
    if results["stopped_early"]:
        tail += f" (early stop; best epoch {results['best_epoch']})"
    lines.append(f"{tail}; {results['n_parameters']:,} parameters")
    lines.append(f"run folder: {results['run_dir']}")
    return "\n".join(lines)


# --- evaluate and predict ----------------------------------------------------------------
def evaluate_command(args) -> int:
    model, config, data_state, ckpt = restore_model(args.checkpoint)
    name = args.data or config.data
    splits = load_dataset(name, data_dir=args.data_dir or config.data_dir)
    X, y = (
        (splits.X_test, splits.y_test) if args.split == "test" else (splits.X_train, splits.y_train)
    )
    if len(y) == 0:
        raise ValueError(f"data set {name!r} has an empty {args.split} split")
    if splits.task != data_state["task"]:
        raise ValueError(
            f"the model was trained for {data_state['task']}, "
            f"but {name!r} is a {splits.task} data set"
        )
    X = prepare_inputs(X, data_state, np.dtype(config.dtype))
    check_targets(y, data_state["n_outputs"], splits.task, f"data set {name!r}")
    if splits.task == "regression":
        y = np.asarray(y, dtype=config.dtype)
    result = evaluate(model, build_loss(config, splits.task, data_state["n_outputs"]), (X, y))
    line = f"{ckpt} on {name} {args.split} ({result['n']} examples): "
    if result["accuracy"] is not None:
        correct = round(result["accuracy"] * result["n"])
        line += (
            f"accuracy {100 * result['accuracy']:.2f}% ({correct}/{result['n']}), "
            f"error {100 * (1 - result['accuracy']):.2f}%, "
        )
    print(line + f"loss {result['loss']:.4f}")
    return 0


def read_feature_csv(path):
    """Rows of numbers from a CSV file (a first line that is not all numbers is a header)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [(n, r) for n, r in enumerate(csv.reader(f), start=1) if any(c.strip() for c in r)]
    if rows and not all(is_number(c) for c in rows[0][1]):
        rows = rows[1:]
    if not rows:
        raise ValueError(f"{path}: no data rows")
    width = len(rows[0][1])
    out = np.empty((len(rows), width), dtype=np.float64)
    for i, (line, fields) in enumerate(rows):
        if len(fields) != width:
            raise ValueError(f"{path}: line {line} has {len(fields)} fields, expected {width}")
        for j, cell in enumerate(fields):
            try:
                out[i, j] = float(cell)
            except ValueError:
                raise ValueError(
                    f"{path}: line {line}, column {j + 1}: not a number: {cell.strip()!r}"
                ) from None
            if not np.isfinite(out[i, j]):
                raise ValueError(
                    f"{path}: line {line}, column {j + 1}: {cell.strip()} is not a finite number"
                )
    return out


def predict_command(args) -> int:
    model, config, data_state, _ = restore_model(args.checkpoint)
    X = read_feature_csv(args.input)
    if X.shape[1] != data_state["n_features"]:
        raise ValueError(
            f"{args.input}: rows have {X.shape[1]} columns, the model expects "
            f"{data_state['n_features']} features"
        )
    out = predict(model, prepare_inputs(X, data_state, np.dtype(config.dtype)))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if data_state["task"] == "classification":
        probs = softmax(Tensor(out), axis=1).numpy()
        classes = data_state["classes"] or list(range(out.shape[1]))
        writer.writerow(["prediction", *[f"p_{c}" for c in classes]])
        for row in probs:
            writer.writerow([classes[int(row.argmax())], *[f"{p:.6g}" for p in row]])
    else:
        width = out.shape[1] if out.ndim == 2 else 1
        writer.writerow(["prediction"] if width == 1 else [f"prediction_{k}" for k in range(width)])
        for row in out.reshape(len(out), width):
            writer.writerow([f"{v:.6g}" for v in row])
    if args.output:
        atomic_write(args.output, buffer.getvalue())
        print(f"wrote {len(out)} predictions to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(buffer.getvalue())
    return 0


# --- info -------------------------------------------------------------------------------
def info_command(args) -> int:
    lines = [
        ("chainrule", chainrule.__version__),
        ("python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("platform", platform.platform()),
        ("numpy", np.__version__),
        ("backend", backend.xp.__name__),
        ("default dtype", str(backend.get_default_dtype())),
        ("cpu cores", str(_usable_cores())),
    ]
    try:  # optional dependency (the bench/cli extras)
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                lines.append(
                    (
                        "BLAS",
                        f"{pool.get('internal_api')} {pool.get('version')}, "
                        f"kernel {pool.get('architecture')}, "
                        f"{pool.get('num_threads')} threads ({pool.get('filepath')})",
                    )
                )
    except ModuleNotFoundError:
        lines.append(("BLAS", "unknown (pip install threadpoolctl to see it)"))
    for var in THREAD_VARIABLES:
        if os.environ.get(var):
            lines.append((var, os.environ[var]))
    for module in ("tqdm", "matplotlib", "torch", "cupy"):
        lines.append((module, _version(module)))
    # the key column is as wide as the widest key that can appear, so the layout does not
    # shift with the environment (an OPENBLAS_CORETYPE line used to widen every line)
    width = max(len(k) for k in (*(key for key, _ in lines), *THREAD_VARIABLES))
    for key, value in lines:
        print(f"{key:<{width}}  {value}")
    return 0


# environment variables that set BLAS/OpenMP threads or kernels; info shows those set
THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "MKL_NUM_THREADS",
)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _version(module: str) -> str:
    try:
        return version(module)
    except PackageNotFoundError:
        return "not installed"
