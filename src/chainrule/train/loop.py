"""``fit`` and ``evaluate``: the training loop, on one screen.

Everything optional — progress bars, logs, checkpoints, clipping, early stopping, NaN
checks, gradient monitors — is a :class:`~chainrule.train.callbacks.Callback` called at
fixed points of the loop. The loop itself does what every step needs, in the textbook's
order: forward, loss, backward, optimizer step θ ← θ − α∇L, then the lr schedule's step
(α for the next step), and the metric sums.
"""

from __future__ import annotations

import time

import numpy as np

from chainrule.autograd import no_grad
from chainrule.compile import compile as compile_step
from chainrule.data import ArrayDataset, DataLoader
from chainrule.tensor import Tensor
from chainrule.train.callbacks import CallbackList
from chainrule.train.history import History
from chainrule.train.state import FitState


def as_loader(data, batch_size: int = 32, shuffle: bool = False, seed=0) -> DataLoader:
    """A DataLoader as given, or one over ``(X, y)`` arrays."""
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return DataLoader(ArrayDataset(*data), batch_size=batch_size, shuffle=shuffle, rng=seed)
    raise TypeError(f"expected a DataLoader or an (X, y) pair, got {type(data).__name__}")


def fit(
    model,
    loss_fn,
    optimizer,
    train_data,
    epochs: int,
    val_data=None,
    callbacks=(),
    scheduler=None,
    *,
    scheduler_interval: str = "epoch",
    penalty=None,
    batch_size: int = 32,
    seed=0,
    run_dir=None,
    resume: dict | None = None,
    extra_state: dict | None = None,
    compile: bool = False,  # the option is named as cr.compile is
) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_data``; returns the ``History``.

    Args:
        model: a ``cr.nn.Module`` mapping a batch of inputs to outputs (logits).
        loss_fn: ``loss_fn(outputs, targets) -> scalar Tensor`` (targets are NumPy arrays).
        optimizer: a ``cr.optim`` optimizer over ``model.parameters()``.
        train_data: a ``cr.data.DataLoader`` or ``(X, y)`` arrays (then batched by
            ``batch_size`` and shuffled with ``seed``).
        val_data: DataLoader or ``(X, y)``, evaluated after every epoch, or None.
        callbacks: :class:`Callback` objects, called in the order given.
        scheduler: an lr scheduler, stepped right after every optimizer step
            (``scheduler_interval="step"``) or after every epoch (``"epoch"``); a
            scheduler that watches a metric (``ReduceLROnPlateau``, ``needs_metric``) is
            stepped per epoch with the validation loss (the training loss without
            validation data).
        penalty: ``penalty(model) -> Tensor`` added to the loss before backward (e.g. an
            L2 term); the logged ``train_loss`` is the data loss alone, comparable with
            ``val_loss``.
        run_dir: folder for callbacks that write files (exposed as ``state.run_dir``).
        resume: a training state from ``FitState.state_dict()`` (e.g. ``cr.load`` of a
            ``last.safetensors``): training continues exactly where that run stood.
        extra_state: JSON-able facts saved into every checkpoint (config, data stats).
        compile: capture forward, loss and backward once per batch shape and replay them
            (``cr.compile``): the same numbers, bit for bit, without the engine's per-op
            work. Callbacks see the replay's gradients and a loss without a graph. In a
            run of fewer than 3 epochs the last, smaller batch runs eagerly: met once per
            epoch, it would be captured twice before its first replay.

    Each epoch appends ``{epoch, train_loss, train_accuracy, val_loss, val_accuracy, lr,
    seconds, step}`` to the history (accuracies are None for non-integer targets).
    """
    loader = as_loader(train_data, batch_size, shuffle=True, seed=seed)
    val_loader = as_loader(val_data, batch_size=1024) if val_data is not None else None
    if scheduler_interval not in ("step", "epoch"):
        raise ValueError(
            f"fit: scheduler_interval must be 'step' or 'epoch', got {scheduler_interval!r}"
        )
    on_metric = getattr(scheduler, "needs_metric", False)  # ReduceLROnPlateau
    per_step = scheduler is not None and scheduler_interval == "step" and not on_metric
    state = FitState(model, optimizer, loss_fn, loader, callbacks, run_dir, extra_state, scheduler)
    if resume is not None:
        state.load_state_dict(resume)  # checks everything before changing anything
    cb = CallbackList(callbacks)

    def forward_backward(x, y):  # the step up to the gradients: eager, or captured once
        out = model(Tensor(x))  # (B, n_outputs) logits
        loss = loss_fn(out, y)  # data loss, a scalar
        objective = loss if penalty is None else loss + penalty(model)
        optimizer.zero_grad()
        objective.backward()
        return out, loss

    eager_step = forward_backward
    if compile:
        forward_backward = compile_step(forward_backward, fallback=True)  # refused: eager
    # The epoch's last, smaller batch is a signature of its own, met once per epoch, and a
    # replay needs two captures first: in a run of fewer than 3 epochs it would be
    # recorded (eager plus the recorder's cost) and never replayed, so it runs eagerly.
    ragged_eager = compile and epochs - state.epoch < 3
    full = loader.batch_size

    cb.on_train_begin(state)
    while state.epoch < epochs and not state.stop_training:
        epoch = state.epoch
        model.train()
        cb.on_epoch_begin(state, epoch)
        sums = state.sums  # float64 [Σ loss·n, correct, n, seconds]; restored on resume
        start = time.perf_counter()
        for x, y in loader:
            step = state.global_step
            cb.on_batch_begin(state, step)
            if ragged_eager and len(y) != full:
                out, loss = eager_step(x, y)
            else:
                out, loss = forward_backward(x, y)
            state.last_batch, state.last_loss = (x, y), loss
            cb.on_after_backward(state)  # grads ready: clipping, gradient monitors
            optimizer.step()  # θ ← θ − α·update
            if per_step:
                scheduler.step()  # α for the next step
            state.global_step = step + 1
            n = len(y)  # metric sums in NumPy: no conversion to Python per step
            sums[0] += loss.data * n
            if y.dtype.kind in "iu":
                sums[1] += np.count_nonzero(out.data.argmax(axis=1) == y)
            sums[2] += n
            cb.on_batch_end(state, step, {"loss": loss.data, "size": n})
            if state.stop_training:
                break
        sums[3] += time.perf_counter() - start
        if state.stop_training:  # stopped mid-epoch (NaN guard, a pruner): no summary
            break

        logs = {"epoch": epoch + 1, **state.epoch_metrics(), "lr": state.lr}
        if val_loader is not None:
            val = evaluate(model, loss_fn, val_loader)
            logs.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
        logs.update(seconds=state.sums[3], step=state.global_step)
        state.history.append(logs)
        state.end_epoch()  # epoch += 1, sums reset
        if scheduler is not None and not per_step:  # per-epoch schedules: α for next epoch
            if on_metric:
                watched = logs.get("val_loss")
                scheduler.step(logs["train_loss"] if watched is None else watched)
            else:
                scheduler.step()
        cb.on_epoch_end(state, epoch, logs)
    cb.on_train_end(state)
    history = state.history
    history.stop_reason = state.stop_reason
    history.steps = state.global_step
    unfinished = state.sums[2] > 0  # stopped mid-epoch: examples seen but no summary
    history.epochs_run = len(history) + int(unfinished)
    history.seconds = float(sum(e["seconds"] for e in history)) + (
        float(state.sums[3]) if unfinished else 0.0
    )
    return history


def evaluate(model, loss_fn, data, batch_size: int = 1024) -> dict:
    """Mean loss and accuracy of ``model`` on ``data`` (DataLoader or ``(X, y)``).

    Runs in eval mode (dropout off) without building a graph, and puts the model back in
    the mode it was in. Returns ``{"loss", "accuracy", "n"}``; ``accuracy`` (argmax of the
    outputs vs integer labels) is None for regression targets. The loss is averaged over
    examples, so the last, smaller batch weighs by its size.
    """
    loader = as_loader(data, batch_size)
    was_training = getattr(model, "training", False)
    model.eval()
    loss_sum, correct, n, classify = 0.0, 0, 0, True
    try:
        with no_grad():
            for x, y in loader:
                out = model(Tensor(x))
                loss_sum += float(loss_fn(out, y).data) * len(y)
                if y.dtype.kind in "iu":
                    correct += int(np.count_nonzero(out.data.argmax(axis=1) == y))
                else:
                    classify = False
                n += len(y)
    finally:
        model.train(was_training)
    if n == 0:
        return {"loss": None, "accuracy": None, "n": 0}
    return {"loss": loss_sum / n, "accuracy": correct / n if classify else None, "n": n}


def predict(model, X, batch_size: int = 1024) -> np.ndarray:
    """The model's outputs for the rows of ``X`` (eval mode, no graph), as one array."""
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        with no_grad():
            outs = [model(Tensor(X[i : i + batch_size])).data for i in range(0, len(X), batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(outs) if outs else np.zeros((0,))
