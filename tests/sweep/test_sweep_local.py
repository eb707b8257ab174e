"""Sweeps on the local process pool: the right winner, failures recorded and survived, BLAS
pinned per worker, pruning wired to the shared rung records, resume without re-running."""

import os

import pytest

from chainrule.sweep import Pruning, RungPruner, SweepSpec, choice, loguniform, run_sweep, table
from chainrule.sweep.progress import Progress

TOY = "sweep_toy_objectives:toy"


def quiet(total):
    return Progress(total, "val_accuracy", "max", quiet=True)


def grid_spec(**base):
    return SweepSpec(
        search={"lr": choice(1e-3, 1e-2, 1e-1), "units": choice(32, 64, 128)},
        base={"epochs": 2, **base},
        strategy="grid",
        objective=TOY,
    )


def test_local_grid_sweep_ranks_the_known_best_first(toy_path, tmp_path):
    from sweep_toy_objectives import score

    result = run_sweep(grid_spec(), tmp_path, workers=2, progress=quiet(9), log=None)
    assert len(result.records) == 9
    assert all(r["status"] == "completed" for r in result.records)
    ranked = result.ranked()
    assert ranked[0]["params"] == {"lr": 1e-2, "units": 64}
    values = [r["metric"] for r in ranked]
    assert values == sorted(values, reverse=True)
    for r in result.records:  # the metric is the objective's, recorded per trial
        assert r["metric"] == pytest.approx(score(r["params"]))
        assert r["pid"] != os.getpid() and r["epochs"] == 2 and len(r["history"]) == 2
    text = table(result)
    assert text.splitlines()[2].split()[:3] == ["1", str(ranked[0]["index"]), "completed"]


def test_crashing_and_nan_trials_are_recorded_and_the_sweep_goes_on(toy_path, tmp_path):
    spec = SweepSpec(
        search={"crash": choice(False, True), "nan": choice(False, True)},
        base={"epochs": 3},
        strategy="grid",
        objective=TOY,
    )
    result = run_sweep(spec, tmp_path, workers=2, progress=quiet(4), log=None)
    by = {(r["params"]["crash"], r["params"]["nan"]): r for r in result.records}
    assert by[(False, False)]["status"] == "completed"
    assert by[(True, False)]["status"] == "failed"
    assert by[(True, False)]["error"] == "RuntimeError: boom"
    assert by[(False, True)]["status"] == "failed"
    assert "is nan at epoch 2" in by[(False, True)]["error"]
    assert "boom" in table(result)


def test_each_worker_pins_blas_to_its_threads(toy_path, tmp_path):
    threads = 3  # not any default (cores // workers; optimizers: min(4, cores)) on 2-4 cores
    pytest.importorskip("threadpoolctl")
    spec = SweepSpec(
        search={"x": choice(1, 2)}, strategy="grid", objective="sweep_toy_objectives:threads"
    )
    result = run_sweep(spec, tmp_path, workers=2, threads=threads, progress=quiet(2), log=None)
    for r in result.records:
        assert r["status"] == "completed", r.get("error")
        m = r["metrics"]
        assert (m["omp"], m["openblas"]) == (threads, threads)
        assert m["blas_threads"] in (threads, -1)  # -1: NumPy without a BLAS thread pool
        assert m["optim_threads"] == threads
    assert "OMP_NUM_THREADS" not in os.environ or os.environ["OMP_NUM_THREADS"] != "999"


def test_pruning_follows_the_rung_rule(toy_path, tmp_path):
    spec = SweepSpec(
        search={"lr": loguniform(1e-4, 1.0), "units": choice(16, 64, 256)},
        base={"epochs": 9},
        strategy="random",
        trials=12,
        seed=5,
        objective=TOY,
        pruning=Pruning(min_epochs=1, eta=3),
    )
    # one worker: trials run in index order, so the rule can be replayed here exactly
    result = run_sweep(spec, tmp_path, workers=1, progress=quiet(12), log=None)
    from sweep_toy_objectives import score

    expect = RungPruner([1, 3], eta=3, mode="max")
    for r in sorted(result.records, key=lambda r: r["index"]):
        s = score(r["params"])
        stop_at = next((e for e in (1, 3) if expect.report(r["id"], e, s * e / 9)), None)
        if stop_at is None:
            assert r["status"] == "completed" and r["epochs"] == 9
        else:
            assert r["status"] == "pruned" and r["pruned_at"] == stop_at == r["epochs"]
    statuses = [r["status"] for r in result.records]
    assert statuses.count("pruned") >= 2 and statuses.count("completed") >= 2
    best = max(result.records, key=lambda r: score(r["params"]))
    assert best["status"] == "completed" and result.best["id"] == best["id"]


def test_rerun_skips_finished_trials_and_grows_with_more_trials(toy_path, tmp_path):
    calls = tmp_path / "calls.txt"
    spec = SweepSpec(
        search={"lr": loguniform(1e-4, 1.0)},
        base={"epochs": 1, "calls": str(calls)},
        strategy="random",
        trials=4,
        objective=TOY,
    )
    first = run_sweep(spec, tmp_path / "s", workers=2, progress=quiet(4), log=None)
    assert len(calls.read_text().splitlines()) == 4
    again = run_sweep(spec, tmp_path / "s", workers=2, progress=quiet(4), log=None)
    assert len(calls.read_text().splitlines()) == 4  # nothing ran
    assert {r["id"] for r in again.records} == {r["id"] for r in first.records}
    more = run_sweep(spec, tmp_path / "s", workers=2, trials=6, progress=quiet(6), log=None)
    assert len(calls.read_text().splitlines()) == 6  # only the two new ones
    assert sorted(r["index"] for r in more.records) == list(range(6))


def test_retry_failed_runs_only_the_failed_again(toy_path, tmp_path):
    calls = tmp_path / "calls.txt"
    spec = SweepSpec(
        search={"crash": choice(False, True)},
        base={"calls": str(calls)},
        strategy="grid",
        objective=TOY,
    )
    run_sweep(spec, tmp_path / "s", workers=1, progress=quiet(2), log=None)
    result = run_sweep(
        spec, tmp_path / "s", workers=1, retry_failed=True, progress=quiet(2), log=None
    )
    assert len(calls.read_text().splitlines()) == 3
    assert sorted(r["status"] for r in result.records) == ["completed", "failed"]


def test_a_dying_worker_fails_its_trial_and_a_fresh_pool_runs_the_rest(toy_path, tmp_path):
    spec = SweepSpec(
        search={"die": choice(False, True, False), "lr": choice(0.01)},
        base={"epochs": 1},
        strategy="grid",
        objective=TOY,
    )
    # one worker: the dead process was running exactly one trial
    result = run_sweep(spec, tmp_path, workers=1, progress=quiet(3), log=None)
    by_index = {r["index"]: r for r in result.records}
    assert [by_index[i]["status"] for i in range(3)] == ["completed", "failed", "completed"]
    assert by_index[1]["error"].startswith("worker process died")
    assert by_index[0]["pid"] != by_index[2]["pid"]  # the third trial ran in a new pool


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_dying_worker_fails_only_its_own_trial(toy_path, tmp_path):
    spec = SweepSpec(
        search={"die": choice(False, True, False, False), "lr": choice(0.01)},
        base={"epochs": 2, "sleep": 0.3},
        strategy="grid",
        objective=TOY,
    )
    # two workers: trial 1's process dies while trial 0 runs beside it; the pool must
    # know whose trial it was and leave the neighbour alone
    result = run_sweep(spec, tmp_path, workers=2, progress=quiet(4), log=None)
    by_index = {r["index"]: r for r in result.records}
    assert [by_index[i]["status"] for i in range(4)] == [
        "completed",
        "failed",
        "completed",
        "completed",
    ]
    assert by_index[1]["error"].startswith("worker process died (exit status 9")


def test_a_trial_over_its_time_limit_is_stopped_and_recorded(toy_path, tmp_path):
    starts = tmp_path / "starts.jsonl"
    spec = SweepSpec(
        search={"hang": choice(0, 120, 0), "lr": choice(0.01)},
        base={"epochs": 2, "sleep": 0.2, "starts": str(starts)},
        strategy="grid",
        objective=TOY,
    )
    result = run_sweep(
        spec, tmp_path / "s", workers=2, trial_timeout=3, progress=quiet(3), log=None
    )
    by_index = {r["index"]: r for r in result.records}
    assert [by_index[i]["status"] for i in range(3)] == ["completed", "timeout", "completed"]
    late = by_index[1]
    assert late["error"].startswith("stopped after ") and "time limit of 3 s" in late["error"]
    assert late["timeout"] == 3 and late["seconds"] >= 3 and late["metric"] is None
    # the hanging trial was really stopped: the process that ran it is gone
    import json

    (hung,) = [json.loads(x) for x in starts.read_text().splitlines() if '"hang": 120' in x]
    assert not alive(hung["pid"])
    # a timed-out trial is kept on a rerun, and --retry-failed runs it again
    again = run_sweep(spec, tmp_path / "s", workers=2, trial_timeout=3, progress=quiet(3), log=None)
    assert len(starts.read_text().splitlines()) == 3
    assert sorted(r["status"] for r in again.records) == ["completed", "completed", "timeout"]


def test_rerun_message_counts_failed_trials_apart(toy_path, tmp_path):
    import io

    spec = SweepSpec(search={"crash": choice(True, False, True)}, strategy="grid", objective=TOY)
    run_sweep(spec, tmp_path, workers=1, progress=quiet(3), log=None)
    stream = io.StringIO()
    result = run_sweep(
        spec, tmp_path, workers=1, progress=Progress(3, "val_accuracy", "max", stream), log=None
    )
    assert stream.getvalue().splitlines()[0] == (
        "resuming: 3 of 3 trials already ran: 1 finished, 2 failed "
        "(kept; --retry-failed runs them again)"
    )
    assert not result.all_failed
    stream = io.StringIO()
    run_sweep(
        spec,
        tmp_path,
        workers=1,
        retry_failed=True,
        progress=Progress(3, "val_accuracy", "max", stream),
        log=None,
    )
    assert stream.getvalue().splitlines()[0] == (
        "resuming: 1 of 3 trials already finished; "
        "2 failed or timed-out trial(s) run again (--retry-failed)"
    )


@pytest.mark.parametrize(
    "option,value,message",
    [
        ("workers", 0, "workers must be a positive integer, got 0"),
        ("threads", -2, "threads must be a positive integer, got -2"),
        ("trials", 1.5, "trials must be a positive integer, got 1.5"),
        ("trial_timeout", 0, "trial_timeout must be a positive number of seconds, got 0"),
        ("trial_timeout", float("nan"), "trial_timeout must be a positive number of seconds"),
        ("trial_timeout", True, "trial_timeout must be a positive number of seconds"),
    ],
)
def test_run_sweep_rejects_bad_run_options_before_anything_runs(tmp_path, option, value, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
        run_sweep(grid_spec(), tmp_path / "s", progress=quiet(9), log=None, **{option: value})
    assert not (tmp_path / "s").exists()


def test_trial_timeout_in_the_spec_applies_and_the_argument_wins(toy_path, tmp_path):
    from chainrule.sweep import spec_from_dict

    table = {
        "sweep": {"strategy": "grid", "objective": TOY, "trial_timeout": 2},
        "base": {"epochs": 1},
        "search": {"hang": [60]},
    }
    spec = spec_from_dict(table)
    assert spec.trial_timeout == 2
    result = run_sweep(spec, tmp_path / "a", workers=1, progress=quiet(1), log=None)
    assert [r["status"] for r in result.records] == ["timeout"]
    assert result.records[0]["timeout"] == 2
    result = run_sweep(
        spec, tmp_path / "b", workers=1, trial_timeout=1.5, progress=quiet(1), log=None
    )
    assert result.records[0]["timeout"] == 1.5


@pytest.mark.parametrize("value", [0, -1, "10", True, float("inf")])
def test_spec_trial_timeout_must_be_positive_seconds(value):
    from chainrule.sweep import spec_from_dict

    table = {"sweep": {"trial_timeout": value, "objective": TOY}, "search": {"x": [1]}}
    with pytest.raises(ValueError, match=r"sweep\.trial_timeout: must be a positive number"):
        spec_from_dict(table)
