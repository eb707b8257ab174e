"""The playground's state: every setting of the page, declared once, validated once.

The page keeps the same flat mapping in its URL query (``?data=xor&layers=4,4&lr=0.03``),
so a lesson is a link. The server validates whatever arrives (a URL typed by hand, a
message from the page) with :func:`validate` and answers a bad value with one line naming
the key and the value, as the command line does. ``hide`` lists control groups the page
leaves out, so a teacher can hand out a trimmed-down exercise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

from chainrule.experiment import config

DATASETS = {  # page name -> (task, what the page calls it)
    "circles": ("classification", "circle"),
    "xor": ("classification", "xor"),
    "blobs": ("classification", "blobs"),
    "spirals": ("classification", "spiral"),
    "moons": ("classification", "moons"),
    "plane": ("regression", "plane (regression)"),
    "gaussians": ("regression", "bumps (regression)"),
    "csv": (None, "your CSV"),
}
FEATURES = ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)")
# the config's own choices (one list of what chainrule can build), in the page's menu
# order: tanh and xavier first, as a first lesson starts; zeros and constant are there so
# the lecture's warnings can be watched: they never break the symmetry
ACTIVATIONS = ("tanh", *(a for a in config.ACTIVATIONS if a != "tanh"))
INITS = ("xavier", "xavier_normal", *(i for i in config.INITS if not i.startswith("xavier")))
LOSSES = ("cross-entropy", "mse")
# the page's optimizer menu -> chainrule's (optimizer, momentum, nesterov)
OPTIMIZERS = {
    "sgd": ("sgd", 0.0, False),
    "momentum": ("sgd", 0.9, False),
    "nesterov": ("sgd", 0.9, True),
    "adam": ("adam", 0.9, False),
    "adamw": ("adamw", 0.9, False),
    "rmsprop": ("rmsprop", 0.0, False),
    "adagrad": ("adagrad", 0.9, False),
}
GROUPS = ("data", "features", "network", "training", "regularization", "export", "monitor")
MAX_LAYERS, MAX_UNITS = 6, 16


@dataclass(frozen=True)
class Key:
    """One setting: its kind (``str``, ``int``, ``float``, ``bool``, ``list``), default,
    allowed choices or range, and the control group that ``hide`` can remove."""

    kind: str
    default: object
    group: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    help: str = ""


SCHEMA = {
    "data": Key("str", "circles", "data", tuple(DATASETS), help="data set"),
    "n": Key("int", 400, "data", low=20, high=2000, help="number of points"),
    "noise": Key("float", 0.1, "data", low=0.0, high=1.0, help="noise"),
    "test": Key("float", 0.3, "data", low=0.05, high=0.9, help="test fraction"),
    "seed": Key("int", 0, "data", low=0, high=2**31 - 1, help="seed of data, init, batches"),
    "upload": Key("str", "", "data", help="id of an uploaded CSV"),
    "cx": Key("int", 0, "data", low=0, high=10_000, help="CSV column plotted as x1"),
    "cy": Key("int", 1, "data", low=0, high=10_000, help="CSV column plotted as x2"),
    "label": Key("int", -1, "data", low=-1, high=10_000, help="CSV label column (-1: last)"),
    "features": Key("list", ["x1", "x2"], "features", FEATURES, help="input features"),
    "layers": Key("ints", [4, 4], "network", low=1, high=MAX_UNITS, help="hidden widths"),
    "act": Key("str", "tanh", "network", ACTIVATIONS, help="activation"),
    "init": Key("str", "xavier", "network", INITS, help="weight initialization"),
    "scale": Key("float", 0.1, "network", low=0.0, high=10.0, help="init scale"),
    "loss": Key("str", "cross-entropy", "training", LOSSES, help="loss"),
    "opt": Key("str", "sgd", "training", tuple(OPTIMIZERS), help="optimizer"),
    "lr": Key("float", 0.03, "training", low=1e-6, high=100.0, help="learning rate"),
    "batch": Key("int", 10, "training", low=1, high=2000, help="batch size"),
    "l1": Key("float", 0.0, "regularization", low=0.0, high=10.0, help="L1 rate"),
    "l2": Key("float", 0.0, "regularization", low=0.0, high=10.0, help="L2 rate"),
    "wd": Key("float", 0.0, "regularization", low=0.0, high=10.0, help="weight decay"),
    "speed": Key("int", 5, "training", low=1, high=200, help="steps per view update"),
    "hide": Key("list", [], "page", GROUPS, help="control groups to hide"),
}
DEFAULTS = {name: key.default for name, key in SCHEMA.items()}


def _convert(name: str, key: Key, value):
    where = f"playground: {name}"
    if key.kind in ("list", "ints"):
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
        elif isinstance(value, (list, tuple)):
            parts = list(value)
        else:
            raise ValueError(f"{where} must be a comma-separated list, got {value!r}")
        if key.kind == "list":
            out = [str(p) for p in parts]
            for p in out:
                if p not in key.choices:
                    raise ValueError(
                        f"{where}: invalid choice {p!r}; choose from: {', '.join(key.choices)}"
                    )
            return [c for c in key.choices if c in out]  # canonical order, no repeats
        try:
            out = [int(p) for p in parts if not isinstance(p, bool) and float(p) == int(p)]
        except (TypeError, ValueError):
            out = None
        if out is None or len(out) != len(parts):
            raise ValueError(f"{where} must be layer widths such as 4,4, got {value!r}")
        if len(out) > MAX_LAYERS:
            raise ValueError(f"{where}: at most {MAX_LAYERS} hidden layers, got {len(out)}")
        for w in out:
            if not key.low <= w <= key.high:
                raise ValueError(f"{where}: widths must be 1..{MAX_UNITS}, got {w}")
        return out
    if key.kind == "str":
        out = str(value).strip().lower()
        if key.choices is not None and out not in key.choices:
            raise ValueError(
                f"{where}: invalid choice {value!r}; choose from: {', '.join(key.choices)}"
            )
        if name == "upload" and not all(c.isalnum() for c in out):
            raise ValueError(f"{where}: not an upload id: {value!r}")
        return out
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
        if key.kind == "int":
            if not number.is_integer():
                raise ValueError
            number = int(number)
    except (TypeError, ValueError, OverflowError):
        kind = "an integer" if key.kind == "int" else "a number"
        raise ValueError(f"{where} must be {kind}, got {value!r}") from None
    if not math.isfinite(number) or not key.low <= number <= key.high:
        raise ValueError(f"{where} must be in [{key.low:g}, {key.high:g}], got {value!r}")
    return number


def validate(values: dict) -> dict:
    """A complete, checked state from ``values`` (missing keys take their defaults).

    Unknown keys are refused by name (a typo in a lesson link should not silently run
    with defaults); ``token`` is the server's, not the state's, and is ignored.
    """
    state = dict(DEFAULTS)
    for name, value in values.items():
        if name == "token":
            continue
        if name not in SCHEMA:
            raise ValueError(
                f"playground: unknown setting {name!r}; valid settings: {', '.join(SCHEMA)}"
            )
        state[name] = _convert(name, SCHEMA[name], value)
    if not state["features"]:
        raise ValueError("playground: features: choose at least one input feature")
    if state["data"] == "csv" and not state["upload"]:
        raise ValueError("playground: data 'csv' needs an uploaded file (upload=ID)")
    if task_of(state) == "regression" and state["loss"] != "mse":
        state["loss"] = "mse"  # cross-entropy needs classes; the page's loss menu follows
    return state


def task_of(state: dict) -> str | None:
    """'classification' or 'regression' for the built-in sets; None for a CSV (its labels
    decide)."""
    return DATASETS[state["data"]][0]


def to_query(state: dict) -> str:
    """The state as a URL query, listing only what differs from the defaults."""
    pairs = []
    for name, key in SCHEMA.items():
        value = state.get(name, key.default)
        if value == key.default:
            continue
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, float):
            value = repr(value)
        pairs.append((name, value))
    return urlencode(pairs, safe=",^*()")


def from_query(text: str) -> dict:
    """A validated state from a query string or a whole URL (``?``/``#`` optional)."""
    text = text.strip()
    if "://" in text or text.startswith("/"):
        text = urlsplit(text).query
    return validate(dict(parse_qsl(text.lstrip("?"), keep_blank_values=True)))


def schema_json() -> dict:
    """What the page needs to draw its controls: every key's kind, default and range."""
    out = {}
    for name, key in SCHEMA.items():
        out[name] = {
            "kind": key.kind,
            "default": key.default,
            "group": key.group,
            "choices": list(key.choices) if key.choices else None,
            "low": key.low,
            "high": key.high,
            "help": key.help,
        }
    return {
        "keys": out,
        "datasets": {k: {"task": t, "label": lab} for k, (t, lab) in DATASETS.items()},
        "groups": list(GROUPS),
    }
