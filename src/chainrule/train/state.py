"""``FitState``: what callbacks see, and everything a checkpoint must hold to resume exactly.

A run is exactly reproducible from: the weights, the optimizer's buffers, the scheduler's
position, chainrule's global generator (initialization, dropout), the DataLoader's
generator and position in the epoch, the epoch's metric sums so far, the history, and the
state of stateful callbacks (early stopping's best weights). ``state_dict()`` gathers all
of it; ``load_state_dict()`` checks all of it against this trainer before changing
anything, so a checkpoint that does not fit leaves the model untouched.
"""

from __future__ import annotations

import numpy as np

from chainrule import backend
from chainrule.train.callbacks import LRSchedulerCallback
from chainrule.train.history import History

STATE_FORMAT = "chainrule-training-state"


class FitState:
    """The state of one ``fit`` call, handed to every callback (it holds state; ``fit``
    does the training).

    Attributes:
        model, optimizer, loss_fn, loader: what is being trained and on what.
        history: a :class:`History` of the finished epochs.
        epoch: the epoch in progress (0-based; equals the number of finished epochs).
        global_step: optimizer steps taken so far in the whole run.
        run_dir: the run folder (a ``str``) or None.
        stop_training: set True to stop after the current step (mid-epoch) or epoch.
        stop_reason: a message for the user when a callback stopped the run, or None.
        last_batch: ``(x, y)`` NumPy arrays of the current step's batch.
        last_loss: the current step's data loss (a scalar Tensor, graph attached).
        scheduler: the lr scheduler ``fit`` steps (or an ``LRSchedulerCallback`` among the
            callbacks drives), or None.
        extra: JSON-able facts saved with every checkpoint (config, data statistics).
    """

    def __init__(
        self,
        model,
        optimizer,
        loss_fn,
        loader,
        callbacks=(),
        run_dir=None,
        extra=None,
        scheduler=None,
    ):
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.loader = loader
        self.callbacks = list(callbacks)
        self.run_dir = None if run_dir is None else str(run_dir)
        self.extra = dict(extra or {})
        self.history = History()
        self.epoch = 0
        self.global_step = 0
        self.stop_training = False
        self.stop_reason = None
        self.last_batch = None
        self.last_loss = None
        # the lr scheduler whose position goes into checkpoints: fit's own, or the one a
        # user's LRSchedulerCallback drives
        if scheduler is None:
            scheduler = next(
                (cb.scheduler for cb in self.callbacks if isinstance(cb, LRSchedulerCallback)),
                None,
            )
        self.scheduler = scheduler
        self.resumed = False
        # this epoch so far: [Σ loss·n, correct predictions, examples, seconds] (float64)
        self.sums = np.zeros(4)

    @property
    def lr(self) -> float:
        """The learning rate of the first parameter group."""
        return float(self.optimizer.param_groups[0]["lr"])

    def epoch_metrics(self) -> dict:
        """Mean training loss and accuracy of the epoch so far."""
        loss_n, correct, n, _ = self.sums
        classify = self._classify()
        return {
            "train_loss": float(loss_n / n) if n else None,
            "train_accuracy": float(correct / n) if n and classify else None,
        }

    def _classify(self) -> bool:
        """Whether the targets are class indices (accuracy makes sense)."""
        y = getattr(self.loader.dataset, "y", None)
        if y is None and self.last_batch is not None:
            y = self.last_batch[1]
        return y is None or np.asarray(y).dtype.kind in "iu"

    def end_epoch(self) -> None:
        self.epoch += 1
        self.sums = np.zeros(4)

    # --- checkpoints -------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue this run bit for bit (see the module docstring)."""
        return {
            "format": STATE_FORMAT,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "rng": {"chainrule": backend.get_rng_state(), "loader": self.loader.state_dict()},
            "epoch": self.epoch,
            "global_step": self.global_step,
            "sums": self.sums.copy(),
            "history": self.history.to_list(),
            "callbacks": {
                _key(cb): cb.state_dict() for cb in self.callbacks if hasattr(cb, "state_dict")
            },
            "extra": self.extra,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state``: raises ValueError naming the first mismatch (another
        architecture, optimizer or batch size) before anything is changed."""
        check_training_state(state, self.model, self.optimizer)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        backend.set_rng_state(state["rng"]["chainrule"])
        self.loader.load_state_dict(state["rng"]["loader"])
        self.epoch = int(state["epoch"])
        self.global_step = int(state["global_step"])
        self.sums = np.array(state["sums"], dtype=np.float64)
        self.history = History(state["history"])
        saved = state.get("callbacks", {})
        for cb in self.callbacks:
            if hasattr(cb, "load_state_dict") and _key(cb) in saved:
                cb.load_state_dict(saved[_key(cb)])
        self.resumed = True


def _key(callback) -> str:
    """Where a callback's state is saved in a checkpoint (``state_key``, by default its
    class name, so saved names stay stable when a callback class is renamed)."""
    return getattr(callback, "state_key", type(callback).__name__)


def check_training_state(state, model, optimizer) -> None:
    """Raise ValueError unless ``state`` is a complete training state that fits ``model``
    and ``optimizer`` (same parameter names, shapes and optimizer layout)."""
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ValueError("not a training-state checkpoint (use cr.load for plain state_dicts)")
    required = ("model", "optimizer", "rng", "epoch", "global_step", "sums", "history")
    missing = [k for k in required if k not in state]
    if missing:
        raise ValueError(f"training state lacks {', '.join(missing)}")
    check_model_state(state["model"], model)
    saved = state["optimizer"]
    groups = saved.get("param_groups", [])
    sizes = [len(g["params"]) for g in groups]
    own = [len(g["params"]) for g in optimizer.param_groups]
    if sizes != own:
        raise ValueError(
            f"optimizer mismatch: checkpoint has parameter groups of sizes {sizes}, "
            f"this optimizer {own}"
        )
    params = [p for g in optimizer.param_groups for p in g["params"]]
    for index, entry in saved.get("state", {}).items():
        p = params[int(index)]
        for name, value in entry.items():
            if hasattr(value, "shape") and value.shape not in ((), p.shape):
                raise ValueError(
                    f"optimizer mismatch: state {name!r} of parameter {index} has shape "
                    f"{tuple(value.shape)}, the parameter {tuple(p.shape)}"
                )


def check_model_state(saved: dict, model) -> None:
    """Raise ValueError naming every parameter whose name or shape differs."""
    own = model.state_dict()
    problems = []
    for name, value in own.items():
        if name not in saved:
            problems.append(f"{name} missing from the checkpoint")
        elif tuple(np.shape(saved[name])) != tuple(value.shape):
            problems.append(
                f"{name} has shape {tuple(np.shape(saved[name]))} in the checkpoint "
                f"but {tuple(value.shape)} in the model"
            )
    problems += [f"unexpected {name} in the checkpoint" for name in saved if name not in own]
    if problems:
        raise ValueError(
            "checkpoint does not fit the model (different architecture): "
            + "; ".join(problems[:4])
            + (" ..." if len(problems) > 4 else "")
        )
