"""Sweeps on a real multi-node Ray cluster (Ray's own test cluster: a head and two worker
nodes on this machine, one CPU each), with faults: a worker node killed mid-sweep, and a
trial that runs past its time limit."""

import contextlib
import json
import os
import signal
import threading
import time

import pytest

from chainrule.sweep import SweepSpec, choice, run_sweep, table
from chainrule.sweep.progress import Progress

ray = pytest.importorskip("ray")
TOY = "sweep_toy_objectives:toy"
HERE = os.path.dirname(os.path.abspath(__file__))
NODE = {"num_cpus": 1, "object_store_memory": 80 * 2**20}


@pytest.fixture(scope="module")
def cluster(request):
    from ray.cluster_utils import Cluster

    old = os.environ.get("PYTHONPATH")
    # the nodes' workers inherit the environment the nodes are started with
    os.environ["PYTHONPATH"] = HERE + (os.pathsep + old if old else "")
    # Ray's health check marks a killed node dead after ~15 s; check faster here
    health = {
        "health_check_period_ms": 300,
        "health_check_timeout_ms": 300,
        "health_check_failure_threshold": 3,
    }
    made = Cluster(
        initialize_head=True,
        head_node_args={**NODE, "include_dashboard": False, "_system_config": health},
    )

    def finish():
        ray.shutdown()
        made.shutdown()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old

    request.addfinalizer(finish)
    for _ in range(2):
        made.add_node(**NODE)
    made.wait_for_nodes()
    ray.init(address=made.address, log_to_driver=False, logging_level="ERROR")
    return made


def quiet(n):
    return Progress(n, "val_accuracy", "max", quiet=True)


def starts_of(path):
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def records_of(folder):
    path = folder / "trials.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def without_time(text):
    """The ranked table without its time column (the only one a rerun may change)."""
    rows = [line.split() for line in text.splitlines()]
    col = rows[0].index("time")
    return [row[:col] + row[col + 1 :] for row in rows if len(row) > col]


def test_a_worker_node_killed_mid_sweep_loses_and_repeats_nothing(cluster, toy_path, tmp_path):
    starts = tmp_path / "starts.jsonl"
    spec = SweepSpec(
        search={"lr": choice(1e-3, 1e-2, 1e-1), "units": choice(32, 64)},
        base={"epochs": 3, "sleep": 0.4, "starts": str(starts)},
        strategy="grid",
        objective=TOY,
    )
    out = tmp_path / "ray"
    # a worker node, not the one this driver (and the sweep's actors) is attached to
    here = ray.get_runtime_context().get_node_id()
    victim = next(n for n in cluster.worker_nodes if n.node_id != here)
    result, errors = {}, []

    def sweep():
        try:
            result["r"] = run_sweep(spec, out, executor="ray", progress=quiet(6), log=None)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    thread = threading.Thread(target=sweep)
    thread.start()
    # kill the victim node once a trial has finished and another is running there
    killed_params, deadline = None, time.monotonic() + 120
    while killed_params is None and time.monotonic() < deadline and thread.is_alive():
        finished = [r["params"] for r in records_of(out)]
        running_there = [  # started there under 0.4 s ago: a second or more to go
            s
            for s in starts_of(starts)
            if s["node"] == victim.node_id
            and s["params"] not in finished
            and time.time() - s["time"] < 0.4
        ]
        if finished and running_there:
            # the machine goes: its raylet and the other node processes, and the worker
            # process running the trial with them (at once, not when it notices)
            cluster.remove_node(victim, allow_graceful=False)
            with contextlib.suppress(ProcessLookupError):
                os.kill(running_there[0]["pid"], signal.SIGKILL)
            killed_params = running_there[0]["params"]
        time.sleep(0.02)
    finished_before = [r["params"] for r in records_of(out)]
    thread.join(timeout=180)
    assert not thread.is_alive() and not errors, errors
    assert killed_params is not None, "no trial ran on the victim node"

    records = records_of(out)
    assert sorted(r["index"] for r in records) == list(range(6))  # each trial recorded once
    assert all(r["status"] == "completed" for r in records), [r.get("error") for r in records]
    by_params = {json.dumps(r["params"], sort_keys=True): r for r in records}
    lost = by_params[json.dumps(killed_params, sort_keys=True)]
    assert lost["attempt"] == 2, lost
    # Ray names the loss NodeDiedError, or WorkerCrashedError when it hears of the worker
    # first (the executor then waits for the node's fate: dead, so the trial was lost)
    assert lost["lost"][0].startswith(("NodeDiedError", "WorkerCrashedError")), lost["lost"]
    attempts = [s["params"] for s in starts_of(starts)]
    for params in finished_before:  # a finished trial is never run again
        assert attempts.count(params) == 1, params
    assert attempts.count(killed_params) == 2, attempts
    again = [s for s in starts_of(starts) if s["params"] == killed_params][1]
    assert again["node"] != victim.node_id  # resubmitted to a node that is still there

    # the same table as the same sweep run without a fault (here on the local pool)
    calm = run_sweep(spec, tmp_path / "calm", workers=2, progress=quiet(6), log=None)
    assert without_time(table(result["r"])) == without_time(table(calm))
    assert [r["metric"] for r in result["r"].ranked()] == [r["metric"] for r in calm.ranked()]


def test_a_ray_trial_over_its_time_limit_is_killed_and_recorded(cluster, toy_path, tmp_path):
    starts = tmp_path / "starts.jsonl"
    spec = SweepSpec(
        search={"hang": choice(0, 120, 0), "lr": choice(0.01)},
        base={"epochs": 2, "sleep": 0.2, "starts": str(starts)},
        strategy="grid",
        objective=TOY,
    )
    result = run_sweep(
        spec, tmp_path / "s", executor="ray", trial_timeout=4, progress=quiet(3), log=None
    )
    by_index = {r["index"]: r for r in result.records}
    assert [by_index[i]["status"] for i in range(3)] == ["completed", "timeout", "completed"]
    late = by_index[1]
    assert "time limit of 4 s" in late["error"] and late["seconds"] >= 4
    (hung,) = [s for s in starts_of(starts) if s["params"]["hang"] == 120]
    deadline = time.monotonic() + 30  # ray.cancel(force=True) kills the worker process
    while _alive(hung["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(hung["pid"])


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_ray_worker_crashing_on_a_live_node_fails_its_trial_once(
    cluster, toy_path, tmp_path, monkeypatch
):
    from chainrule.sweep import ray_executor

    # the executor waits this long to learn whether the node died with the worker (30 s
    # by default, to cover Ray's 15 s health check; this cluster checks every 0.3 s)
    monkeypatch.setattr(ray_executor, "VERDICT", 3.0)
    starts = tmp_path / "starts.jsonl"
    spec = SweepSpec(
        search={"die": choice(False, True), "lr": choice(0.01)},
        base={"epochs": 1, "starts": str(starts)},
        strategy="grid",
        objective=TOY,
    )
    result = run_sweep(spec, tmp_path / "s", executor="ray", progress=quiet(2), log=None)
    by_index = {r["index"]: r for r in result.records}
    assert by_index[0]["status"] == "completed"
    crashed = by_index[1]
    assert crashed["status"] == "failed" and crashed["attempt"] == 1
    assert crashed["error"].startswith("worker process died: WorkerCrashedError")
    assert "lost" not in crashed
    assert [s["params"].get("die") for s in starts_of(starts)].count(True) == 1  # not rerun
