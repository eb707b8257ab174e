"""chainrule.train: the training loop, its callbacks, the history and the fit state.

``fit(model, loss_fn, optimizer, train_data, epochs, ...) -> History`` is the loop (one
screen, in loop.py); everything optional is a :class:`Callback`. :class:`FitState` is what
callbacks see and what a checkpoint holds. A whole run from a config — what
``chainrule train`` does — is the application layer above: :mod:`chainrule.experiment`
(``TrainConfig``, ``run_training``).
"""

import warnings

from chainrule.train.callbacks import (
    Callback,
    CallbackList,
    EarlyStopping,
    GradientClipping,
    LambdaCallback,
    LRSchedulerCallback,
    MetricsLogger,
    ModelCheckpoint,
    NaNGuard,
    ProgressBar,
)
from chainrule.train.history import History
from chainrule.train.loop import evaluate, fit, predict
from chainrule.train.state import FitState

# Old spellings (before 0.2), still accepted with a DeprecationWarning: {old: new}
_RENAMED = {"Trainer": "FitState", "LRScheduler": "LRSchedulerCallback"}
_MOVED_UP = {  # to the application layer: {old: chainrule.experiment's name}
    "TrainConfig": "TrainConfig",
    "run_training": "run_training",
    "build_model": "build_model",
    "prepare_data": "prepare_run_data",
}


def __getattr__(name):
    if name in _RENAMED:
        new, value = f"chainrule.train.{_RENAMED[name]}", globals()[_RENAMED[name]]
    elif name in _MOVED_UP:
        # imported on first use, not at import time: experiment is the layer above train
        # (the one upward import, declared in .importlinter)
        from chainrule import experiment

        new, value = f"chainrule.experiment.{_MOVED_UP[name]}", getattr(experiment, _MOVED_UP[name])
    else:
        raise AttributeError(f"module 'chainrule.train' has no attribute {name!r}")
    warnings.warn(
        f"chainrule.train.{name} is deprecated; use {new}", DeprecationWarning, stacklevel=2
    )
    return value


__all__ = [
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "FitState",
    "GradientClipping",
    "History",
    "LRSchedulerCallback",
    "LambdaCallback",
    "MetricsLogger",
    "ModelCheckpoint",
    "NaNGuard",
    "ProgressBar",
    "evaluate",
    "fit",
    "predict",
]
