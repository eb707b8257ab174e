"""Callbacks: everything optional in training, called at fixed points of ``fit``'s loop.

The protocol (all methods are no-ops on the base class; override what you need)::

    on_train_begin(trainer)
    on_epoch_begin(trainer, epoch)          epoch is 0-based
    on_batch_begin(trainer, step)           step = global step index (0-based)
    on_after_backward(trainer)              gradients ready, optimizer not yet stepped
    on_batch_end(trainer, step, logs)       logs = {"loss": 0-d array, "size": batch size}
    on_epoch_end(trainer, epoch, logs)      logs = the epoch's History entry
    on_train_end(trainer)

``trainer`` is a :class:`~chainrule.train.state.FitState`: ``model, optimizer, loss_fn,
history, epoch, global_step, run_dir, stop_training`` (settable), ``last_batch`` (x, y),
``last_loss``. A callback with state to restore on resume defines ``state_dict()`` and
``load_state_dict()`` (saved under ``state_key``, default the class name).

Dispatch is cheap: ``CallbackList`` calls only the methods a callback overrides, so a
callback that only watches epochs costs nothing per step.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

import numpy as np

from chainrule.files import atomic_write
from chainrule.interop.checkpoint import save
from chainrule.optim import clip_grad_norm_, clip_grad_value_

HOOKS = (
    "on_train_begin",
    "on_epoch_begin",
    "on_batch_begin",
    "on_after_backward",
    "on_batch_end",
    "on_epoch_end",
    "on_train_end",
)


class Callback:
    """Base class: every hook does nothing."""

    def on_train_begin(self, trainer):
        pass

    def on_epoch_begin(self, trainer, epoch):
        pass

    def on_batch_begin(self, trainer, step):
        pass

    def on_after_backward(self, trainer):
        pass

    def on_batch_end(self, trainer, step, logs):
        pass

    def on_epoch_end(self, trainer, epoch, logs):
        pass

    def on_train_end(self, trainer):
        pass


def _overrides(callback, hook: str) -> bool:
    method = getattr(callback, hook, None)
    if method is None:
        return False
    return getattr(method, "__func__", None) is not getattr(Callback, hook)


class CallbackList:
    """Calls each hook on the callbacks that implement it, in order."""

    def __init__(self, callbacks=()):
        self.callbacks = list(callbacks)
        for hook in HOOKS:
            methods = [getattr(cb, hook) for cb in self.callbacks if _overrides(cb, hook)]
            setattr(self, hook, _fan_out(methods))


def _fan_out(methods):
    if not methods:
        return lambda *args: None
    if len(methods) == 1:
        return methods[0]

    def call_all(*args):
        for method in methods:
            method(*args)

    return call_all


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda t, e, logs: ...)``."""

    def __init__(self, **hooks):
        unknown = set(hooks) - set(HOOKS)
        if unknown:
            raise ValueError(f"LambdaCallback: unknown hooks {sorted(unknown)}; valid: {HOOKS}")
        for name, fn in hooks.items():
            setattr(self, name, fn)


# --- learning rate -------------------------------------------------------------------
class LRSchedulerCallback(Callback):
    """Step an lr scheduler after every optimizer step (``interval="step"``) or epoch.

    ``fit(scheduler=...)`` steps its scheduler itself, right after ``optimizer.step()``;
    this callback is for a second schedule, or one that must run after other callbacks
    (e.g. one that edits ``logs``). A scheduler that watches a metric
    (``needs_metric``: ``ReduceLROnPlateau``) is stepped once per epoch with
    ``logs[monitor]`` (the validation loss by default, the training loss when there is
    no validation set).
    """

    state_key = "LRScheduler"  # the name its checkpoints were saved under

    def __init__(self, scheduler, interval: str = "epoch", monitor: str = "val_loss"):
        if interval not in ("step", "epoch"):
            raise ValueError(
                f"LRSchedulerCallback: interval must be 'step' or 'epoch', got {interval!r}"
            )
        self.scheduler = scheduler
        self.monitor = monitor
        self.needs_metric = getattr(scheduler, "needs_metric", False)
        if self.needs_metric:
            interval = "epoch"
        self.interval = interval
        if interval == "step":
            self.on_batch_end = self._step_per_batch
        else:
            self.on_epoch_end = self._step_per_epoch

    def _step_per_batch(self, trainer, step, logs):
        self.scheduler.step()

    def _step_per_epoch(self, trainer, epoch, logs):
        if self.needs_metric:
            value = logs.get(self.monitor)
            if value is None:
                value = logs["train_loss"]
            self.scheduler.step(value)
        else:
            self.scheduler.step()


# --- gradients -----------------------------------------------------------------------
class GradientClipping(Callback):
    """Clip gradients before each optimizer step: by global norm and/or by value.

    ``last_norm`` is the norm before clipping (when ``max_norm`` is set).
    """

    def __init__(self, max_norm: float | None = None, max_value: float | None = None):
        if max_norm is None and max_value is None:
            raise ValueError("GradientClipping: give max_norm, max_value or both")
        self.max_norm, self.max_value = max_norm, max_value
        self.last_norm = None
        self._params = None

    def on_train_begin(self, trainer):
        self._params = list(trainer.model.parameters())

    def on_after_backward(self, trainer):
        if self.max_value is not None:
            clip_grad_value_(self._params, self.max_value)
        if self.max_norm is not None:
            self.last_norm = clip_grad_norm_(self._params, self.max_norm)


class NaNGuard(Callback):
    """Stop as soon as the loss is NaN or infinite, with a message naming where."""

    def on_batch_end(self, trainer, step, logs):
        loss = logs["loss"]
        if not np.isfinite(loss):
            epoch_step = trainer.loader.state_dict()["batches_yielded"]
            trainer.stop_reason = (
                f"loss became {float(loss)} at epoch {trainer.epoch + 1}, step {epoch_step} "
                f"of {len(trainer.loader)} (global step {step + 1}); try a lower learning "
                "rate, --clip-grad-norm, or --detect-anomaly to find the op"
            )
            trainer.stop_training = True


# --- stopping and keeping the best -----------------------------------------------------
def _improved(value, best, mode: str, min_delta: float) -> bool:
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs; with ``restore_best_weights`` the model ends with the best epoch's weights."""

    state_key = "EarlyStopping"

    def __init__(
        self,
        patience: int = 5,
        min_delta: float = 0.0,
        monitor: str = "val_loss",
        mode: str = "min",
        restore_best_weights: bool = True,
    ):
        if patience < 1:
            raise ValueError(f"EarlyStopping: patience must be >= 1, got {patience}")
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}")
        self.patience, self.min_delta = patience, min_delta
        self.monitor, self.mode = monitor, mode
        self.restore_best_weights = restore_best_weights
        self.best = None
        self.best_epoch = None
        self.wait = 0
        self.stopped_epoch = None
        self.best_weights = None

    def on_epoch_end(self, trainer, epoch, logs):
        value = logs.get(self.monitor)
        if value is None:
            raise ValueError(
                f"EarlyStopping: the epoch logs have no {self.monitor!r} "
                "(is there validation data?)"
            )
        if _improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch + 1, 0
            if self.restore_best_weights:
                self.best_weights = trainer.model.state_dict()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch + 1
                trainer.stop_training = True

    def on_train_end(self, trainer):
        if self.restore_best_weights and self.best_weights is not None:
            trainer.model.load_state_dict(self.best_weights)

    def state_dict(self):
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state):
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.wait, self.stopped_epoch = state["wait"], state["stopped_epoch"]
        self.best_weights = state["best_weights"]


# the run folder's checkpoints (chainrule 0.1 named them last.ckpt.npz / best.ckpt.npz)
LAST_CHECKPOINT = "last.safetensors"
BEST_CHECKPOINT = "best.safetensors"


class ModelCheckpoint(Callback):
    """Save the full training state to ``directory/last.safetensors`` after every epoch (and
    every ``every_steps`` optimizer steps), and to ``best.safetensors`` when ``monitor``
    improves. Files are written atomically (see :func:`chainrule.save`)."""

    state_key = "ModelCheckpoint"

    def __init__(
        self,
        directory=None,
        every_steps: int | None = None,
        monitor: str = "val_loss",
        mode: str = "min",
        save_best: bool = True,
    ):
        self.directory = None if directory is None else os.fspath(directory)
        self.every_steps = every_steps
        self.monitor, self.mode, self.save_best = monitor, mode, save_best
        self.best = None
        if every_steps is None:  # nothing to do per step: stay off the hot path
            self.on_batch_end = None

    def on_train_begin(self, trainer):
        if self.directory is None:
            if trainer.run_dir is None:
                raise ValueError("ModelCheckpoint: give a directory or fit(run_dir=...)")
            self.directory = trainer.run_dir
        os.makedirs(self.directory, exist_ok=True)

    @property
    def last_path(self):
        return os.path.join(self.directory, LAST_CHECKPOINT)

    @property
    def best_path(self):
        return os.path.join(self.directory, BEST_CHECKPOINT)

    def on_batch_end(self, trainer, step, logs):
        if trainer.global_step % self.every_steps == 0:
            self._save(trainer, self.last_path)

    def on_epoch_end(self, trainer, epoch, logs):
        value = logs.get(self.monitor)
        if value is None:
            value = logs.get("train_loss")
        best = (
            self.save_best
            and value is not None
            and math.isfinite(value)
            and _improved(value, self.best, self.mode, 0.0)
        )
        if best:
            self.best = value
        state = trainer.state_dict()  # once: both files hold the same state
        if best:
            save(state, self.best_path)
        save(state, self.last_path)

    def _save(self, trainer, path):
        save(trainer.state_dict(), path)

    def state_dict(self):
        return {"best": self.best}

    def load_state_dict(self, state):
        self.best = state["best"]


# --- logs and progress ---------------------------------------------------------------
def _json_safe(value):
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


class MetricsLogger(Callback):
    """Keep ``path`` holding one JSON line per finished epoch (the History entries).

    The file is rewritten atomically after every epoch (it is small), so a run killed at
    any moment leaves whole lines only; on a resumed run it starts from the restored
    history, so it never holds epochs the checkpoint does not.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self._lines = []

    def on_train_begin(self, trainer):
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._lines = [self._line(e) for e in trainer.history]
        self._write()

    @staticmethod
    def _line(logs) -> str:
        return json.dumps({k: _json_safe(v) for k, v in logs.items()}) + "\n"

    def _write(self):
        atomic_write(self.path, "".join(self._lines))

    def on_epoch_end(self, trainer, epoch, logs):
        self._lines.append(self._line(logs))
        self._write()


def _fmt_pct(x):
    return "-" if x is None else f"{100 * x:.2f}%"


def _fmt_loss(x):
    return "-" if x is None else f"{x:.4f}"


def format_epoch(logs: dict, epochs: int) -> str:
    """One line summing up an epoch: losses, accuracies, lr, time and throughput."""
    width = len(str(epochs))
    parts = [
        f"epoch {logs['epoch']:>{width}}/{epochs}",
        f"loss {_fmt_loss(logs.get('train_loss'))}",
    ]
    if logs.get("train_accuracy") is not None:
        parts.append(f"acc {_fmt_pct(logs['train_accuracy'])}")
    if logs.get("val_loss") is not None:
        parts.append(f"val_loss {_fmt_loss(logs['val_loss'])}")
    if logs.get("val_accuracy") is not None:
        parts.append(f"val_acc {_fmt_pct(logs['val_accuracy'])}")
    parts.append(f"lr {logs['lr']:.3g}")
    seconds = logs["seconds"]  # fast epochs (digits: ~40 ms) would all read "0.0s"
    parts.append(f"{seconds:.1f}s" if seconds >= 1 else f"{seconds * 1000:.0f}ms")
    return "  ".join(parts)


class ProgressBar(Callback):
    """Progress per epoch: a tqdm bar (loss, accuracy, examples/s, ETA) when tqdm is
    installed and the output is a terminal; otherwise one line per finished epoch."""

    def __init__(self, epochs: int, stream=None, bar: bool | None = None):
        self.epochs = epochs
        self.stream = stream or sys.stdout
        if bar is None:
            bar = _isatty(sys.stderr) and _has_tqdm()
        self.use_bar = bar
        self._bar = None
        self._shown = 0.0
        if not bar:  # a line per epoch: nothing to do per step
            self.on_batch_end = None
            self.on_epoch_begin = None

    def on_epoch_begin(self, trainer, epoch):
        from tqdm.auto import tqdm  # optional dependency (the progress extra)

        loader = trainer.loader
        done = loader.state_dict()["batches_yielded"]  # > 0 when resumed mid-epoch
        self._bar = tqdm(
            total=len(loader),
            initial=done,
            unit="batch",
            leave=True,
            desc=f"epoch {epoch + 1}/{self.epochs}",
            dynamic_ncols=True,
        )
        self._start, self._seen = time.perf_counter(), 0

    def on_batch_end(self, trainer, step, logs):
        self._bar.update(1)
        self._seen += logs["size"]
        now = time.perf_counter()
        if now - self._shown > 0.25:  # refreshing the text costs; a few times a second
            self._shown = now
            loss_n, correct, n, _ = trainer.sums
            post = {"loss": f"{loss_n / n:.4f}"}
            if trainer._classify():
                post["acc"] = f"{100 * correct / n:.1f}%"
            post["ex/s"] = f"{self._seen / max(now - self._start, 1e-9):,.0f}"
            self._bar.set_postfix(post, refresh=False)

    def on_epoch_end(self, trainer, epoch, logs):
        if self._bar is None:
            print(format_epoch(logs, self.epochs), file=self.stream, flush=True)
            return
        post = {"loss": _fmt_loss(logs.get("train_loss"))}
        if logs.get("train_accuracy") is not None:
            post["acc"] = _fmt_pct(logs["train_accuracy"])
        if logs.get("val_loss") is not None:
            post["val_loss"] = _fmt_loss(logs["val_loss"])
        if logs.get("val_accuracy") is not None:
            post["val_acc"] = _fmt_pct(logs["val_accuracy"])
        post["ex/s"] = f"{self._seen / max(time.perf_counter() - self._start, 1e-9):,.0f}"
        self._bar.set_postfix(post, refresh=True)
        self._bar.close()
        self._bar = None

    def on_train_end(self, trainer):
        if self._bar is not None:  # stopped mid-epoch
            self._bar.close()
            self._bar = None


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _has_tqdm() -> bool:
    try:  # optional dependency (the progress extra)
        import tqdm  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True
