"""TPE through Optuna: it runs the asked number of trials, learns from finished ones (also
those of an earlier run of the same folder), and says how to install Optuna when missing."""

import sys

import pytest

from chainrule.sweep import SweepSpec, choice, layers, loguniform, run_sweep
from chainrule.sweep.progress import Progress
from chainrule.sweep.strategies import make_strategy

TOY = "sweep_toy_objectives:toy"


def spec(trials):
    return SweepSpec(
        search={"lr": loguniform(1e-5, 10.0), "units": choice(16, 64, 256)},
        base={"epochs": 1},
        strategy="tpe",
        trials=trials,
        seed=0,
        objective=TOY,
    )


def test_tpe_runs_resumes_and_concentrates_near_the_optimum(toy_path, tmp_path):
    pytest.importorskip("optuna")
    first = run_sweep(
        spec(12), tmp_path, workers=1, progress=Progress(12, "v", "max", quiet=True), log=None
    )
    assert sorted(r["index"] for r in first.records) == list(range(12))
    finished = [r for r in first.records if r["status"] == "completed"]
    # a resumed study starts from everything already measured
    strategy = make_strategy(spec(30), finished=finished)
    assert len(strategy.study.trials) == 12
    assert strategy.study.best_value == pytest.approx(max(r["metric"] for r in finished))
    more = run_sweep(
        spec(30), tmp_path, workers=1, progress=Progress(30, "v", "max", quiet=True), log=None
    )
    assert sorted(r["index"] for r in more.records) == list(range(30))
    late = sorted(more.records, key=lambda r: r["index"])[20:]
    early = sorted(more.records, key=lambda r: r["index"])[:10]  # TPE's random start-up
    mean = lambda rs: sum(r["metric"] for r in rs) / len(rs)  # noqa: E731
    assert mean(late) > mean(early)


def test_tpe_draws_layer_structures_with_conditional_widths(tmp_path):
    optuna = pytest.importorskip("optuna")
    s = SweepSpec(search={"layers": layers((1, 3), (8, 64))}, strategy="tpe", trials=5)
    strategy = make_strategy(s)
    for index in range(5):
        point = strategy.ask(index)
        widths = s.search.config(point)["layers"]
        assert 1 <= len(widths) <= 3 and all(8 <= w <= 64 for w in widths)
        strategy.tell(index, {"status": "completed", "metric": float(sum(widths))})
    assert len(strategy.study.get_trials(states=[optuna.trial.TrialState.COMPLETE])) == 5


def test_tpe_without_optuna_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna -> ImportError
    with pytest.raises(
        ValueError, match=r"strategy 'tpe' needs Optuna: pip install 'chainrule\[tune\]'"
    ):
        make_strategy(spec(3))
