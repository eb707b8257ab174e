"""Search strategies: which point each trial index gets.

- ``grid``: the Cartesian product in declaration order (``trials`` caps it).
- ``random``: trial ``i`` draws from ``default_rng([seed, i])``, so its point depends only
  on the seed and its index — never on which trials finished first, or on a resume.
- ``tpe``: Optuna's tree-structured Parzen estimator (``pip install optuna``), seeded;
  finished trials (also those of an earlier, killed run) are told to the study, so a
  resumed sweep keeps learning from them.

All three answer ``ask(index) -> point`` and ``tell(index, record)``.
"""

from __future__ import annotations

import numpy as np

from chainrule.sweep.space import SearchSpace


class GridStrategy:
    def __init__(self, space: SearchSpace, seed: int = 0):
        self.points = space.grid()

    def ask(self, index: int) -> dict:
        return self.points[index]

    def tell(self, index: int, record: dict) -> None:
        pass


class RandomStrategy:
    def __init__(self, space: SearchSpace, seed: int = 0):
        self.space, self.seed = space, seed

    def ask(self, index: int) -> dict:
        return self.space.sample(np.random.default_rng([self.seed, index]))

    def tell(self, index: int, record: dict) -> None:
        pass


class TPEStrategy:
    """Optuna TPE through ask-and-tell; ``constant_liar`` keeps parallel workers from all
    asking for the same point while earlier trials are still running."""

    def __init__(self, space: SearchSpace, seed: int = 0, mode: str = "max", finished=()):
        optuna = import_optuna()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna, self.space = optuna, space
        sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
        direction = "maximize" if mode == "max" else "minimize"
        self.study = optuna.create_study(direction=direction, sampler=sampler)
        self.running: dict[int, object] = {}
        for record in finished:
            self._replay(record)

    def ask(self, index: int) -> dict:
        trial = self.study.ask()
        self.running[index] = trial
        return self.space.suggest(trial)

    def tell(self, index: int, record: dict) -> None:
        trial = self.running.pop(index, None)
        if trial is None:
            return
        state = self.optuna.trial.TrialState
        if record["status"] == "completed":
            self.study.tell(trial, record["metric"])
        elif record["status"] == "pruned":
            for row in record.get("history", []):
                value = row.get(record.get("watch") or "")
                if value is not None:
                    trial.report(value, row["epoch"])
            self.study.tell(trial, state=state.PRUNED)
        else:
            self.study.tell(trial, state=state.FAIL)

    def _replay(self, record: dict) -> None:
        if record["status"] != "completed" or record.get("metric") is None:
            return  # TPE learns from completed trials; the others only cost time
        params, dists = self.space.optuna_params(record["point"])
        self.study.add_trial(
            self.optuna.trial.create_trial(
                params=params, distributions=dists, value=record["metric"]
            )
        )


def import_optuna():
    try:
        import optuna
    except ImportError:
        raise ImportError(
            "strategy 'tpe' needs Optuna: pip install 'chainrule[tune]' (or pip install optuna)"
        ) from None
    return optuna


def make_strategy(spec, finished=()):
    if spec.strategy == "grid":
        return GridStrategy(spec.search, spec.seed)
    if spec.strategy == "random":
        return RandomStrategy(spec.search, spec.seed)
    try:
        return TPEStrategy(spec.search, spec.seed, spec.mode, finished)
    except ImportError as e:  # the CLI reports ValueError/OSError in one line
        raise ValueError(str(e)) from None
