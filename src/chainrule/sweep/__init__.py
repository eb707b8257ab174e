"""chainrule.sweep: hyperparameter sweeps over any ``chainrule train`` option.

A sweep is a :class:`SweepSpec` (TOML file or Python) — fixed options, a search space, a
strategy (grid, random, Optuna TPE) and optional pruning of poor trials — run by
:func:`run_sweep` on a local process pool or a Ray cluster into a folder that records
every finished trial at once, so a killed sweep resumes where it stopped::

    from chainrule import sweep
    spec = sweep.SweepSpec(
        base={"data": "digits", "epochs": 10},
        search={"lr": sweep.loguniform(1e-3, 0.3),
                "layers": sweep.layers(n_layers=(1, 3), units=sweep.loguniform_int(32, 512))},
        strategy="random", trials=20, pruning=sweep.Pruning(min_epochs=2, eta=3),
    )
    result = sweep.run_sweep(spec, "sweeps/digits", workers=2)
    print(sweep.table(result)); result.best["params"]

The pieces: space (distributions and layer structures), spec (parsing and validation),
strategies, pruning (asynchronous successive halving), trial (what a worker runs),
executors (local pool, Ray), store (fsync'd JSON lines), runner, progress, report.
"""

from chainrule.sweep.executors import LocalExecutor, RayExecutor, make_executor
from chainrule.sweep.pruning import RungPruner
from chainrule.sweep.report import best_config_toml, save_plots, summary, table, write_report
from chainrule.sweep.runner import SweepResult, load_results, run_sweep
from chainrule.sweep.space import (
    Choice,
    IntRange,
    Layers,
    SearchSpace,
    Uniform,
    choice,
    layers,
    loguniform,
    loguniform_int,
    randint,
    uniform,
)
from chainrule.sweep.spec import Pruning, SweepSpec, load_spec, spec_from_dict
from chainrule.sweep.store import ResultStore
from chainrule.sweep.trial import run_trial, trial_id

__all__ = [
    "Choice",
    "IntRange",
    "Layers",
    "LocalExecutor",
    "Pruning",
    "RayExecutor",
    "ResultStore",
    "RungPruner",
    "SearchSpace",
    "SweepResult",
    "SweepSpec",
    "Uniform",
    "best_config_toml",
    "choice",
    "layers",
    "load_results",
    "load_spec",
    "loguniform",
    "loguniform_int",
    "make_executor",
    "randint",
    "run_sweep",
    "run_trial",
    "save_plots",
    "spec_from_dict",
    "summary",
    "table",
    "trial_id",
    "uniform",
    "write_report",
]
