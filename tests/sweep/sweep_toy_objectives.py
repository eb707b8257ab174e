"""Objectives for the sweep tests: cheap, deterministic, importable by spawned workers and
Ray workers (the tests put this folder on PYTHONPATH).

``score(config)`` is a known function of the options, so a test can say which trial must
win; each epoch reports ``val_accuracy = score * epoch / epochs``.
"""

import json
import math
import os
import sys
import time


def score(config) -> float:
    """Best at lr = 0.01 and units = 64: 1 - (log10 lr + 2)^2 / 10 - |log2(units / 64)| / 20."""
    lr = config.get("lr", 0.01)
    units = config.get("units", 64)
    return 1 - (math.log10(lr) + 2) ** 2 / 10 - abs(math.log2(units / 64)) / 20


def toy(config, report):
    log = config.get("calls")
    if log:  # one line per trial start: lets a test see what ran twice
        with open(log, "a") as f:
            f.write(f"{config.get('lr')!r},{config.get('units')!r}\n")
    starts = config.get("starts")
    if starts:  # one JSON line per attempt: where it ran (a test kills that process/node)
        with open(starts, "a") as f:
            line = {"params": _params(config), "pid": os.getpid(), "node": _node()}
            f.write(json.dumps({**line, "time": time.time()}))
            f.write("\n")
    if config.get("crash"):
        raise RuntimeError("boom")
    if config.get("hang"):  # runs far past any time limit a test sets
        time.sleep(float(config["hang"]))
    if config.get("die"):  # the worker process vanishes, as under the OOM killer
        os._exit(9)
    epochs = int(config.get("epochs", 3))
    s = score(config)
    value = s
    for epoch in range(1, epochs + 1):
        time.sleep(config.get("sleep", 0.0))
        value = float("nan") if config.get("nan") and epoch == 2 else s * epoch / epochs
        if report(epoch, {"val_accuracy": value, "val_loss": 1 - value}):
            break
    return {"val_accuracy": value, "test_accuracy": value - 0.01, "pid": os.getpid()}


def threads(config, report):
    """Reports the BLAS thread caps the worker runs with."""
    from threadpoolctl import threadpool_info

    from chainrule.optim.optimizer import get_num_threads

    report(1, {"val_accuracy": 1.0})
    blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    return {
        "val_accuracy": 1.0,
        "omp": int(os.environ.get("OMP_NUM_THREADS", "-1")),
        "openblas": int(os.environ.get("OPENBLAS_NUM_THREADS", "-1")),
        "blas_threads": max(blas) if blas else -1,
        "optim_threads": get_num_threads(),
    }


def _params(config) -> dict:
    """The options a test searches over (the rest is the spec's [base])."""
    return {k: config[k] for k in ("lr", "units", "hang", "die") if k in config}


def _node() -> str | None:
    """The Ray node id this runs on, or None outside Ray (a Ray worker has imported it)."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return None
    return ray.get_runtime_context().get_node_id()
