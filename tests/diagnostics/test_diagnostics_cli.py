"""chainrule diagnose / gradcheck from the command line, bad input, plots and HTML."""

import json
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.diagnostics import GradientFlowMonitor
from chainrule.train import MetricsLogger, fit


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A small real run: 4-layer sigmoid net with oversized weights (saturates)."""
    d = tmp_path_factory.mktemp("run")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((128, 8)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    cr.manual_seed(0)
    model = cr.nn.MLP([8, 16, 16, 16, 2], activation="tanh", init="normal:2.0")
    opt = cr.optim.SGD(model.parameters(), lr=0.05)
    fit(
        model,
        cr.nn.functional.cross_entropy,
        opt,
        (X, y),
        3,
        batch_size=16,
        run_dir=d,
        callbacks=[GradientFlowMonitor(every=3), MetricsLogger(d / "metrics.jsonl")],
    )
    (d / "config.toml").write_text('activation = "tanh"\ninit = "normal:2.0"\n')
    return d


def test_diagnose_prints_findings_and_exits_by_severity(run_dir, capsys):
    code = main(["diagnose", str(run_dir)])
    out = capsys.readouterr().out
    assert out.startswith(f"diagnosis of {run_dir}")
    assert "[WARN] saturation" in out
    assert "evidence:" in out and "suggestion:" in out
    has_error = "[ERROR]" in out
    assert code == (1 if has_error else 0)


def test_diagnose_json(run_dir, capsys):
    main(["diagnose", str(run_dir), "--json"])
    d = json.loads(capsys.readouterr().out)
    assert d["run_dir"] == str(run_dir) and d["healthy"] is False
    assert "saturation" in {f["kind"] for f in d["findings"]}


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "does not exist"),
        (lambda d: d.mkdir(), "has no monitor.jsonl: no gradient-flow data was recorded"),
        (lambda d: d.write_text("x"), "is not a folder"),
        (
            lambda d: (
                d.mkdir(),
                (d / "monitor.jsonl").write_text('{"type": "meta"}\n{"type": "st'),
            ),
            "line 2 is not valid JSON",
        ),
        (lambda d: (d.mkdir(), (d / "monitor.jsonl").write_text("")), "no header line"),
        (
            lambda d: (
                d.mkdir(),
                (d / "monitor.jsonl").write_text('{"type": "meta", "layers": []}\n'),
            ),
            "no sampled steps",
        ),
    ],
)
def test_diagnose_bad_run_folders_say_what_is_missing(tmp_path, capsys, setup, message):
    d = tmp_path / "run"
    setup(d)
    assert main(["diagnose", str(d)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("chainrule diagnose: error: ")
    assert message in err and "\n" not in err


def test_corrupt_metrics_and_config_are_named(run_dir, tmp_path, capsys):
    import shutil

    d = tmp_path / "copy"
    shutil.copytree(run_dir, d)
    (d / "config.toml").write_text("layers = [\n")
    assert main(["diagnose", str(d)]) == 2
    assert "config.toml: invalid TOML" in capsys.readouterr().err
    (d / "config.toml").unlink()
    (d / "metrics.jsonl").write_text("[1, 2]\n")
    assert main(["diagnose", str(d)]) == 2
    assert "metrics.jsonl: line 1 is not a JSON object" in capsys.readouterr().err


def test_plots_and_self_contained_html(run_dir, capsys):
    pytest.importorskip("matplotlib")
    main(["diagnose", str(run_dir), "--html"])
    for name in (
        "gradient_flow.png",
        "saturation.png",
        "activation_histograms.png",
        "loss_curves.png",
    ):
        data = (run_dir / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    page = (run_dir / "diagnosis.html").read_text()
    assert page.count("data:image/png;base64,") == 4
    assert not re.search(r'src="(?!data:)', page)  # nothing fetched from elsewhere
    assert "saturation" in page


def test_plot_without_matplotlib_is_a_clear_error(run_dir, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert main(["diagnose", str(run_dir), "--plot"]) == 2
    captured = capsys.readouterr()
    assert "[WARN] saturation" in captured.out  # the diagnosis still printed
    assert "pip install 'chainrule[plot]'" in captured.err


def test_gradcheck_cli_prints_a_table(capsys):
    code = main(
        [
            "gradcheck",
            "--layers",
            "4,5,3",
            "--activation",
            "tanh",
            "--loss",
            "cross-entropy",
            "--examples",
            "3",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("layers.")]
    assert [r.split()[0] for r in rows] == [
        "layers.0.weight",
        "layers.0.bias",
        "layers.2.weight",
        "layers.2.bias",
    ]
    for r in rows:
        rel = float(r.split()[4])
        assert rel < 1e-7 and r.split()[-1] == "good"
    assert "result: PASSED" in out


def test_gradcheck_cli_float32_warns_and_uses_float64(capsys):
    code = main(
        [
            "gradcheck",
            "--layers",
            "3,4,2",
            "--activation",
            "relu",
            "--init",
            "he",
            "--loss",
            "mse",
            "--dtype",
            "float32",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "warning: the model/inputs are float32; checking in float64" in captured.err
    assert "float64" in captured.out


def test_gradcheck_cli_bad_layers(capsys):
    assert main(["gradcheck", "--layers", "4"]) == 2
    assert "need at least an input and an output size" in capsys.readouterr().err
    assert main(["gradcheck", "--layers", "4,,3"]) == 2
    assert "--layers: empty entry in '4,,3'" in capsys.readouterr().err


def test_train_with_monitor_then_diagnose_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "--data",
            "digits",
            "--layers",
            "16",
            "--epochs",
            "2",
            "--monitor",
            "5",
            "--out",
            str(out),
            "--quiet",
            "--no-plots",
        ]
    )
    assert code == 0
    capsys.readouterr()
    assert main(["diagnose", str(out), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["healthy"] and "config: optimizer sgd" in d["summary"]


def test_train_detect_anomaly_names_the_op_in_one_line(tmp_path, capsys):
    with np.errstate(all="ignore"):
        code = main(
            [
                "train",
                "--data",
                "digits",
                "--layers",
                "16",
                "--epochs",
                "1",
                "--lr",
                "1e30",
                "--schedule",
                "constant",
                "--detect-anomaly",
                "--out",
                str(tmp_path / "r"),
                "--quiet",
                "--no-plots",
            ]
        )
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2
    assert err.startswith("chainrule train: error: detect_anomaly: 'linear' produced")
    assert "linear.py:" in err  # under the CLI the layer's forward is named


def test_diagnose_in_memory_with_fit_history():
    from chainrule.diagnostics import diagnose

    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    cr.manual_seed(0)
    model = cr.nn.MLP([4, 8, 2], activation="tanh", init="xavier")
    mon = GradientFlowMonitor(every=2)
    history = fit(
        model,
        cr.nn.functional.cross_entropy,
        cr.optim.SGD(model.parameters(), lr=0.1),
        (X, y),
        4,
        batch_size=16,
        callbacks=[mon],
    )
    rep = diagnose(mon, metrics=history)
    assert rep.run_dir is None and "4 epochs of metrics" in rep.summary
