"""Hyperparameter checks, run at the start of every ``fit`` / ``partial_fit``.

scikit-learn's rule: ``__init__`` only stores its arguments, and a bad value is reported
when fitting, as a ``ValueError`` of the form "The 'alpha' parameter of MLPClassifier
must be ... Got -1 instead." (the wording of sklearn's own ``InvalidParameterError``).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

# sklearn's names first; the rest are chainrule's MLP activations
ACTIVATIONS = {
    "identity": "identity",
    "logistic": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
    "leaky_relu": "leaky_relu",
    "elu": "elu",
    "gelu": "gelu",
}
SOLVERS = ("lbfgs", "sgd", "adam")
STOCHASTIC_SOLVERS = ("sgd", "adam")
LEARNING_RATES = ("constant", "invscaling", "adaptive")
DTYPES = ("float32", "float64")
REGRESSION_LOSSES = ("squared_error", "poisson")


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _bool(v):
    return isinstance(v, (bool, np.bool_))


def _interval(lo, hi, lo_closed, hi_closed, kind="float"):
    def ok(v):
        if not (_is_int(v) if kind == "int" else _is_real(v)) or math.isnan(v):
            return False
        above = v >= lo if lo_closed else v > lo
        below = v <= hi if hi_closed else v < hi
        return above and below

    left = "[" if lo_closed else "("
    right = "]" if hi_closed else ")"
    hi_s = "inf" if hi == math.inf else hi
    return ok, f"{'an int' if kind == 'int' else 'a float'} in the range {left}{lo}, {hi_s}{right}"


def _one_of(options):
    return (
        lambda v: isinstance(v, str) and v in options,
        "a str among {" + ", ".join(repr(o) for o in options) + "}",
    )


def _hidden_sizes_ok(v):
    if _is_int(v):
        return v >= 1
    try:
        sizes = list(v)
    except TypeError:
        return False
    return all(_is_int(s) and s >= 1 for s in sizes)


def _schedule_ok(v):
    from chainrule.sklearn.convergence import SCHEDULES

    return v is None or callable(v) or (isinstance(v, str) and v in SCHEDULES)


def _init_ok(v):
    from chainrule.nn.mlp import INITS

    return v is None or callable(v) or (isinstance(v, str) and v.partition(":")[0] in INITS)


_NONNEG = _interval(0, math.inf, True, False)
_UNIT_OPEN = _interval(0, 1, True, False)
_RULES = {
    "hidden_layer_sizes": (_hidden_sizes_ok, "an int >= 1 or a sequence of ints >= 1"),
    "activation": _one_of(tuple(ACTIVATIONS)),
    "solver": _one_of(SOLVERS),
    "alpha": _NONNEG,
    "batch_size": (
        lambda v: v == "auto" if isinstance(v, str) else _is_int(v) and v >= 1,
        "'auto' or an int in the range [1, inf)",
    ),
    "learning_rate": _one_of(LEARNING_RATES),
    "learning_rate_init": _interval(0, math.inf, False, False),
    "power_t": _NONNEG,
    "max_iter": _interval(1, math.inf, True, False, "int"),
    "shuffle": (_bool, "a bool"),
    "tol": _NONNEG,
    "verbose": (lambda v: _bool(v) or _is_int(v), "a bool or an int"),
    "warm_start": (_bool, "a bool"),
    "momentum": _interval(0, 1, True, True),
    "nesterovs_momentum": (_bool, "a bool"),
    "early_stopping": (_bool, "a bool"),
    "validation_fraction": _UNIT_OPEN,
    "beta_1": _UNIT_OPEN,
    "beta_2": _UNIT_OPEN,
    "epsilon": _interval(0, math.inf, False, False),
    "n_iter_no_change": (
        lambda v: (_is_int(v) and v >= 1) or (_is_real(v) and v == math.inf),
        "an int in the range [1, inf) or inf",
    ),
    "max_fun": _interval(1, math.inf, True, False, "int"),
    "loss": _one_of(REGRESSION_LOSSES),
    # chainrule's own
    "init": (_init_ok, "None, a callable or a cr.nn.MLP init name"),
    "l1": _NONNEG,
    "dropout": _UNIT_OPEN,
    "weight_decay": _NONNEG,
    "dtype": (
        lambda v: v is None or (isinstance(v, str) and v in DTYPES),
        "None or a str among {'float32', 'float64'}",
    ),
    "schedule": (_schedule_ok, "None, a callable epoch -> lr factor, or 'cosine'"),
    "compile": (_bool, "a bool"),
}


def check_params(estimator) -> None:
    """Raise ValueError naming the first hyperparameter whose value is not allowed."""
    for name, value in estimator.get_params(deep=False).items():
        rule = _RULES.get(name)
        if rule is None:
            continue
        ok, allowed = rule
        if not ok(value):
            raise ValueError(
                f"The {name!r} parameter of {type(estimator).__name__} must be {allowed}. "
                f"Got {value!r} instead."
            )


def hidden_sizes(value) -> list[int]:
    """``hidden_layer_sizes`` as a list: an int means one hidden layer."""
    return [int(value)] if _is_int(value) else [int(s) for s in value]


def store(estimator, values: dict) -> None:
    """What every ``__init__`` does: keep each argument, unchanged, under its own name."""
    for name, value in values.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)
