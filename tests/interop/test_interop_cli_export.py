"""chainrule export: a run's model in onnxruntime gives what chainrule predict gives."""

import contextlib
import csv
import io

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import load_dataset
from chainrule.experiment import TrainConfig, run_training

ort = pytest.importorskip("onnxruntime")


def _cli(*args):
    from chainrule.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def _run(folder, **options):
    config = TrainConfig.from_dict(
        {"layers": [16], "epochs": 1, "quiet": True, "plots": False, "out": str(folder), **options}
    )
    return run_training(config, splits=load_dataset(options.get("data", "digits")))


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export") / "run"
    _run(folder, activation="gelu", dropout=0.3)
    return folder


def _onnx(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def _predict_csv(run, x, tmp_path):
    np.savetxt(tmp_path / "x.csv", x, delimiter=",", fmt="%.17g")
    code, out, err = _cli("predict", run, "--input", tmp_path / "x.csv")
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    return (
        rows[0],
        np.array([[float(v) for v in r[1:]] for r in rows[1:]]),
        [r[0] for r in rows[1:]],
    )


def test_onnx_takes_raw_rows_and_returns_predicts_probabilities(digits_run, tmp_path):
    from chainrule.data.prepare import prepare_inputs
    from chainrule.experiment.run_folder import restore_model
    from chainrule.train.loop import predict

    code, _, err = _cli("export", digits_run, "--onnx", tmp_path / "m.onnx")
    assert code == 0 and "raw inputs (standardized inside) -> probabilities" in err
    raw = load_dataset("digits").X_test.astype(np.float64)
    got = _onnx(tmp_path / "m.onnx", raw)
    # the library call chainrule predict prints (to 6 digits): softmax of the logits
    model, config, data_state, _ = restore_model(digits_run)
    logits = predict(model, prepare_inputs(raw, data_state, np.dtype(config.dtype)))
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(got, z / z.sum(axis=1, keepdims=True), rtol=0, atol=1e-6)
    header, printed, labels = _predict_csv(digits_run, raw[:40], tmp_path)
    assert header == ["prediction", *[f"p_{k}" for k in range(10)]]
    np.testing.assert_allclose(got[:40], printed, rtol=1e-5, atol=1e-6)  # %.6g in the CSV
    assert labels == [str(k) for k in got[:40].argmax(axis=1)]


def test_logits_and_the_models_metadata(digits_run, tmp_path):
    onnx = pytest.importorskip("onnx")
    code, _, _ = _cli("export", digits_run, "--onnx", tmp_path / "l.onnx", "--logits")
    assert code == 0
    proto = onnx.load(tmp_path / "l.onnx")
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["chainrule.task"] == "classification" and meta["chainrule.output"] == "outputs"
    assert [n.op_type for n in proto.graph.node][:2] == ["Sub", "Div"]  # standardization
    assert proto.graph.node[-1].op_type == "Gemm"  # no softmax


def test_regression_runs_export_their_predictions(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(loc=[100.0, -5.0, 0.0], scale=[10.0, 1.0, 0.1], size=(200, 3))
    y = x @ [0.02, 1.0, 5.0] + 0.1 * rng.normal(size=200)
    np.savetxt(tmp_path / "reg.csv", np.column_stack([x, y]), delimiter=",", fmt="%.17g")
    folder = tmp_path / "reg"
    _run(folder, data=str(tmp_path / "reg.csv"), activation="elu", loss="mse")
    code, _, err = _cli("export", folder, "--onnx", tmp_path / "r.onnx")
    assert code == 0 and "-> outputs" in err
    got = _onnx(tmp_path / "r.onnx", x[:20])
    _, _, printed = _predict_csv(folder, x[:20], tmp_path)
    np.testing.assert_allclose(got[:, 0], [float(v) for v in printed], rtol=1e-5, atol=1e-6)
    code, _, err = _cli("export", folder, "--onnx", tmp_path / "l.onnx", "--logits")
    assert code == 2 and "--logits: only a classifier has logits" in err


def test_safetensors_and_torch_outputs(digits_run, tmp_path):
    torch = pytest.importorskip("torch")
    from chainrule.experiment.run_folder import restore_model

    code, _, err = _cli(
        "export",
        digits_run,
        "--safetensors",
        tmp_path / "w.safetensors",
        "--torch",
        tmp_path / "w.pt",
    )
    assert code == 0, err
    model, *_ = restore_model(digits_run)
    back = cr.load(tmp_path / "w.safetensors")
    assert repr(back) == repr(model)
    state = torch.load(tmp_path / "w.pt", weights_only=True)
    for key, value in model.state_dict().items():
        assert np.array_equal(state[key.removeprefix("layers.")].numpy(), value)
    # a model file is a valid export source too
    code, _, err = _cli("export", tmp_path / "w.safetensors", "--onnx", tmp_path / "m.onnx")
    assert code == 0 and "inputs -> outputs" in err


def test_usage_errors_are_one_line(digits_run, tmp_path):
    code, _, err = _cli("export", digits_run)
    assert code == 2 and err == (
        "chainrule export: error: nothing to write: give --onnx FILE, --safetensors FILE "
        "or --torch FILE\n"
    )
    with pytest.raises(SystemExit):  # argparse: the two are exclusive
        _cli("export", digits_run, "--onnx", tmp_path / "m.onnx", "--logits", "--probabilities")


def test_a_bare_state_dict_has_nothing_to_export(tmp_path):
    cr.save(cr.nn.MLP([3, 2]).state_dict(), tmp_path / "sd.safetensors")
    code, _, err = _cli("export", tmp_path / "sd.safetensors", "--onnx", tmp_path / "x.onnx")
    assert code == 2 and "holds neither a model" in err and err.count("\n") == 1
    assert not (tmp_path / "x.onnx").exists()


def test_a_float64_run_exports_a_float64_graph(tmp_path):
    from chainrule.data.prepare import prepare_inputs
    from chainrule.experiment.run_folder import restore_model
    from chainrule.train.loop import predict

    _run(tmp_path / "f64", dtype="float64", activation="sigmoid")
    assert _cli("export", tmp_path / "f64", "--onnx", tmp_path / "d.onnx", "--logits")[0] == 0
    raw = load_dataset("digits").X_test[:50].astype(np.float64)
    got = _onnx(tmp_path / "d.onnx", raw)
    model, config, data_state, _ = restore_model(tmp_path / "f64")
    assert config.dtype == "float64"
    want = predict(model, prepare_inputs(raw, data_state, np.float64))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
