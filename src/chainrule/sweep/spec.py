"""The sweep spec: what to vary, how to search, what to optimize — parsed and checked whole
before any trial starts.

A spec file has three tables::

    [sweep]                      # how to search (all keys optional)
    strategy = "random"          # grid | random | tpe
    trials = 40                  # grid: all points unless given
    seed = 0
    metric = "val_accuracy"      # val_accuracy | val_loss | test_accuracy | ...
    mode = "max"                 # max | min (default: min for losses, max otherwise)
    trial_timeout = 600          # seconds; a trial running longer is stopped (status timeout)
    [sweep.pruning]              # stop poor trials early (asynchronous successive halving)
    min_epochs = 2               # first rung
    eta = 3                      # keep the top 1/eta at each rung

    [base]                       # fixed chainrule train options for every trial
    data = "digits"
    epochs = 20

    [search]                     # the search space (see chainrule.sweep.space)
    lr = {loguniform = [1e-3, 0.3]}

Every error names its key path: ``sweep spec: search.lr.loguniform: bounds must be
positive, got [0, 0.1]``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field

from chainrule.experiment.config import TrainConfig
from chainrule.experiment.options import OptionCombinationError, convert
from chainrule.files import read_toml
from chainrule.sweep.space import (
    KINDS,
    RESERVED,
    Choice,
    Distribution,
    IntRange,
    Layers,
    SearchSpace,
    Uniform,
    spec_error,
)

RESERVED_WHY = "not a sweep option: trials run quietly, without run folders or plots"
STRATEGIES = ("grid", "random", "tpe")
EXECUTORS = ("local", "ray")
DEFAULT_OBJECTIVE = "chainrule.sweep.objective:train"
# per-epoch metrics the training loop logs (pruning watches one of these)
EPOCH_METRICS = ("val_accuracy", "val_loss", "train_accuracy", "train_loss")
TRAIN_METRICS = (*EPOCH_METRICS, "test_accuracy", "test_loss")
SWEEP_KEYS = (
    "strategy",
    "trials",
    "seed",
    "metric",
    "mode",
    "pruning",
    "objective",
    "executor",
    "address",
    "workers",
    "threads",
    "trial_timeout",
)


@dataclass
class Pruning:
    """Asynchronous successive halving: rungs at ``min_epochs · eta^k`` epochs; a trial
    reaching a rung stops unless its ``metric`` is in the top ``1/eta`` of all values
    recorded at that rung so far."""

    min_epochs: int = 1
    eta: float = 3.0
    metric: str | None = None  # None: the sweep's metric (if it is logged every epoch)

    def rungs(self, max_epochs: int) -> list[int]:
        out, r = [], float(self.min_epochs)
        while r < max_epochs:
            if not out or int(r) > out[-1]:
                out.append(int(r))
            r *= self.eta
        return out


@dataclass
class SweepSpec:
    """A whole sweep. ``search`` is a :class:`SearchSpace` or a dict of distributions."""

    search: SearchSpace | dict
    base: dict = field(default_factory=dict)
    strategy: str = "random"
    trials: int | None = None
    seed: int = 0
    metric: str = "val_accuracy"
    mode: str | None = None
    pruning: Pruning | None = None
    objective: str = DEFAULT_OBJECTIVE
    # how to run (not part of the sweep's identity; the command line overrides them)
    executor: str = "local"
    address: str | None = None
    workers: int | None = None
    threads: int | None = None
    trial_timeout: float | None = None  # seconds; a trial running longer is stopped

    def __post_init__(self):
        if not isinstance(self.search, SearchSpace):
            self.search = SearchSpace(self.search)
        if self.mode is None:
            self.mode = "min" if "loss" in self.metric else "max"
        validate(self)

    @property
    def n_trials(self) -> int:
        """How many trials the sweep runs (grid: the grid's size unless ``trials`` caps it)."""
        if self.strategy == "grid":
            size = len(self.search.grid())
            return size if self.trials is None else min(size, self.trials)
        return self.trials if self.trials is not None else 20

    @property
    def prune_metric(self) -> str | None:
        if self.pruning is None:
            return None
        return self.pruning.metric or self.metric

    @property
    def prune_mode(self) -> str:
        """Direction of the pruning metric: the sweep's mode, or by name when it differs."""
        if self.pruning is None or not self.pruning.metric or self.pruning.metric == self.metric:
            return self.mode
        return "min" if "loss" in self.pruning.metric else "max"

    def max_epochs(self) -> int | None:
        """The largest epoch count any trial can run (for the pruning rungs)."""
        dist = self.search.params.get("epochs")
        if isinstance(dist, Choice):
            return max(int(v) for v in dist.values)
        if isinstance(dist, (IntRange, Uniform)):
            return int(dist.high)
        return int(self.base.get("epochs", TrainConfig().epochs))

    def to_dict(self) -> dict:
        """The spec as TOML-able tables (``sweep``, ``base``, ``search``)."""
        sweep = {
            "strategy": self.strategy,
            "seed": self.seed,
            "metric": self.metric,
            "mode": self.mode,
            "objective": self.objective,
        }
        if self.trials is not None:
            sweep["trials"] = self.trials
        if self.pruning is not None:
            sweep["pruning"] = {k: v for k, v in dataclasses.asdict(self.pruning).items() if v}
        return {"sweep": sweep, "base": dict(self.base), "search": self.search.to_dict()}

    def fingerprint(self) -> str:
        """Identity of the sweep for resuming: everything but the trial count and how it
        runs, so ``--trials`` can grow a finished sweep."""
        d = self.to_dict()
        d["sweep"].pop("trials", None)
        text = json.dumps(d, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- parsing -------------------------------------------------------------------------------
def load_spec(path) -> SweepSpec:
    """Read and validate a sweep spec TOML file."""
    return spec_from_dict(read_toml(path, what="sweep spec"))


def spec_from_dict(table: dict) -> SweepSpec:
    """A :class:`SweepSpec` from the ``{sweep, base, search}`` tables of a spec file."""
    unknown = set(table) - {"sweep", "base", "search"}
    if unknown:
        raise ValueError(
            f"sweep spec: unknown section {sorted(unknown)[0]!r}; expected sweep, base, search"
        )
    for name in ("sweep", "base", "search"):
        if not isinstance(table.get(name, {}), dict):
            raise spec_error(name, "must be a table")
    sweep = dict(table.get("sweep", {}))
    for key in sweep:
        if key not in SWEEP_KEYS:
            raise spec_error(f"sweep.{key}", f"unknown key; valid keys: {', '.join(SWEEP_KEYS)}")
    search = table.get("search", {})
    if not search:
        raise spec_error("search", "empty: give at least one option to vary")
    kwargs = {k: v for k, v in sweep.items() if k != "pruning"}
    if "pruning" in sweep:
        kwargs["pruning"] = parse_pruning(sweep["pruning"])
    objective = kwargs.get("objective", DEFAULT_OBJECTIVE)
    for key, kind in (
        ("strategy", str),
        ("metric", str),
        ("mode", str),
        ("objective", str),
        ("executor", str),
        ("address", str),
        ("trials", int),
        ("seed", int),
        ("workers", int),
        ("threads", int),
    ):
        if key in kwargs and (type(kwargs[key]) is not kind):
            what = "a string" if kind is str else "an integer"
            raise spec_error(f"sweep.{key}", f"must be {what}, got {kwargs[key]!r}")
    space = SearchSpace(
        {
            key: parse_distribution(value, f"search.{key}", _field(key, objective))
            for key, value in search.items()
        }
    )
    return SweepSpec(search=space, base=dict(table.get("base", {})), **kwargs)


def parse_pruning(value) -> Pruning | None:
    if value is False:
        return None
    if value is True:
        return Pruning()
    if not isinstance(value, dict):
        raise spec_error("sweep.pruning", f"must be a table or true/false, got {value!r}")
    for key in value:
        if key not in ("min_epochs", "eta", "metric"):
            raise spec_error(f"sweep.pruning.{key}", "unknown key; valid: min_epochs, eta, metric")
    p = Pruning(**value)
    if type(p.min_epochs) is not int or p.min_epochs < 1:
        raise spec_error(
            "sweep.pruning.min_epochs", f"must be an integer >= 1, got {p.min_epochs!r}"
        )
    if isinstance(p.eta, bool) or not isinstance(p.eta, (int, float)) or not p.eta > 1:
        raise spec_error("sweep.pruning.eta", f"must be a number > 1, got {p.eta!r}")
    p.eta = float(p.eta)
    return p


def _field(key: str, objective: str):
    """The TrainConfig field ``key`` (None for custom objectives: anything goes)."""
    if objective != DEFAULT_OBJECTIVE:
        return None
    schema = TrainConfig.fields()
    name = key.replace("-", "_")
    if name not in schema:
        raise spec_error(
            f"search.{key}", f"unknown chainrule train option; valid: {', '.join(schema)}"
        )
    if name in RESERVED:
        raise spec_error(f"search.{key}", RESERVED_WHY)
    return schema[name]


def _number(value, path: str, integer: bool = False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise spec_error(path, f"bounds must be numbers, got {value!r}")
    if integer and not (isinstance(value, int) or float(value).is_integer()):
        raise spec_error(path, f"bounds must be integers, got {value!r}")
    if not math.isfinite(value):
        raise spec_error(path, f"bounds must be finite, got {value!r}")
    return int(value) if integer else float(value)


def _bounds(value, path: str, integer: bool) -> tuple:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise spec_error(path, f"expected [low, high], got {value!r}")
    return tuple(_number(v, path, integer) for v in value)


def parse_distribution(value, path: str, train_field=None, structure: bool = True):
    """A Distribution (or Layers) from its TOML form, checked against the option's field."""
    if isinstance(value, Layers):
        if train_field is not None and train_field.metadata["kind"] != "int_list":
            raise spec_error(path, f"a layer structure cannot set {train_field.name}")
        return value
    if isinstance(value, Distribution):
        dist = value
    elif isinstance(value, list):
        dist = Choice(value) if value else None
        if dist is None:
            raise spec_error(path, "empty choice: give at least one value")
        path = f"{path}.choice"
    elif isinstance(value, dict):
        if structure and ("n_layers" in value or "units" in value):
            return parse_layers(value, path, train_field)
        kinds = [k for k in value if k in KINDS]
        extra = [k for k in value if k not in (*KINDS, "num")]
        if extra:
            raise spec_error(
                f"{path}.{extra[0]}",
                f"unknown key; expected one of {', '.join(KINDS)} (and num for grids)",
            )
        if len(kinds) != 1:
            raise spec_error(path, f"give exactly one of {', '.join(KINDS)}")
        kind = kinds[0]
        path = f"{path}.{kind}"
        num = value.get("num")
        if num is not None and (type(num) is not int or num < 1):
            raise spec_error(
                f"{path[: path.rfind('.')]}.num", f"must be an integer >= 1, got {num!r}"
            )
        if kind == "choice":
            if not isinstance(value[kind], list) or not value[kind]:
                raise spec_error(path, f"expected a non-empty list, got {value[kind]!r}")
            dist = Choice(value[kind])
        else:
            integer = kind in ("int", "loguniform_int")
            low, high = _bounds(value[kind], path, integer)
            if kind.startswith("log") and not (low > 0 and high > 0):
                raise spec_error(
                    path, f"bounds must be positive, got [{value[kind][0]}, {value[kind][1]}]"
                )
            if low > high or (not integer and low == high):
                raise spec_error(path, f"empty range: low must be below high, got [{low}, {high}]")
            cls = IntRange if integer else Uniform
            dist = cls(low, high, log=kind.startswith("log"), num=num)
    else:
        raise spec_error(
            path,
            f"expected a list of choices or a table like {{loguniform = [lo, hi]}}, got "
            f"{value!r} (fixed values go in [base])",
        )
    if train_field is not None:
        check_against_field(dist, path, train_field)
    return dist


def parse_layers(value: dict, path: str, train_field=None) -> Layers:
    """``{n_layers = [1, 3], units = {loguniform_int = [32, 512]}, same_units = false}``;
    inside a structure a bare ``[lo, hi]`` is an inclusive integer range."""
    if train_field is not None and train_field.metadata["kind"] != "int_list":
        raise spec_error(path, f"n_layers/units describe layer structures, not {train_field.name}")
    for key in value:
        if key not in ("n_layers", "units", "same_units"):
            raise spec_error(f"{path}.{key}", "unknown key; valid: n_layers, units, same_units")
    if "n_layers" not in value or "units" not in value:
        raise spec_error(path, "a layer structure needs both n_layers and units")
    same = value.get("same_units", False)
    if not isinstance(same, bool):
        raise spec_error(f"{path}.same_units", f"must be true or false, got {same!r}")
    parts = {}
    for key, low_limit in (("n_layers", 0), ("units", 1)):
        v, p = value[key], f"{path}.{key}"
        if isinstance(v, int) and not isinstance(v, bool):
            v = {"choice": [v]}
        elif isinstance(v, list):
            if len(v) != 2:
                raise spec_error(p, f"expected [low, high] or a table, got {v!r}")
            v = {"int": v}
        dist = parse_distribution(v, p, None, structure=False)
        if isinstance(dist, Uniform):
            raise spec_error(p, "must be an integer distribution (int, loguniform_int, choice)")
        values = dist.values if isinstance(dist, Choice) else [dist.low]
        for x in values:
            if isinstance(x, bool) or not isinstance(x, int) or x < low_limit:
                raise spec_error(p, f"values must be integers >= {low_limit}, got {x!r}")
        parts[key] = dist
    return Layers(parts["n_layers"], parts["units"], same)


def check_against_field(dist, path: str, train_field) -> None:
    """Each value a distribution can produce must suit the option (type, choices, range)."""
    kind = train_field.metadata["kind"]
    if isinstance(dist, Choice):
        for i, v in enumerate(dist.values):
            try:
                convert(train_field, v, f"{path}[{i}]")
            except ValueError as e:
                raise ValueError(f"sweep spec: {e}") from None
            _check_value(TrainConfig, train_field.name, v, f"{path}[{i}]")
        return
    if isinstance(dist, Uniform) and kind != "float":
        raise spec_error(
            path, f"{train_field.name} takes {_kind_words(kind)}; use int, loguniform_int or choice"
        )
    if isinstance(dist, IntRange) and kind not in ("int", "float"):
        raise spec_error(path, f"{train_field.name} takes {_kind_words(kind)}; use choice")
    for v in (dist.low, dist.high):
        _check_value(TrainConfig, train_field.name, v, path)


def _check_value(config_cls, name, value, path):
    try:
        config_cls().updated({name: value}, source="sweep spec")
    except OptionCombinationError:
        pass  # cross-option rules (nesterov needs sgd, …) can only be judged per trial
    except ValueError as e:
        raise spec_error(path, str(e).replace(f"sweep spec key {name!r}", name)) from None


def _kind_words(kind: str) -> str:
    return {
        "int": "integers",
        "str": "strings",
        "bool": "true/false",
        "int_list": "lists of integers",
        "float_list": "lists of numbers",
    }.get(kind, kind)


def validate(spec: SweepSpec) -> None:
    """Whole-spec checks (run by ``SweepSpec`` itself, so the Python API gets them too)."""
    if spec.strategy not in STRATEGIES:
        raise spec_error(
            "sweep.strategy",
            f"invalid choice {spec.strategy!r}; choose from: {', '.join(STRATEGIES)}",
        )
    if spec.executor not in EXECUTORS:
        raise spec_error(
            "sweep.executor",
            f"invalid choice {spec.executor!r}; choose from: {', '.join(EXECUTORS)}",
        )
    if spec.mode not in ("min", "max"):
        raise spec_error("sweep.mode", f"must be 'min' or 'max', got {spec.mode!r}")
    if spec.trials is not None and spec.trials < 1:
        raise spec_error("sweep.trials", f"must be >= 1, got {spec.trials}")
    for key in ("workers", "threads"):
        value = getattr(spec, key)
        if value is not None and value < 1:
            raise spec_error(f"sweep.{key}", f"must be >= 1, got {value}")
    limit = spec.trial_timeout
    if limit is not None and (
        isinstance(limit, bool)
        or not isinstance(limit, (int, float))
        or not (math.isfinite(limit) and limit > 0)
    ):
        raise spec_error(
            "sweep.trial_timeout", f"must be a positive number of seconds, got {limit!r}"
        )
    if ":" not in spec.objective:
        raise spec_error("sweep.objective", f"expected 'module:function', got {spec.objective!r}")
    if not len(spec.search):
        raise spec_error("search", "empty: give at least one option to vary")
    if spec.strategy == "grid":
        spec.search.grid()  # raises for float ranges without num
    if spec.objective != DEFAULT_OBJECTIVE:
        return
    # the search keys must be options (SearchSpace objects built in Python skip parsing)
    for key, dist in spec.search.params.items():
        parse_distribution(dist, f"search.{key}", _field(key, spec.objective))
    for key in spec.base:
        if key.replace("-", "_") in RESERVED:
            raise spec_error(f"base.{key}", RESERVED_WHY)
    try:
        base = TrainConfig.from_dict(spec.base, source="base")
    except ValueError as e:
        raise ValueError(f"sweep spec: {e}") from None
    if spec.metric not in TRAIN_METRICS:
        raise spec_error(
            "sweep.metric",
            f"invalid choice {spec.metric!r}; choose from: {', '.join(TRAIN_METRICS)}",
        )
    searched_split = "val_split" in spec.search.params
    if spec.metric.startswith("val_") and base.val_split == 0 and not searched_split:
        raise spec_error("sweep.metric", f"{spec.metric} needs base.val_split > 0")
    if spec.pruning is not None:
        metric = spec.prune_metric
        if metric not in EPOCH_METRICS:
            raise spec_error(
                "sweep.pruning.metric",
                f"pruning watches a per-epoch metric ({', '.join(EPOCH_METRICS)}), got {metric!r}",
            )
        if metric.startswith("val_") and base.val_split == 0 and not searched_split:
            raise spec_error("sweep.pruning.metric", f"{metric} needs base.val_split > 0")
