"""chainrule.train: the training loop, callbacks, checkpoints of training state, and runs.

``fit(model, loss_fn, optimizer, train_data, epochs, ...) -> History`` is the loop (one
screen, in loop.py); everything optional is a :class:`Callback`. ``run_training(config)``
runs a whole experiment from a :class:`TrainConfig` — what ``chainrule train`` does.
"""

from chainrule.train.callbacks import (
    Callback,
    CallbackList,
    EarlyStopping,
    GradientClipping,
    LambdaCallback,
    LRScheduler,
    MetricsLogger,
    ModelCheckpoint,
    NaNGuard,
    ProgressBar,
)
from chainrule.train.config import TrainConfig
from chainrule.train.history import History
from chainrule.train.loop import evaluate, fit, predict
from chainrule.train.run import build_model, prepare_data, run_training
from chainrule.train.state import Trainer

__all__ = [
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "GradientClipping",
    "History",
    "LRScheduler",
    "LambdaCallback",
    "MetricsLogger",
    "ModelCheckpoint",
    "NaNGuard",
    "ProgressBar",
    "TrainConfig",
    "Trainer",
    "build_model",
    "evaluate",
    "fit",
    "predict",
    "prepare_data",
    "run_training",
]
