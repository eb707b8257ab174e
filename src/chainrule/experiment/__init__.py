"""chainrule.experiment: a training run as the command line and sweeps see it.

The application layer above the training loop (:mod:`chainrule.train`): the one config
schema (:class:`TrainConfig`, read from TOML, the command line and sweep specs), the
wiring from a config to model, loss, optimizer, schedule and callbacks, and the run
folder a run writes and is rebuilt from.

- ``config``: :class:`TrainConfig`, ``read_config`` (TOML), ``to_toml``.
- ``wiring``: ``build_model``, ``build_loss``, ``build_penalty``, ``build_optimizer``,
  ``build_scheduler``, ``build_callbacks``.
- ``run``: ``run_training(config) -> results`` — what ``chainrule train`` does.
- ``run_folder``: the folder's files; ``find_checkpoint``, ``restore_model``.
"""

from chainrule.experiment.config import TrainConfig, read_config, to_toml
from chainrule.experiment.run import prepare_run_data, run_training
from chainrule.experiment.run_folder import find_checkpoint, restore_model
from chainrule.experiment.wiring import (
    build_callbacks,
    build_loss,
    build_model,
    build_optimizer,
    build_penalty,
    build_scheduler,
)

__all__ = [
    "TrainConfig",
    "build_callbacks",
    "build_loss",
    "build_model",
    "build_optimizer",
    "build_penalty",
    "build_scheduler",
    "find_checkpoint",
    "prepare_run_data",
    "read_config",
    "restore_model",
    "run_training",
    "to_toml",
]
