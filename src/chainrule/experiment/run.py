"""``run_training(config) -> results``: one training run from a :class:`TrainConfig`.

This is what ``chainrule train`` does and what the sweep runner calls per trial: load and
split the data, standardize it, build the MLP, the loss, the optimizer and the schedule,
assemble the callbacks, ``fit``, evaluate on the test split, and write the run folder::

    config.toml      the full resolved configuration (rerun with --config config.toml)
    metrics.jsonl    one line per epoch
    metrics.json     the final results (test_accuracy, test_loss, train_loss, epochs, ...)
    last.ckpt.npz    full training state after the last epoch (or step, --checkpoint-every)
    best.ckpt.npz    the same at the epoch with the best validation loss
    loss.png, accuracy.png   learning curves (when matplotlib is installed)
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass

import numpy as np

from chainrule import backend
from chainrule.train.config import TrainConfig, to_toml


@dataclass
class PreparedData:
    """Arrays ready for the model (standardized, cast) plus what a checkpoint must remember
    to prepare new inputs the same way (``state``)."""

    train: tuple
    val: tuple | None
    test: tuple
    n_features: int
    n_outputs: int
    task: str
    classes: list | None
    state: dict  # {"standardizer": {...} | None, "n_features", "n_outputs", "task", ...}


def _dtype(config: TrainConfig):
    return np.dtype(config.dtype)


def load_splits(config: TrainConfig):
    from chainrule.data import load_dataset

    return load_dataset(config.data, data_dir=config.data_dir)


def prepare_data(config: TrainConfig, splits=None) -> PreparedData:
    """Split off validation rows, standardize with training statistics, cast to dtype."""
    from chainrule.data import Standardizer, train_val_split

    splits = load_splits(config) if splits is None else splits
    classify = splits.task == "classification"
    X, y = splits.X_train, splits.y_train
    if config.val_split > 0:
        X, X_val, y, y_val = train_val_split(
            X, y, config.val_split, rng=config.seed, stratify=classify
        )
    standardizer = Standardizer().fit(X) if config.standardize else None
    dtype = _dtype(config)

    def ready(features):
        features = standardizer.transform(features) if standardizer else features
        return np.ascontiguousarray(features, dtype=dtype)

    def targets(t):
        return t if classify else np.asarray(t, dtype=dtype)

    val = (ready(X_val), targets(y_val)) if config.val_split > 0 else None
    state = {
        "data": splits.name,
        "task": splits.task,
        "n_features": int(splits.n_features),
        "n_outputs": int(splits.n_outputs),
        "classes": None if splits.classes is None else [_plain(c) for c in splits.classes],
        "standardizer": standardizer.state_dict() if standardizer else None,
    }
    return PreparedData(
        train=(ready(X), targets(y)),
        val=val,
        test=(ready(splits.X_test), targets(splits.y_test)),
        n_features=int(splits.n_features),
        n_outputs=int(splits.n_outputs),
        task=splits.task,
        classes=state["classes"],
        state=state,
    )


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def prepare_inputs(X, data_state: dict, dtype) -> np.ndarray:
    """New feature rows prepared as the training rows were (for evaluate/predict)."""
    from chainrule.data import Standardizer
    from chainrule.data.dataset import check_finite

    X = np.asarray(X)
    n = data_state["n_features"]
    if X.ndim != 2 or X.shape[1] != n:
        raise ValueError(f"expected inputs with {n} features, got shape {X.shape}")
    check_finite(X, "inputs")
    if data_state.get("standardizer"):
        standardizer = Standardizer()
        standardizer.load_state_dict(data_state["standardizer"])
        X = standardizer.transform(X)
    return np.ascontiguousarray(X, dtype=dtype)


def check_targets(y, n_outputs: int, task: str, what: str) -> None:
    """Class labels must index the model's outputs: 0 <= y < n_outputs."""
    if task != "classification" or len(y) == 0:
        return
    lo, hi = int(np.min(y)), int(np.max(y))
    if lo < 0 or hi >= n_outputs:
        bad = int(np.flatnonzero((y < 0) | (y >= n_outputs))[0])
        raise ValueError(
            f"{what}: label {int(y[bad])} at row {bad} is out of range for a model with "
            f"{n_outputs} outputs (labels must be 0..{n_outputs - 1})"
        )


# --- model, loss, optimizer, schedule ---------------------------------------------------
def build_model(config: TrainConfig, n_features: int, n_outputs: int):
    """The MLP ``n_features → layers... → n_outputs`` in the config's dtype."""
    from chainrule import nn

    sizes = [n_features, *config.layers, n_outputs]
    model = nn.MLP(sizes, activation=config.activation, init=config.init, dropout=config.dropout)
    return model.astype(_dtype(config))


def build_loss(config: TrainConfig, task: str, n_outputs: int):
    """``loss_fn(outputs, targets)``; for classification the targets are class indices."""
    from chainrule.nn import functional as F

    if task == "classification":
        if config.loss == "cross-entropy":
            return F.cross_entropy
        eye = None

        def mse_on_probabilities(logits, labels):
            nonlocal eye  # one-hot rows cut from a cached identity: no per-step allocation
            if eye is None or eye.dtype != logits.dtype:
                eye = np.eye(n_outputs, dtype=logits.dtype)
            return F.mse_loss(F.softmax(logits, dim=-1), eye[labels])

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
    from chainrule import nn

    l2, l1 = config.l2, config.l1
    if l2 and l1:
        return lambda model: nn.l2_penalty(model, l2) + nn.l1_penalty(model, l1)
    if l2:
        return lambda model: nn.l2_penalty(model, l2)
    if l1:
        return lambda model: nn.l1_penalty(model, l1)
    return None


def build_optimizer(config: TrainConfig, model):
    from chainrule import nn, optim

    # weight decay on the weight matrices only (biases do not scale inputs), as in the lecture
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
    from chainrule.optim import lr_scheduler as S

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


# --- the run ----------------------------------------------------------------------------
def _default_out(config: TrainConfig) -> str:
    name = os.path.splitext(os.path.basename(str(config.data)))[0].replace(".csv", "")
    return os.path.join("runs", f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")


def build_callbacks(config: TrainConfig, run_dir, extra_callbacks=(), log=None):
    """The callbacks a config asks for, in the order that keeps checkpoints consistent:
    clipping, NaN guard, early stopping, the caller's, logs and progress, checkpoints last
    (so a checkpoint holds every other callback's state after the same epoch/step)."""
    from chainrule.train import callbacks as C

    cbs = []
    if config.clip_grad_norm is not None or config.clip_grad_value is not None:
        cbs.append(C.GradientClipping(config.clip_grad_norm, config.clip_grad_value))
    if config.monitor:
        monitor = _gradient_flow_monitor(config.monitor, log)
        if monitor is not None:
            cbs.append(monitor)
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


def _gradient_flow_monitor(every: int, log):
    try:
        from chainrule.diagnostics.monitor import GradientFlowMonitor
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith("chainrule.diagnostics"):
            raise
        if log:
            log("note: --monitor skipped: chainrule.diagnostics.monitor is not available")
        return None
    return GradientFlowMonitor(every=every)


def _anomaly_mode(enabled: bool, log):
    if not enabled:
        return contextlib.nullcontext()
    try:
        from chainrule.diagnostics import detect_anomaly
    except (ModuleNotFoundError, ImportError):
        if log:
            log("note: --detect-anomaly skipped: chainrule.diagnostics is not available")
        return contextlib.nullcontext()
    return detect_anomaly()


@contextlib.contextmanager
def thread_limit(threads, log):
    """Run with ``threads`` BLAS threads (via threadpoolctl) and optimizer threads (0: as
    the libraries decide, usually one per core).

    Why: a multi-threaded BLAS on small matrices, or on a machine whose cores are busy
    with other work, spends its time waiting for its own threads (measured on a loaded
    2-core machine: 3.4 s with one thread against 147 s with two for the default digits
    run). The results are the same either way.
    """
    if not threads:
        yield
        return
    from chainrule import optim

    before = optim.get_num_threads()
    if before != threads:  # setting it restarts the optimizer's thread pool
        optim.set_num_threads(threads)
    try:
        try:
            from threadpoolctl import threadpool_limits
        except ModuleNotFoundError:
            if log:
                log(
                    "note: --threads limits only the optimizer; install threadpoolctl to "
                    "limit BLAS too"
                )
            yield
            return
        with threadpool_limits(limits=threads, user_api="blas"):
            yield
    finally:
        if optim.get_num_threads() != before:
            optim.set_num_threads(before)


def run_training(
    config: TrainConfig,
    callbacks=(),
    *,
    splits=None,
    resume=None,
    log=None,
) -> dict:
    """Train as ``config`` says and return the results (also written to ``metrics.json``).

    Args:
        config: a validated :class:`TrainConfig`. ``config.out`` is the run folder; None
            writes no files at all (what a sweep trial may want).
        callbacks: extra callbacks, called after the built-in ones each epoch (a sweep
            reports ``logs["val_loss"]`` from ``on_epoch_end`` and may set
            ``trainer.stop_training`` to prune).
        splits: a ``chainrule.data.Splits`` to use instead of loading ``config.data``
            (sweeps load the data once).
        resume: a checkpoint path (or a state loaded with ``cr.load``) to continue from.
        log: ``log(str)`` for notes (e.g. a skipped optional feature), or None.

    Returns a dict with ``test_loss, test_accuracy, train_loss, train_accuracy, val_loss,
    val_accuracy, best_val_loss, best_epoch, epochs, steps, seconds, stopped_early,
    stop_reason, n_parameters, run_dir, history``.
    """
    from chainrule.checkpoint import atomic_write, load
    from chainrule.train.loop import evaluate, fit

    wall = time.perf_counter()
    config.validate()
    state = None
    if resume is not None:
        state = load(resume) if isinstance(resume, (str, os.PathLike)) else resume
    data = prepare_data(config, splits)
    check_targets(data.train[1], data.n_outputs, data.task, "training data")
    check_targets(data.test[1], data.n_outputs, data.task, "test data")

    backend.manual_seed(config.seed)  # initialization and dropout draw from here
    model = build_model(config, data.n_features, data.n_outputs)
    loss_fn = build_loss(config, data.task, data.n_outputs)
    optimizer = build_optimizer(config, model)
    from chainrule.data import ArrayDataset, DataLoader

    loader = DataLoader(
        ArrayDataset(*data.train), batch_size=config.batch_size, shuffle=True, rng=config.seed
    )
    scheduler, interval = build_scheduler(config, optimizer, len(loader))
    if state is not None:  # refuse a checkpoint of another model before anything is written
        from chainrule.train.state import check_training_state

        where = resume if isinstance(resume, (str, os.PathLike)) else "checkpoint"
        try:
            check_training_state(state, model, optimizer)
            _check_schedule_length(state, config)
        except ValueError as e:
            raise ValueError(f"cannot resume from {where}: {e}") from None

    run_dir = config.out
    if run_dir is not None:
        os.makedirs(run_dir, exist_ok=True)
        atomic_write(
            os.path.join(run_dir, "config.toml"),
            lambda f: f.write(to_toml(resolved(config)).encode()),
        )
    cbs = build_callbacks(config, run_dir, callbacks, log)
    extra = {"config": resolved(config).to_dict(), "data": data.state}

    with thread_limit(config.threads, log), _anomaly_mode(config.detect_anomaly, log):
        history = fit(
            model,
            loss_fn,
            optimizer,
            loader,
            config.epochs,
            val_data=data.val,
            callbacks=cbs,
            scheduler=scheduler,
            scheduler_interval=interval,
            penalty=build_penalty(config),
            run_dir=run_dir,
            resume=state,
            extra_state=extra,
        )
    test = evaluate(model, loss_fn, data.test) if len(data.test[1]) else {}
    results = summarize(config, history, test, model, cbs)
    results["seconds_total"] = time.perf_counter() - wall
    results["run_dir"] = run_dir
    if run_dir is not None:
        payload = {k: v for k, v in results.items() if k != "history"}
        atomic_write(
            os.path.join(run_dir, "metrics.json"),
            lambda f: f.write(json.dumps(payload, indent=2).encode()),
        )
        if config.plots:
            from chainrule.train.plots import save_curves

            note = save_curves(history, run_dir)
            if note and log:
                log(note)
    results["history"] = history.to_list()
    return results


def _check_schedule_length(state: dict, config: TrainConfig) -> None:
    """A schedule planned over the whole run cannot be stretched half way through."""
    saved = (state.get("extra") or {}).get("config") or {}
    if config.schedule in ("cosine", "onecycle") and saved.get("epochs") not in (
        None,
        config.epochs,
    ):
        raise ValueError(
            f"its {config.schedule} schedule was planned for {saved['epochs']} epochs, not "
            f"{config.epochs}; to train longer start a new run (e.g. --config "
            "RUN/config.toml --epochs N --out NEW)"
        )


def resolved(config: TrainConfig) -> TrainConfig:
    """The config with defaults that depend on other options filled in (the lr)."""
    from dataclasses import replace

    return replace(config, lr=config.resolved_lr())


def summarize(config, history, test: dict, model, callbacks) -> dict:
    """The final numbers of a run, JSON-ready."""
    last = history.last or {}
    best = history.best("val_loss")
    stopper = next((cb for cb in callbacks if type(cb).__name__ == "EarlyStopping"), None)
    return {
        "data": config.data,
        "test_loss": test.get("loss"),
        "test_accuracy": test.get("accuracy"),
        "train_loss": last.get("train_loss"),
        "train_accuracy": last.get("train_accuracy"),
        "val_loss": last.get("val_loss"),
        "val_accuracy": last.get("val_accuracy"),
        "best_val_loss": None if best is None else best["val_loss"],
        "best_epoch": None if best is None else best["epoch"],
        "epochs": len(history),
        "steps": last.get("step", 0),
        "seconds": float(sum(e["seconds"] for e in history)),
        "stopped_early": bool(stopper is not None and stopper.stopped_epoch is not None),
        "stop_reason": history.stop_reason,
        "n_parameters": int(sum(p.size for p in model.parameters())),
    }
