"""PyTorch in and out: torch -> chainrule -> torch is the identity, gradients equal torch's,
traced modules convert or are refused by name, and an imported model can be explained,
diagnosed and gradient-checked."""

import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule.interop import CheckpointError, load

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

LAYERS = [
    nn.ReLU(),
    nn.LeakyReLU(0.2),
    nn.Tanh(),
    nn.Sigmoid(),
    nn.ELU(0.7),
    nn.GELU(),
    nn.GELU(approximate="tanh"),
    nn.Identity(),
]


def _twin(activation, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(5, 7), activation, nn.Dropout(0.2), nn.Linear(7, 4), nn.LogSoftmax(dim=1)
    ).to(dtype)


def _x(dtype=np.float64, n=6, seed=0):
    return (2 * np.random.default_rng(seed).normal(size=(n, 5))).astype(dtype)


@pytest.mark.parametrize("activation", LAYERS, ids=lambda m: repr(m))
def test_torch_to_chainrule_to_torch_is_the_identity(activation):
    original = _twin(activation).eval()
    model = cr.nn.from_torch(original)
    assert isinstance(model, cr.nn.Sequential) and not model.training
    back = model.to_torch()
    assert repr(back) == repr(original)
    a, b = original.state_dict(), back.state_dict()
    assert list(a) == list(b) == list(model.state_dict())
    for key in a:
        assert a[key].dtype == b[key].dtype == torch.float64
        assert torch.equal(a[key], b[key]), key
    x = _x()
    want = original(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(model(cr.tensor(x)).data, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(back(torch.from_numpy(x)).detach().numpy(), want)


@pytest.mark.parametrize("activation", LAYERS, ids=lambda m: repr(m))
def test_gradients_equal_torchs(activation):
    original = _twin(activation).eval()
    model = cr.nn.from_torch(original).eval()
    x, y = _x(), np.array([0, 1, 2, 3, 1, 0])
    tx = torch.from_numpy(x).requires_grad_(True)
    F.nll_loss(original(tx), torch.from_numpy(y)).backward()
    cx = cr.tensor(x, requires_grad=True)
    cr.nn.functional.nll_loss(model(cx), y).backward()
    for (name, p), (tname, tp) in zip(model.named_parameters(), original.named_parameters()):
        assert name == tname
        np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cx.grad.data, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_float32_modules_stay_float32_and_other_dtypes_are_refused():
    model = cr.nn.from_torch(nn.Sequential(nn.Linear(3, 2)))
    assert model[0].weight.dtype == np.float32
    with pytest.raises(TypeError, match=r"torch.float16.*\.float\(\)"):
        cr.nn.from_torch(nn.Sequential(nn.Linear(3, 2).half()))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(5, 8)
        self.fc2 = nn.Linear(8, 8)
        self.out = nn.Linear(8, 3)

    def forward(self, x):
        h = F.leaky_relu(self.fc1(x), 0.1)
        h = torch.tanh(self.fc2(h)).sigmoid()
        return F.softmax(self.out(h), dim=1)


def test_a_traced_chain_converts_with_its_names():
    torch.manual_seed(1)
    net = Net().double()
    model = cr.nn.from_torch(net)
    assert [type(m).__name__ for m in model] == [
        "Linear",
        "LeakyReLU",
        "Linear",
        "Tanh",
        "Sigmoid",
        "Linear",
        "Softmax",
    ]
    assert model[1].negative_slope == 0.1 and model[-1].dim == 1
    model.load_state_dict(net.state_dict())  # the same names: fc1.weight, ...
    x = _x()
    np.testing.assert_allclose(
        model(cr.tensor(x)).data, net(torch.from_numpy(x)).detach().numpy(), rtol=1e-12
    )


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 5)

    def forward(self, x):
        return x + self.fc(x)


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 5)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x)
        return x


class Reshape(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 5)

    def forward(self, x):
        return self.fc(x).flatten(1)


class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 5)

    def forward(self, x):
        return self.fc(torch.relu(self.fc(x)))


@pytest.mark.parametrize(
    "module, message",
    [
        (
            Residual(),
            r"not a chain of layers: operation 'fc' .* and operation 'add' .* both take 'x'",
        ),
        (Branchy(), r"Branchy.forward cannot be traced safely by torch.fx"),
        (Reshape(), r"uses operation 'flatten' \(.flatten\(\)\)"),
        (Twice(), r"calls self.fc twice"),
        (nn.Sequential(nn.Linear(5, 5), nn.BatchNorm1d(5)), r"BatchNorm1d at 1 has no chainrule"),
        (nn.Sequential(nn.Linear(5, 5), nn.Softmax()), r"Softmax\(dim=None\) has no fixed axis"),
        (nn.Conv1d(1, 1, 3), r"Conv1d.forward"),
    ],
)
def test_what_does_not_convert_is_refused_by_name(module, message):
    with pytest.raises(TypeError, match=message):
        cr.nn.from_torch(module)


def test_load_state_dict_takes_torch_tensors_even_ones_that_require_grad():
    torch.manual_seed(0)
    twin = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    model = cr.nn.MLP([4, 3, 2], activation="tanh")
    model.layers.load_state_dict(twin.state_dict())
    model.layers.load_state_dict(dict(twin.named_parameters()))  # leaves with grad
    np.testing.assert_array_equal(model.layers[2].bias.data, twin[2].bias.detach().numpy())
    with pytest.raises(RuntimeError, match=r"missing keys: layers\.0\.weight"):
        model.load_state_dict(twin.state_dict())  # an MLP's own names are layers.k


def test_an_mlp_goes_to_torch_as_its_sequential():
    cr.manual_seed(0)
    model = cr.nn.MLP([4, 6, 2], activation="gelu", dropout=0.5)
    twin = model.to_torch()
    assert list(twin.state_dict()) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert twin.training and isinstance(twin[2], nn.Dropout) and twin[2].p == 0.5
    with pytest.raises(TypeError, match="to_torch: BCELoss at 1 is not supported"):
        cr.nn.Sequential(cr.nn.Linear(2, 2), cr.nn.BCELoss()).to_torch()


def test_pt_files_load_through_torch_weights_only(tmp_path):
    torch.manual_seed(0)
    twin = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    torch.save(twin.state_dict(), tmp_path / "w.pt")
    state = load(tmp_path / "w.pt")
    assert all(isinstance(v, np.ndarray) for v in state.values())
    model = cr.nn.MLP([4, 3, 2])
    model.layers.load_state_dict(state)
    np.testing.assert_array_equal(model.layers[0].weight.data, twin[0].weight.detach().numpy())

    torch.save(twin, tmp_path / "whole.pt")  # a pickled module: refused, not unpickled
    with pytest.raises(CheckpointError, match=r"whole.pt: torch.load\(weights_only=True\) refuses"):
        load(tmp_path / "whole.pt")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match=r"junk\.pth is not a readable PyTorch file"):
        load(tmp_path / "junk.pth")


def test_pt_files_without_torch_get_one_line(tmp_path, monkeypatch):
    (tmp_path / "w.pt").write_bytes(b"PK\x03\x04 whatever")
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    with pytest.raises(CheckpointError, match=r"needs PyTorch \(pip install torch\)") as e:
        load(tmp_path / "w.pt")
    assert "\n" not in str(e.value)
    with pytest.raises(ModuleNotFoundError, match="needs PyTorch"):
        cr.nn.from_torch(object())


# --- an imported model in chainrule's tools ---------------------------------------------
def _imported(seed=0):
    torch.manual_seed(seed)
    twin = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 3))
    return twin.double(), cr.nn.from_torch(twin.double())


def test_explain_narrates_an_imported_model_with_torchs_gradients():
    twin, model = _imported()
    x, y = _x(n=2), np.array([0, 2])
    loss = cr.nn.functional.cross_entropy(model(cr.tensor(x)), y)
    explanation = cr.explain(loss)
    F.cross_entropy(twin(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    text = explanation.text()
    assert "tanh" in text and "relu" in text
    grads = list(explanation.gradients.values())
    for name, p in twin.named_parameters():
        assert any(
            g.shape == p.shape and np.allclose(g, p.grad.numpy(), rtol=1e-10, atol=1e-14)
            for g in grads
        ), name


def test_gradcheck_passes_on_an_imported_model():
    from chainrule.diagnostics import check_model_gradients

    _, model = _imported()
    report = check_model_gradients(
        model, cr.nn.functional.cross_entropy, _x(n=4), np.array([0, 1, 2, 1])
    )
    assert report.passed and [p.name for p in report.params][:2] == ["0.weight", "0.bias"]
    assert max(p.rel_error for p in report.params) < 1e-6


def test_diagnose_reads_a_run_of_an_imported_model(tmp_path):
    from chainrule.diagnostics import GradientFlowMonitor, diagnose, load_run

    _, model = _imported()
    x = _x(n=64, seed=1)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1)
    loader = cr.data.DataLoader(cr.data.ArrayDataset(x, y), batch_size=16, shuffle=True, rng=0)
    monitor = GradientFlowMonitor(every=2)
    cr.train.fit(
        model,
        cr.nn.functional.cross_entropy,
        cr.optim.SGD(model.parameters(), lr=0.1),
        loader,
        3,
        callbacks=[monitor, cr.train.callbacks.MetricsLogger(tmp_path / "metrics.jsonl")],
        run_dir=tmp_path,
    )
    data = load_run(tmp_path)
    report = diagnose(data)
    assert [layer["name"] for layer in data.layers] == ["0", "2", "4"]
    assert report.findings  # something was concluded about the imported layers


def test_nested_sequentials_keep_their_nesting_and_names():
    torch.manual_seed(0)
    inner = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    original = nn.Sequential(inner, nn.Linear(4, 2))
    model = cr.nn.from_torch(original)
    assert list(model.state_dict()) == ["0.0.weight", "0.0.bias", "1.weight", "1.bias"]
    assert repr(model.to_torch()) == repr(original)
    # bfloat16 tensors load too (NumPy has no bfloat16: widened exactly, then cast)
    model.load_state_dict({k: v.bfloat16() for k, v in original.state_dict().items()})
    expected = original[1].bias.detach().bfloat16().float().numpy()
    np.testing.assert_array_equal(model[1].bias.data, expected)
