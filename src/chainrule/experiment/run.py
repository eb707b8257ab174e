"""``run_training(config) -> results``: one training run from a :class:`TrainConfig`.

This is what ``chainrule train`` does and what the sweep runner calls per trial: load and
split the data, standardize it, build the MLP, the loss, the optimizer and the schedule,
assemble the callbacks, ``fit``, evaluate on the test split, and write the run folder
(see :mod:`chainrule.experiment.run_folder` for its files).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import replace

import numpy as np

from chainrule import backend, optim
from chainrule.data import ArrayDataset, DataLoader, load_dataset
from chainrule.data.prepare import PreparedData, prepare_data
from chainrule.diagnostics.anomaly import detect_anomaly
from chainrule.experiment.config import TrainConfig
from chainrule.experiment.run_folder import (
    check_run_folder,
    check_schedule_length,
    start_run_folder,
    write_results,
)
from chainrule.experiment.wiring import (
    build_callbacks,
    build_loss,
    build_model,
    build_optimizer,
    build_penalty,
    build_scheduler,
    check_targets,
)
from chainrule.interop.checkpoint import load
from chainrule.train.callbacks import EarlyStopping
from chainrule.train.loop import evaluate, fit
from chainrule.train.plots import save_curves
from chainrule.train.state import check_training_state


def load_splits(config: TrainConfig):
    """The data set ``config.data`` names, as train/test ``Splits`` (split by the data
    set's own rule unless ``test_fraction`` is set)."""
    if config.test_fraction is None:
        return load_dataset(config.data, data_dir=config.data_dir)
    return load_dataset(config.data, data_dir=config.data_dir, test_fraction=config.test_fraction)


def prepare_run_data(config: TrainConfig, splits=None) -> PreparedData:
    """The config's data set (or ``splits``), split, standardized and cast as it says."""
    splits = load_splits(config) if splits is None else splits
    return prepare_data(
        splits,
        val_split=config.val_split,
        standardize=config.standardize,
        seed=config.seed,
        dtype=config.dtype,
    )


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
    before = optim.get_num_threads()
    if before != threads:  # setting it restarts the optimizer's thread pool
        optim.set_num_threads(threads)
    try:
        try:  # optional dependency (the bench/cli extras)
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
    on_start=None,
) -> dict:
    """Train as ``config`` says and return the results (also written to ``metrics.json``).

    Args:
        config: a validated :class:`TrainConfig`. ``config.out`` is the run folder; None
            writes no files at all (what a sweep trial may want).
        callbacks: extra callbacks, called after the built-in ones each epoch (a sweep
            reports ``logs["val_loss"]`` from ``on_epoch_end`` and may set
            ``state.stop_training`` to prune).
        splits: a ``chainrule.data.Splits`` to use instead of loading ``config.data``
            (sweeps load the data once).
        resume: a checkpoint path (or a state loaded with ``cr.load``) to continue from.
        log: ``log(str)`` for notes (e.g. a skipped optional feature), or None.
        on_start: ``on_start(data)`` called once everything is in place — data read and
            checked, model built, run folder made — right before training starts
            (``data`` is the :class:`~chainrule.data.prepare.PreparedData`). The command
            line announces the run here, so a run that never starts is never announced.

    Returns a dict with ``test_loss, test_accuracy, train_loss, train_accuracy, val_loss,
    val_accuracy, best_val_loss, best_epoch, epochs, steps, seconds, stopped_early,
    stop_reason, n_parameters, run_dir, history``.
    """
    wall = time.perf_counter()
    config.validate()
    if config.out is not None:  # before the data is read: a wrong --out fails at once
        check_run_folder(config.out, resuming=resume is not None)
    state = None
    if resume is not None:
        state = load(resume) if isinstance(resume, (str, os.PathLike)) else resume
    data = prepare_run_data(config, splits)
    check_targets(data.train[1], data.n_outputs, data.task, "training data")
    check_targets(data.test[1], data.n_outputs, data.task, "test data")

    backend.manual_seed(config.seed)  # initialization and dropout draw from here
    model = build_model(config, data.n_features, data.n_outputs)
    loss_fn = build_loss(config, data.task, data.n_outputs)
    optimizer = build_optimizer(config, model)
    loader = DataLoader(
        ArrayDataset(*data.train), batch_size=config.batch_size, shuffle=True, rng=config.seed
    )
    scheduler, interval = build_scheduler(config, optimizer, len(loader))
    if state is not None:  # refuse a checkpoint of another model before anything is written
        where = resume if isinstance(resume, (str, os.PathLike)) else "checkpoint"
        try:
            check_training_state(state, model, optimizer)
            check_schedule_length(state, config)
        except ValueError as e:
            raise ValueError(f"cannot resume from {where}: {e}") from None

    run_dir = config.out
    if run_dir is not None:
        start_run_folder(run_dir, resolved(config))
    cbs = build_callbacks(config, run_dir, callbacks)
    if on_start is not None:
        on_start(data)
    extra = {"config": resolved(config).to_dict(), "data": data.state}

    anomaly = detect_anomaly() if config.detect_anomaly else contextlib.nullcontext()
    # A run that diverges is stopped and reported by the NaN guard (stop_reason, exit 1);
    # NumPy's overflow/invalid-value warnings on the way there would only be noise.
    quiet_fp = np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")
    with thread_limit(config.threads, log), anomaly, quiet_fp:
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
            compile=config.compile,
        )
        test = evaluate(model, loss_fn, data.test) if len(data.test[1]) else {}
    results = summarize(config, history, test, model, cbs)
    results["seconds_total"] = time.perf_counter() - wall
    results["run_dir"] = run_dir
    if run_dir is not None:
        write_results(run_dir, results)
        if config.plots:
            note = save_curves(history, run_dir)
            if note and log:
                log(note)
    results["history"] = history.to_list()
    return results


def resolved(config: TrainConfig) -> TrainConfig:
    """The config with defaults that depend on other options filled in (the lr)."""
    return replace(config, lr=config.resolved_lr())


def summarize(config, history, test: dict, model, callbacks) -> dict:
    """The final numbers of a run, JSON-ready."""
    last = history.last or {}
    best = history.best("val_loss")
    stopper = next((cb for cb in callbacks if isinstance(cb, EarlyStopping)), None)
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
        "epochs": history.epochs_run,  # an epoch the run stopped in counts
        "epochs_completed": len(history),
        "steps": history.steps,
        "seconds": history.seconds,
        "stopped_early": bool(stopper is not None and stopper.stopped_epoch is not None),
        "stop_reason": history.stop_reason,
        "n_parameters": int(sum(p.size for p in model.parameters())),
    }


__all__ = ["load_splits", "prepare_run_data", "resolved", "run_training", "summarize"]
