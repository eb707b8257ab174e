"""cr.onnx.export: every activation, dtype and output form, checked by onnx.checker and run
in onnxruntime against chainrule's own forward pass."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.interop import onnx as cr_onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

ACTIVATIONS = ["relu", "leaky_relu", "tanh", "sigmoid", "elu", "gelu", "gelu_tanh", "identity"]
# float32: onnxruntime's kernels against NumPy's, a few ulps; float64: exact but for GELU,
# whose erf runs in float32 inside onnxruntime (no double Erf kernel)
TOLERANCE = {"float32": 1e-6, "float64": 1e-12}


def _run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: x})
    return out


def _inputs(dtype, n=7, features=5, seed=0):
    # wide enough to reach both sides of every kink and the saturated tails
    return (3 * np.random.default_rng(seed).normal(size=(n, features))).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_matches_chainrule_in_onnxruntime(tmp_path, activation, dtype):
    cr.manual_seed(3)
    model = cr.nn.MLP([5, 16, 9, 4], activation=activation, dropout=0.3, dtype=dtype)
    model.train()  # export is the eval-mode model whatever the mode
    x = _inputs(dtype)
    path = tmp_path / "m.onnx"
    proto = cr_onnx.export(model, x, path)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    assert proto.opset_import[0].version == cr_onnx.OPSET
    want = model.eval()(cr.tensor(x)).data
    got = _run(path, x)
    assert got.dtype == np.dtype(dtype) and got.shape == (7, 4)
    tol = 1e-8 if (activation == "gelu" and dtype == "float64") else TOLERANCE[dtype]
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_output_gives_chainrules_probabilities(tmp_path, dtype):
    cr.manual_seed(0)
    model = cr.nn.MLP([5, 8, 3], activation="tanh", dtype=dtype)
    x = _inputs(dtype)
    cr_onnx.export(model, x, tmp_path / "p.onnx", softmax=True)
    want = cr.nn.functional.softmax(model(cr.tensor(x)), dim=-1).data
    got = _run(tmp_path / "p.onnx", x)
    np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE[dtype])
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("last", [cr.nn.Softmax(dim=1), cr.nn.LogSoftmax(dim=-1)])
def test_models_that_end_in_a_softmax_layer(tmp_path, last):
    cr.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Linear(5, 6), cr.nn.ELU(0.7), cr.nn.Linear(6, 3), last)
    x = _inputs("float32")
    cr_onnx.export(model, x, tmp_path / "s.onnx")
    np.testing.assert_allclose(_run(tmp_path / "s.onnx", x), model(cr.tensor(x)).data, atol=1e-6)
    with pytest.raises(ValueError, match="already ends in"):
        cr_onnx.export(model, x, tmp_path / "twice.onnx", softmax=True)


def test_the_batch_axis_is_dynamic(tmp_path):
    cr.manual_seed(0)
    model = cr.nn.MLP([5, 4, 2], bias=False)
    cr_onnx.export(model, _inputs("float32", n=1), tmp_path / "b.onnx")
    session = ort.InferenceSession(str(tmp_path / "b.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["batch", 5]
    for n in (1, 2, 33):
        x = _inputs("float32", n=n, seed=n)
        np.testing.assert_allclose(
            _run(tmp_path / "b.onnx", x), model(cr.tensor(x)).data, atol=1e-6
        )


def test_standardization_is_baked_in_and_takes_raw_float64_inputs(tmp_path):
    from chainrule.data import Standardizer

    rng = np.random.default_rng(0)
    raw = rng.normal(
        loc=[123456.7, -3.0, 0.0, 50.0, 1e-3], scale=[0.01, 2.0, 1.0, 10.0, 1e-4], size=(40, 5)
    )
    standardizer = Standardizer().fit(raw)
    cr.manual_seed(0)
    model = cr.nn.MLP([5, 8, 3], activation="relu")
    cr_onnx.export(model, raw[:1], tmp_path / "z.onnx", standardize=standardizer, softmax=True)
    # what chainrule predict does: standardize in float64, then cast to the model's dtype
    ready = standardizer.transform(raw).astype(np.float32)
    want = cr.nn.functional.softmax(model(cr.tensor(ready)), dim=-1).data
    got = _run(tmp_path / "z.onnx", raw)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_unsupported_modules_are_refused_by_name(tmp_path):
    class Custom(cr.nn.Module):
        def forward(self, x):
            return x

    x = _inputs("float32")
    with pytest.raises(TypeError, match="Custom at 1 is not supported"):
        cr_onnx.export(cr.nn.Sequential(cr.nn.Linear(5, 2), Custom()), x, tmp_path / "c.onnx")
    with pytest.raises(TypeError, match=r"cr\.onnx\.export: Custom is not supported"):
        cr_onnx.export(Custom(), x, tmp_path / "c.onnx")
    with pytest.raises(ValueError, match=r"shape \(batch, 5\), got \(7, 3\)"):
        cr_onnx.export(cr.nn.MLP([5, 2]), x[:, :3], tmp_path / "c.onnx")
    with pytest.raises(ValueError, match="no Linear layer"):
        cr_onnx.export(cr.nn.Sequential(cr.nn.ReLU()), x, tmp_path / "c.onnx")
    assert not list(tmp_path.iterdir())


def test_the_graph_is_made_of_standard_named_operators(tmp_path):
    cr.manual_seed(0)
    model = cr.nn.MLP([5, 4, 2], activation="relu")
    proto = cr_onnx.export(model, _inputs("float32"), tmp_path / "m.onnx", metadata={"k": "v"})
    assert [n.op_type for n in proto.graph.node] == ["Gemm", "Relu", "Gemm"]
    assert {i.name for i in proto.graph.initializer} == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert {p.key: p.value for p in proto.metadata_props} == {"k": "v"}
    assert proto.producer_name == "chainrule"
