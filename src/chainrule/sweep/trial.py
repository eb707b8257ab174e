"""One trial, run inside a worker (a pool process or a Ray task): pin BLAS threads, call the
objective with a ``report`` function for per-epoch metrics, and turn whatever happens —
success, pruning, an exception, a NaN — into one JSON-able record.

The objective protocol (the default trains an MLP; see :mod:`chainrule.sweep.objective`)::

    def objective(config: dict, report) -> dict:      # final metrics
        for epoch in range(1, epochs + 1):
            ...
            if report(epoch, {"val_accuracy": acc, "val_loss": loss}):
                break                                  # pruned: stop early
        return {"val_accuracy": acc, "test_accuracy": test_acc}
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
import socket
import threading
import time
import traceback

from chainrule.optim.optimizer import set_num_threads

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
_limits = None  # the threadpoolctl limiter of this worker process (kept alive on purpose)


def trial_id(config: dict, seed: int, index: int) -> str:
    """Deterministic identity: a hash of the trial's options, the sweep seed and its index,
    so a re-run of the same sweep knows which trials are done."""
    text = json.dumps({"config": config, "seed": seed, "index": index}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def thread_env(threads: int) -> dict:
    """Environment that caps every BLAS/OpenMP pool at ``threads`` (read at library load,
    so it must be in place before NumPy is imported: executors set it for their workers)."""
    return {name: str(int(threads)) for name in THREAD_VARS}


def pin_threads(threads: int | None) -> None:
    """Cap threads in this process: env for BLAS libraries loaded later, threadpoolctl for
    the ones already loaded (when it is installed), and chainrule's optimizer pool."""
    global _limits
    if not threads:
        return
    os.environ.update(thread_env(threads))
    set_num_threads(int(threads))  # chainrule's optimizers have a thread pool of their own
    try:  # an optional dependency (the cli and bench extras): local so it stays optional
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    _limits = threadpool_limits(limits=int(threads))


def resolve_objective(name: str):
    """``"package.module:function"`` → the function."""
    module_name, _, attr = name.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"cannot load sweep objective {name!r}: {e}") from None


def init_worker(threads: int | None, driver_pid: int | None = None) -> None:
    """Pool-worker initializer: pin BLAS threads and, when ``driver_pid`` is given, exit
    as soon as that process is gone. A driver killed with SIGKILL cannot stop its pool,
    and an idle worker would otherwise wait on its task queue forever (it holds the
    queue's write end itself, so it never sees end-of-file)."""
    pin_threads(threads)
    if driver_pid is not None:
        threading.Thread(target=_exit_with, args=(driver_pid,), daemon=True).start()


def _exit_with(driver_pid: int, every: float = 0.5) -> None:
    while os.getppid() == driver_pid:
        time.sleep(every)
    os._exit(1)  # nobody will read this worker's results: stop at once, mid-trial too


def failed_record(task: dict, error: str | None) -> dict:
    """The record of a trial that did not finish (``run_trial`` fills in the rest when it
    does); executors store it as is for a trial whose worker died."""
    return {
        "id": task["id"],
        "index": task["index"],
        "params": task["params"],
        "point": task["point"],
        "status": "failed",
        "metric": None,
        "metrics": {},
        "history": [],
        "error": error,
        "epochs": 0,
        "seconds": 0.0,
    }


def timed_out(task: dict, limit: float, seconds: float) -> dict:
    """The record of a trial stopped at its time limit (its worker was killed, so what it
    reported so far is gone with it)."""
    record = failed_record(
        task,
        f"stopped after {seconds:.1f} s: over the trial time limit of {limit:g} s "
        "(--trial-timeout); --retry-failed runs it again",
    )
    record.update(status="timeout", seconds=float(seconds), timeout=float(limit))
    return record


def run_trial(task: dict, pruner=None) -> dict:
    """Run one trial; never raises (a failure is a record with ``status = "failed"``).

    ``task``: id, index, params, point, config (the full train options), objective, metric,
    prune_metric, threads. ``pruner``: an object with ``report(trial_id, epoch, value) ->
    stop`` or None.
    """
    started = time.time()
    pin_threads(task.get("threads"))
    history: list[dict] = []
    state = {"pruned_at": None}
    watch = task.get("prune_metric") or task["metric"]

    def report(epoch: int, logs: dict) -> bool:
        row = {k: _scalar(v) for k, v in logs.items() if _is_number(v)}
        row["epoch"] = int(epoch)
        history.append(row)
        for name in ("train_loss", "val_loss", watch):
            value = row.get(name)
            if value is not None and not math.isfinite(value):
                raise FloatingPointError(f"{name} is {value} at epoch {epoch}")
        value = row.get(watch)
        watched = pruner is not None and task.get("prune_metric") and value is not None
        if watched and pruner.report(task["id"], int(epoch), value):
            state["pruned_at"] = int(epoch)
            return True
        return False

    record = failed_record(task, error=None)
    record.update(history=history, host=socket.gethostname(), pid=os.getpid(), started=started)
    try:
        objective = resolve_objective(task["objective"])
        metrics = objective(dict(task["config"]), report) or {}
        record["metrics"] = {k: _scalar(v) for k, v in metrics.items() if _is_number(v)}
        value = record["metrics"].get(task["metric"])
        if value is None and history:
            value = history[-1].get(task["metric"])
        if value is None:
            raise ValueError(f"the objective reported no {task['metric']!r}")
        if not math.isfinite(value):
            raise FloatingPointError(f"{task['metric']} is {value}")
        record["metric"] = value
        record["status"] = "completed" if state["pruned_at"] is None else "pruned"
        record["pruned_at"] = state["pruned_at"]
    except Exception as e:  # recorded, and the sweep goes on
        record["error"] = f"{type(e).__name__}: {e}"
        record["traceback"] = traceback.format_exc(limit=-6)
        if history and history[-1].get(task["metric"]) is not None:
            value = history[-1][task["metric"]]
            record["metric"] = value if math.isfinite(value) else None
    record["epochs"] = len(history)
    record["seconds"] = time.time() - started
    return record


def _is_number(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return (
        getattr(value, "ndim", None) == 0
        and getattr(value, "dtype", None) is not None
        and (value.dtype.kind in "iuf")
    )


def _scalar(value):
    value = value.item() if hasattr(value, "item") else value
    return int(value) if isinstance(value, int) else float(value)
