"""The sweep driver: ask the strategy for points, keep the executor's slots full, record
each trial the moment it ends, and pick up where a killed run stopped.

Resuming needs nothing but the folder: the records say which trial ids are finished
(ids hash the trial's options, the sweep seed and its index, so grid and random sweeps
regenerate the same ids); those are skipped, the pruner's rungs are refilled from their
per-epoch histories, and TPE's study is re-told their results.

Failed and timed-out trials are kept as they are on a rerun (a configuration that
diverges fails again, and a rerun of a whole sweep should cost nothing); ``retry_failed``
runs them again. The rerun says how many trials finished and how many failed.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

from chainrule.sweep.executors import make_executor
from chainrule.sweep.progress import Progress
from chainrule.sweep.spec import SweepSpec
from chainrule.sweep.store import FAILED, FINAL, FINISHED, ResultStore
from chainrule.sweep.strategies import make_strategy
from chainrule.sweep.trial import trial_id


@dataclass
class SweepResult:
    """The records of a sweep folder, ranked."""

    spec_tables: dict
    folder: str
    records: list  # in the order trials finished
    metric: str
    mode: str

    def ranked(self) -> list[dict]:
        """Completed trials best first, then pruned ones (by the metric they reached),
        then failed ones (by index). Ties go to the lower validation loss."""
        sign = -1.0 if self.mode == "max" else 1.0

        def key(r):
            group = {"completed": 0, "pruned": 1}.get(r["status"], 2)
            value = r.get("metric")
            main = sign * value if value is not None and group < 2 else 0.0
            # accuracy on a small validation set ties often: the lower loss breaks ties
            loss = r.get("metrics", {}).get("val_loss")
            tie = loss if loss is not None and self.metric != "val_loss" else 0.0
            return (group, main, tie, r["index"])

        return sorted(self.records, key=key)

    @property
    def all_failed(self) -> bool:
        """True when there are trials and none of them has a result (completed or pruned)."""
        return bool(self.records) and not any(r["status"] in FINAL for r in self.records)

    def _repr_mimebundle_(self, include=None, exclude=None):
        # late-bound: chainrule.display sits above this layer (DESIGN.md), so it is
        # imported on the first notebook display, never when this module is imported
        from chainrule.display import mimebundle

        return mimebundle(self, include, exclude)

    @property
    def best(self) -> dict | None:
        ranked = self.ranked()
        return ranked[0] if ranked and ranked[0]["status"] == "completed" else None


def load_results(folder) -> SweepResult:
    """The :class:`SweepResult` of an existing sweep folder (no trial is run)."""
    store = ResultStore(folder)
    meta = store.meta()
    sweep = meta["spec"]["sweep"]
    return SweepResult(
        meta["spec"], str(folder), list(store.records().values()), sweep["metric"], sweep["mode"]
    )


def run_sweep(
    spec: SweepSpec,
    out,
    *,
    executor: str | None = None,
    address: str | None = None,
    workers: int | None = None,
    threads: int | None = None,
    trials: int | None = None,
    trial_timeout: float | None = None,
    retry_failed: bool = False,
    progress: Progress | None = None,
    log=print,
) -> SweepResult:
    """Run (or resume) ``spec`` into folder ``out``; returns the :class:`SweepResult`.

    ``executor``, ``address``, ``workers``, ``threads``, ``trials`` and ``trial_timeout``
    (seconds per trial; a trial still running then is stopped and recorded with status
    ``timeout``) override the spec's own values. ``retry_failed`` runs failed and
    timed-out trials again. ``log(str)`` gets a few lines (where the trials run);
    ``progress`` gets every event (a default one prints to stderr).
    """
    check_run_options(workers=workers, threads=threads, trials=trials, trial_timeout=trial_timeout)
    if trials is not None:
        spec = dataclasses.replace(spec, trials=trials)
    if trial_timeout is None:
        trial_timeout = spec.trial_timeout
    # an address only means something to Ray: giving one asks for the Ray executor
    kind = executor or ("ray" if address else spec.executor)
    store = ResultStore(out)
    store.check(spec.fingerprint())  # before starting anything; the folder comes later
    records = store.records()
    total = spec.n_trials

    def is_done(record):
        return record["status"] in FINISHED and not (retry_failed and record["status"] in FAILED)

    done = {r["id"]: r for r in records.values() if is_done(r)}
    retried = [r for r in records.values() if r["index"] < total and not is_done(r)]
    done_index = {r["index"] for r in done.values()}
    strategy = make_strategy(spec, finished=list(done.values()))
    watch = spec.prune_metric
    if progress is None:
        progress = Progress(total, spec.metric, spec.mode)
    progress.resumed([r for r in done.values() if r["index"] < total], retried=len(retried))

    with make_executor(
        kind,
        address or spec.address,
        workers or spec.workers,
        threads or spec.threads,
        trial_timeout,
    ) as pool:
        store.open(spec.to_dict(), spec.fingerprint())  # the executor is up: commit to it
        if log:
            log(f"sweep: {total} trials ({spec.strategy}) into {out}; {pool.describe()}")
        pruner = None
        if spec.pruning is not None:
            rungs = spec.pruning.rungs(spec.max_epochs())
            pruner = pool.make_pruner(rungs, spec.pruning.eta, spec.prune_mode)
            for record in done.values():
                curve = [row.get(watch) for row in record.get("history", [])]
                if any(v is not None for v in curve):
                    pruner.replay(record["id"], curve)

        pending = iter(range(total))
        running: dict = {}
        try:
            while True:
                while len(running) < pool.slots:
                    task = _next_task(spec, strategy, pending, done, done_index, watch)
                    if task is None:
                        break
                    running[pool.submit(task, pruner)] = task
                    progress.started(task["index"])
                if not running:
                    break
                for handle, record in pool.wait(running, timeout=0.5):
                    task = running.pop(handle)
                    record.update(watch=watch, ended=time.time(), executor=pool.name)
                    if not store.append(record):  # durable before anything else happens
                        progress.discarded()  # the trial already had a final record
                        continue
                    strategy.tell(task["index"], record)
                    records[record["id"]] = record
                    progress.finished(record)
                progress.tick()
        finally:
            progress.close()
    return SweepResult(spec.to_dict(), str(out), list(records.values()), spec.metric, spec.mode)


def check_run_options(**options) -> None:
    """ValueError naming the first option that is not a positive number (None: unset)."""
    for name, value in options.items():
        if value is None:
            continue
        integer = name != "trial_timeout"
        kind = int if integer else (int, float)
        good = isinstance(value, kind) and not isinstance(value, bool)
        if good and not integer:
            good = math.isfinite(value)
        if not good or value <= 0:
            what = "a positive integer" if integer else "a positive number of seconds"
            raise ValueError(f"{name} must be {what}, got {value!r}")


def _next_task(spec, strategy, pending, done, done_index, watch):
    """The next trial that still has to run, or None when there is none."""
    for index in pending:
        if spec.strategy == "tpe" and index in done_index:
            continue  # TPE points depend on history: the index is the identity
        point = strategy.ask(index)
        params = spec.search.config(point)
        config = {**spec.base, **params}
        tid = trial_id(config, spec.seed, index)
        if tid in done:
            continue
        return {
            "id": tid,
            "index": index,
            "point": point,
            "params": params,
            "config": config,
            "objective": spec.objective,
            "metric": spec.metric,
            "prune_metric": watch,
        }
    return None
