"""The default sweep objective: one ``chainrule train`` run per trial.

``train(config, report)`` builds a :class:`~chainrule.experiment.config.TrainConfig` from the
trial's options, runs :func:`~chainrule.experiment.run_training` quietly (no plots, no run
folder) with a callback that reports every epoch's metrics and stops the run when the
pruner says so, and returns the final numbers. A run that NaNGuard stopped (the loss
turned NaN or infinite) raises, so the trial is recorded as failed with that message.
"""

from __future__ import annotations

_SPLITS: dict = {}  # data loaded once per worker process, reused by its later trials


def train(config: dict, report) -> dict:
    from chainrule.experiment import TrainConfig, run_training
    from chainrule.train import Callback

    cfg = TrainConfig.from_dict({**config, "quiet": True, "plots": False}, source="trial")

    class Report(Callback):
        pruned = False

        def on_epoch_end(self, trainer, epoch, logs):
            if report(epoch + 1, logs):
                self.pruned = True
                trainer.stop_training = True

    reporter = Report()
    results = run_training(cfg, callbacks=[reporter], splits=_splits(cfg))
    if results.get("stop_reason") and not reporter.pruned:  # e.g. NaNGuard: a failed trial
        raise FloatingPointError(results["stop_reason"])
    return {k: v for k, v in results.items() if k not in ("history", "run_dir")}


def _splits(cfg):
    key = (cfg.data, cfg.data_dir)
    if key not in _SPLITS:
        from chainrule.experiment.run import load_splits

        _SPLITS.clear()  # keep one data set in memory per worker
        _SPLITS[key] = load_splits(cfg)
    return _SPLITS[key]
