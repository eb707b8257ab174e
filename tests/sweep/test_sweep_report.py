"""Reports from records alone: ranking, the table, best.toml as a train config, plots, and
live progress (one redrawn line on a terminal, one line per trial in a log)."""

import io

import pytest

from chainrule.experiment.config import TrainConfig, read_config
from chainrule.sweep import SweepResult, best_config_toml, save_plots, summary, table
from chainrule.sweep.progress import Progress

SPEC = {
    "sweep": {
        "metric": "val_accuracy",
        "mode": "max",
        "objective": "chainrule.sweep.objective:train",
    },
    "base": {"data": "digits", "epochs": 7},
    "search": {
        "lr": {"loguniform": [1e-3, 1.0]},
        "layers": {"n_layers": {"int": [1, 2]}, "units": {"int": [8, 64]}},
        "activation": {"choice": ["relu", "tanh"]},
    },
}


def rec(i, status, metric, lr, layers, act="relu", val_loss=None, **kw):
    return {
        "id": f"id{i}",
        "index": i,
        "status": status,
        "metric": metric,
        "epochs": 7,
        "seconds": 1.0,
        "params": {"lr": lr, "layers": layers, "activation": act},
        "metrics": {
            "test_accuracy": None if metric is None else metric - 0.02,
            "val_loss": val_loss,
        },
        **kw,
    }


@pytest.fixture
def result(tmp_path):
    records = [
        rec(0, "completed", 0.90, 0.1, [32]),
        rec(1, "failed", None, 5.0, [8], error="FloatingPointError: loss became nan"),
        rec(2, "pruned", 0.95, 0.01, [64, 8]),  # pruned: ranked after every completed trial
        rec(3, "completed", 0.97, 0.03, [16, 16], "tanh", val_loss=0.2),
        rec(4, "completed", 0.97, 0.05, [8], val_loss=0.1),  # same accuracy, lower loss: first
    ]
    return SweepResult(SPEC, str(tmp_path), records, "val_accuracy", "max")


def test_ranking_completed_then_pruned_then_failed_ties_by_val_loss(result):
    assert [r["index"] for r in result.ranked()] == [4, 3, 0, 2, 1]
    assert result.best["index"] == 4
    assert (
        SweepResult(SPEC, ".", [rec(0, "failed", None, 1, [])], "val_accuracy", "max").best is None
    )
    low = SweepResult(SPEC, ".", result.records, "val_loss", "min")
    assert [r["index"] for r in low.ranked()][:3] == [0, 3, 4]  # smaller metric first


def test_table_rows_and_failures(result):
    lines = table(result).splitlines()
    assert lines[0].split() == [
        "rank",
        "trial",
        "status",
        "val_accuracy",
        "test_accuracy",
        "epochs",
        "time",
        "lr",
        "layers",
        "activation",
    ]
    assert lines[2].split() == [
        "1",
        "4",
        "completed",
        "0.9700",
        "0.9500",
        "7",
        "1.0s",
        "0.05",
        "8",
        "relu",
    ]
    assert lines[3].split()[-2:] == ["16-16", "tanh"]
    assert (
        "1 failed trial(s):" in lines and "  trial 1: FloatingPointError: loss became nan" in lines
    )
    assert "... 3 more" in table(result, top=2)
    assert summary(result).startswith("5 trials (3 completed, 1 failed, 1 pruned)")


def test_best_toml_is_a_train_config_with_base_and_winning_options(result, tmp_path):
    path = tmp_path / "best.toml"
    path.write_text(best_config_toml(result))
    config = TrainConfig.from_dict(read_config(path))
    assert (config.data, config.epochs, config.lr, config.layers) == ("digits", 7, 0.05, [8])
    assert config.out is None and path.read_text().startswith("# best trial of the sweep")


def test_plots_png(result):
    pytest.importorskip("matplotlib")
    path = save_plots(result)
    with open(path, "rb") as f:
        assert f.read(4) == b"\x89PNG"


def test_progress_redraws_one_line_on_a_terminal():
    out = io.StringIO()
    p = Progress(3, "val_accuracy", "max", stream=out, tty=True)
    p.started(0)
    p.started(1)
    p.finished({"index": 0, "status": "completed", "metric": 0.8})
    p.finished({"index": 1, "status": "failed", "metric": None, "error": "x"})
    p.close()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")  # only the final newline
    final = text.split("\r")[-1]
    assert final.startswith("trials 2/3 | 0 running | 1 failed | best val_accuracy 0.8000 (#0)")


def test_progress_prints_a_line_per_trial_in_a_log():
    out = io.StringIO()
    p = Progress(2, "val_loss", "min", stream=out, tty=False)
    p.resumed([{"index": 0, "status": "completed", "metric": 0.5}])
    p.started(1)
    p.finished({"index": 1, "status": "pruned", "metric": 0.4, "pruned_at": 3})
    p.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0] == "resuming: 1 of 2 trials already finished"
    assert lines[1].startswith("trial 1 pruned: val_loss 0.4000 (pruned at epoch 3) | trials 2/2")
    assert "best val_loss 0.5000 (#0)" in lines[1]  # pruned trials do not count as best
