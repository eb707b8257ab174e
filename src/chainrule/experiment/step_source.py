"""``chainrule train ... --show-step``: the training step the options describe, as code.

The model, loss, penalty, clipping and optimizer are built exactly as ``run_training``
builds them; one step is captured with ``cr.compile`` on the first batch of the training
data (twice, as every capture is made) and printed with ``step.source()``. The model
used for this is thrown away; nothing is written.
"""

from __future__ import annotations

from chainrule import backend
from chainrule.compile import compile as compile_step
from chainrule.experiment.config import TrainConfig
from chainrule.experiment.run import prepare_run_data
from chainrule.experiment.wiring import (
    build_loss,
    build_model,
    build_optimizer,
    build_penalty,
    check_targets,
)
from chainrule.optim import clip_grad_norm_, clip_grad_value_
from chainrule.tensor import Tensor


def step_source(config: TrainConfig, splits=None) -> str:
    """The source of one training step for ``config`` (see the module docstring)."""
    config.validate()
    data = prepare_run_data(config, splits)
    check_targets(data.train[1], data.n_outputs, data.task, "training data")
    backend.manual_seed(config.seed)
    model = build_model(config, data.n_features, data.n_outputs)
    loss_fn = build_loss(config, data.task, data.n_outputs)
    optimizer = build_optimizer(config, model)
    penalty = build_penalty(config)
    params = list(model.parameters())

    @compile_step
    def train_step(x, y):
        out = model(Tensor(x))
        loss = loss_fn(out, y)
        objective = loss if penalty is None else loss + penalty(model)
        optimizer.zero_grad()
        objective.backward()
        if config.clip_grad_norm is not None:
            clip_grad_norm_(params, config.clip_grad_norm)
        if config.clip_grad_value is not None:
            clip_grad_value_(params, config.clip_grad_value)
        optimizer.step()
        return loss

    x, y = data.train
    x, y = x[: config.batch_size].copy(), y[: config.batch_size].copy()
    for _ in range(2):  # a step is captured on two calls
        train_step(x, y)
    return train_step.source()
