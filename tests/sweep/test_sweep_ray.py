"""The Ray executor on a local Ray instance (loopback only): the same trials, the same
records and the same pruning rule as the local pool, and a resume across executors."""

import os

import pytest

from chainrule.sweep import Pruning, SweepSpec, choice, loguniform, run_sweep
from chainrule.sweep.progress import Progress

ray = pytest.importorskip("ray")
TOY = "sweep_toy_objectives:toy"


@pytest.fixture(scope="module")
def local_ray():
    here = os.path.dirname(os.path.abspath(__file__))
    old = os.environ.get("PYTHONPATH")
    # Ray workers inherit the environment of the instance started here
    os.environ["PYTHONPATH"] = here + (os.pathsep + old if old else "")
    # address="local": a new instance even if another (or a stale record of one) exists
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
    )
    yield
    ray.shutdown()
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


def quiet(n):
    return Progress(n, "val_accuracy", "max", quiet=True)


def test_ray_grid_sweep_matches_the_local_pool(local_ray, toy_path, tmp_path):
    from sweep_toy_objectives import score

    spec = SweepSpec(
        search={"lr": choice(1e-3, 1e-2, 1e-1), "units": choice(32, 64)},
        base={"epochs": 2},
        strategy="grid",
        objective=TOY,
    )
    result = run_sweep(spec, tmp_path / "ray", executor="ray", progress=quiet(6), log=None)
    assert sorted(r["index"] for r in result.records) == list(range(6))
    assert all(r["status"] == "completed" and r["executor"] == "ray" for r in result.records)
    assert result.best["params"] == {"lr": 1e-2, "units": 64}
    for r in result.records:
        assert r["metric"] == pytest.approx(score(r["params"]))
        assert r["pid"] != os.getpid()  # ran in a Ray worker process
    # ids are the executor-independent identity: the local pool produces the same ones
    local = run_sweep(spec, tmp_path / "local", workers=2, progress=quiet(6), log=None)
    assert {r["id"] for r in local.records} == {r["id"] for r in result.records}


def test_ray_pruning_and_resume_from_a_local_start(local_ray, toy_path, tmp_path):
    calls = tmp_path / "calls.txt"
    spec = SweepSpec(
        search={"lr": loguniform(1e-4, 1.0), "units": choice(16, 64, 256)},
        base={"epochs": 3, "calls": str(calls)},
        strategy="random",
        trials=8,
        seed=2,
        objective=TOY,
        pruning=Pruning(min_epochs=1, eta=2),
    )
    first = run_sweep(spec, tmp_path / "s", workers=2, trials=3, progress=quiet(3), log=None)
    assert len(first.records) == 3
    result = run_sweep(spec, tmp_path / "s", executor="ray", progress=quiet(8), log=None)
    assert sorted(r["index"] for r in result.records) == list(range(8))
    assert len(calls.read_text().splitlines()) == 8  # the first three did not run again
    statuses = [r["status"] for r in result.records]
    assert "pruned" in statuses and "completed" in statuses
    for r in result.records:
        if r["status"] == "pruned":  # stopped at a rung (1 or 2), with its curve so far
            assert r["pruned_at"] in (1, 2) and r["epochs"] == r["pruned_at"]
    assert {r["executor"] for r in result.records} == {"local", "ray"}


def test_ray_trials_pin_blas_to_their_cpus(local_ray, toy_path, tmp_path):
    pytest.importorskip("threadpoolctl")
    spec = SweepSpec(
        search={"x": choice(1, 2)}, strategy="grid", objective="sweep_toy_objectives:threads"
    )
    result = run_sweep(spec, tmp_path, executor="ray", threads=2, progress=quiet(2), log=None)
    for r in result.records:
        assert r["status"] == "completed", r.get("error")
        m = r["metrics"]
        assert (m["omp"], m["openblas"], m["optim_threads"]) == (2, 2, 2)
        assert m["blas_threads"] in (2, -1)
