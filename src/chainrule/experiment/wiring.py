"""From a :class:`TrainConfig` to the objects ``fit`` takes: model, loss, penalty,
optimizer, lr schedule and callbacks. Each builder reads only the options it needs."""

from __future__ import annotations

import os

import numpy as np

from chainrule import nn, optim
from chainrule.diagnostics.monitor import GradientFlowMonitor
from chainrule.experiment.config import TrainConfig
from chainrule.nn import functional as F
from chainrule.ops import getitem
from chainrule.ops.labels import class_labels
from chainrule.optim import lr_scheduler as S
from chainrule.tensor import Tensor
from chainrule.train import callbacks as C


def build_model(config: TrainConfig, n_features: int, n_outputs: int):
    """The MLP ``n_features → layers... → n_outputs`` in the config's dtype."""
    sizes = [n_features, *config.layers, n_outputs]
    model = nn.MLP(sizes, activation=config.activation, init=config.init, dropout=config.dropout)
    return model.astype(np.dtype(config.dtype))


def check_targets(y, n_outputs: int, task: str, what: str) -> None:
    """Class labels must index the model's outputs, ``0 <= y < n_outputs`` (through the
    one label validator, :func:`chainrule.ops.labels.class_labels`)."""
    if task == "classification":
        class_labels(what, y, n_outputs, classes=f"a model with {n_outputs} outputs")


def build_loss(config: TrainConfig, task: str, n_outputs: int):
    """``loss_fn(outputs, targets)``; for classification the targets are class indices."""
    if task == "classification":
        if config.loss == "cross-entropy":
            return F.cross_entropy
        eye = None

        def mse_on_probabilities(logits, labels):
            nonlocal eye  # one-hot rows cut from a cached identity: no per-step allocation
            if eye is None or eye.dtype != logits.dtype:
                eye = Tensor(np.eye(n_outputs, dtype=logits.dtype))
            # a tensor op, not eye.data[labels]: cr.compile can replay it with new labels
            return F.mse_loss(F.softmax(logits, dim=-1), getitem(eye, labels))

        return mse_on_probabilities
    if config.loss == "cross-entropy":
        raise ValueError(
            "loss 'cross-entropy' needs class labels, but this data set is a regression "
            "task; use --loss mse"
        )

    def mse(outputs, targets):
        return F.mse_loss(outputs, targets.reshape(outputs.shape))

    return mse


def build_penalty(config: TrainConfig):
    """``penalty(model)``: λ₂/2·Σ‖W‖² + λ₁·Σ|W| over the weight matrices (not biases)."""
    l2, l1 = config.l2, config.l1
    if l2 and l1:
        return lambda model: nn.l2_penalty(model, l2) + nn.l1_penalty(model, l1)
    if l2:
        return lambda model: nn.l2_penalty(model, l2)
    if l1:
        return lambda model: nn.l1_penalty(model, l1)
    return None


def build_optimizer(config: TrainConfig, model):
    """The optimizer the config names, with weight decay on the weight matrices only
    (a bias shifts a unit's input rather than scaling it, so shrinking it does not
    regularize: the penalty is λ/2·Σ‖W‖² over the W's)."""
    params = (
        nn.param_groups(model, config.weight_decay)
        if config.weight_decay
        else list(model.parameters())
    )
    lr, wd = config.resolved_lr(), config.weight_decay
    if config.optimizer == "sgd":
        return optim.SGD(
            params,
            lr=lr,
            momentum=config.momentum,
            weight_decay=wd,
            nesterov=config.nesterov,
            decay=config.decay_style,
        )
    if config.optimizer == "adam":
        return optim.Adam(params, lr=lr, weight_decay=wd, decay=config.decay_style)
    if config.optimizer == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=wd)
    if config.optimizer == "rmsprop":
        return optim.RMSprop(params, lr=lr, weight_decay=wd, momentum=config.momentum)
    return optim.Adagrad(params, lr=lr, weight_decay=wd)


def build_scheduler(config: TrainConfig, optimizer, steps_per_epoch: int):
    """The lr schedule, stepped per optimizer step (``ReduceLROnPlateau``: per epoch).

    Epoch-denominated options (step_size, milestones, warmup, exponential's gamma) are
    converted to steps, so the lr changes smoothly within epochs where it should.
    Returns ``(scheduler or None, interval)``.
    """
    total = config.epochs * steps_per_epoch
    warm = round(config.warmup * steps_per_epoch)
    if warm >= total:
        raise ValueError(f"warmup ({config.warmup} epochs) must be shorter than training")
    kind = config.schedule
    if kind == "plateau":
        if warm:
            raise ValueError("schedule 'plateau' does not combine with warmup")
        return S.ReduceLROnPlateau(
            optimizer, factor=config.gamma, patience=config.plateau_patience, min_lr=config.min_lr
        ), "epoch"
    if kind == "onecycle":  # has its own warmup: the first pct_start of the steps
        pct = warm / total if warm else 0.3
        return S.OneCycleLR(
            optimizer,
            max_lr=config.resolved_lr(),
            total_steps=total,
            pct_start=pct,
            cycle_momentum=config.optimizer != "adagrad",
        ), "step"
    main_steps = total - warm
    if kind == "constant":
        main = None
    elif kind == "step":
        main = S.StepLR(optimizer, step_size=config.step_size * steps_per_epoch, gamma=config.gamma)
    elif kind == "multistep":
        main = S.MultiStepLR(
            optimizer,
            milestones=[m * steps_per_epoch - warm for m in config.milestones],
            gamma=config.gamma,
        )
    elif kind == "exponential":
        main = S.ExponentialLR(optimizer, gamma=config.gamma ** (1.0 / steps_per_epoch))
    else:  # cosine
        main = S.CosineAnnealingLR(optimizer, T_max=main_steps, eta_min=config.min_lr)
    if not warm:
        return main, "step"
    warmup = S.LinearLR(optimizer, start_factor=0.1, end_factor=1.0, total_iters=warm)
    if main is None:
        return warmup, "step"
    return S.SequentialLR(optimizer, [warmup, main], milestones=[warm]), "step"


def build_callbacks(config: TrainConfig, run_dir, extra_callbacks=()):
    """The callbacks a config asks for, in the order that keeps checkpoints consistent:
    clipping, gradient monitor, NaN guard, early stopping, the caller's, logs and
    progress, checkpoints last (so a checkpoint holds every other callback's state after
    the same epoch/step)."""
    cbs = []
    if config.clip_grad_norm is not None or config.clip_grad_value is not None:
        cbs.append(C.GradientClipping(config.clip_grad_norm, config.clip_grad_value))
    if config.monitor:
        cbs.append(GradientFlowMonitor(every=config.monitor))
    cbs.append(C.NaNGuard())
    if config.early_stopping is not None:
        cbs.append(C.EarlyStopping(patience=config.early_stopping, min_delta=config.min_delta))
    cbs.extend(extra_callbacks)
    if run_dir is not None:
        cbs.append(C.MetricsLogger(os.path.join(run_dir, "metrics.jsonl")))
    if not config.quiet:
        cbs.append(C.ProgressBar(config.epochs))
    if run_dir is not None:
        cbs.append(C.ModelCheckpoint(run_dir, every_steps=config.checkpoint_every))
    return cbs


__all__ = [
    "build_callbacks",
    "build_loss",
    "build_model",
    "build_optimizer",
    "build_penalty",
    "build_scheduler",
    "check_targets",
]
