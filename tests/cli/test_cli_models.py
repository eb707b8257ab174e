"""``chainrule gradcheck --model FILE`` and ``chainrule explain --model FILE`` on models
that came from PyTorch (a ``torch.save`` state dict, a ``safetensors.torch.save_file``
file), from ``cr.save`` and from a run folder — gradients compared with torch's own."""

import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.cli.model_file import read_model

torch = pytest.importorskip("torch")


def torch_mlp(activation=torch.nn.Tanh, sizes=(4, 8, 6, 3), seed=0):
    torch.manual_seed(seed)
    layers = []
    for k, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if k < len(sizes) - 2:
            layers.append(activation())
    return torch.nn.Sequential(*layers).double()


def save_torch(seq, tmp_path, how):
    if how == "pt":
        path = tmp_path / "model.pt"
        torch.save(seq.state_dict(), path)
    else:
        from safetensors.torch import save_file

        path = tmp_path / "model.safetensors"
        save_file(seq.state_dict(), str(path))
    return str(path)


def torch_grads(seq, x, y):
    seq.zero_grad()
    loss = torch.nn.functional.cross_entropy(seq(torch.from_numpy(x)), torch.from_numpy(y))
    loss.backward()
    return {name: p.grad.numpy().copy() for name, p in seq.named_parameters()}, loss.item()


def run(capsys, *argv):
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


# --- gradcheck --------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["pt", "safetensors"])
@pytest.mark.parametrize(
    "activation, name", [(torch.nn.Tanh, "tanh"), (torch.nn.Sigmoid, "sigmoid")]
)
def test_gradcheck_a_torch_state_dict(capsys, tmp_path, how, activation, name):
    seq = torch_mlp(activation)
    path = save_torch(seq, tmp_path, how)
    # the model gradcheck reads computes torch's gradients, parameter by parameter
    source = read_model(path, activation=name, layers="4,8,6,3")
    x = np.random.default_rng(1).standard_normal((5, 4))
    y = np.array([0, 2, 1, 1, 0])
    want, want_loss = torch_grads(seq, x, y)
    loss = cr.nn.functional.cross_entropy(source.model(cr.tensor(x)), y)
    loss.backward()
    got = {n: p.grad.numpy() for n, p in source.model.named_parameters()}
    assert list(got) == list(want)  # torch's names: 0.weight, 0.bias, 2.weight, ...
    for n in want:
        np.testing.assert_allclose(got[n], want[n], rtol=1e-12, atol=1e-15)
    assert abs(loss.item() - want_loss) < 1e-13

    code, out, err = run(capsys, "gradcheck", "--model", path, "--activation", name)
    assert code == 0, err
    assert f"model: {path} (weights: Linear 4-8, " in out
    table = {line.split()[0]: line.split() for line in out.splitlines()[3:9]}
    assert set(table) == set(want)
    assert all(row[-1] == "good" for row in table.values())
    assert "result: PASSED" in out


def test_gradcheck_finds_a_wrong_gradient_in_an_imported_model(capsys, tmp_path, monkeypatch):
    from chainrule.ops.elementwise import TANH

    path = save_torch(torch_mlp(), tmp_path, "pt")
    monkeypatch.setattr(TANH, "vjps", (lambda F, g, ans, x: g * (1 - ans),))  # not 1 − ans²
    code, out, _ = run(capsys, "gradcheck", "--model", path, "--activation", "tanh")
    assert code == 1
    assert "WRONG" in out and "result: FAILED" in out
    assert re.search(r"^0\.weight .* WRONG$", out, re.M)


def test_gradcheck_a_cr_save_model_a_run_and_data_rows(capsys, tmp_path):
    model = cr.nn.from_torch(torch_mlp(torch.nn.ReLU))
    cr.save(model, tmp_path / "m.safetensors")
    code, out, _ = run(capsys, "gradcheck", "--model", str(tmp_path / "m.safetensors"))
    assert code == 0 and "(cr.save model: Linear 4-8, ReLU, Linear 8-6, ReLU, Linear 6-3)" in out

    run_dir = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--data",
                "digits",
                "--layers",
                "16",
                "--epochs",
                "1",
                "--out",
                str(run_dir),
                "--quiet",
                "--no-plots",
            ]
        )
        == 0
    )
    code, out, err = run(
        capsys, "gradcheck", "--model", str(run_dir), "--data", "digits", "--examples", "4"
    )
    assert code == 0, err
    assert "loss: cross-entropy, the run's; on the first 4 rows of digits test" in out
    assert "layers.0.weight  16x64" in out
    assert "float32; checking in float64" in err  # a run trains in float32


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--activation", "tanh", "--layers", "4,5,3"], "--layers 4-5-3 does not match"),
        ([], "holds bare weights (0.weight, 0.bias, 2.weight, 2.bias, ...) and no architecture"),
        (["--activation", "swish"], "unknown activation 'swish'"),
        (["--activation", "tanh", "--init", "he"], "--init: the model of --model comes"),
        (
            ["--activation", "tanh", "--data", "digits"],
            "--data digits has 64 features, but the model takes 4",
        ),
        (["--activation", "tanh", "--examples", "0"], "--examples must be ≥ 1"),
    ],
)
def test_gradcheck_model_errors_are_one_line(capsys, tmp_path, argv, message):
    path = save_torch(torch_mlp(), tmp_path, "pt")
    code, out, err = run(capsys, "gradcheck", "--model", path, *argv)
    assert code == 2 and out == ""
    assert err.startswith("chainrule gradcheck: error: ") and err.count("\n") == 1
    assert message in err


def test_gradcheck_refuses_pickled_models_and_foreign_files(capsys, tmp_path):
    whole = tmp_path / "whole.pt"
    torch.save(torch_mlp(), whole)
    code, _, err = run(capsys, "gradcheck", "--model", str(whole), "--activation", "tanh")
    assert code == 2 and "torch.nn.modules.container.Sequential object, not just tensors" in err
    bn = tmp_path / "bn.pt"
    torch.save(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)).state_dict(), bn)
    code, _, err = run(capsys, "gradcheck", "--model", str(bn), "--activation", "relu")
    assert code == 2 and "'1.weight' (shape (4,)) is not a Linear layer's weight" in err
    code, _, err = run(capsys, "gradcheck", "--model", str(tmp_path / "nope.pt"))
    assert code == 2 and "no such file or run folder" in err


def test_bare_weights_in_name_order_and_nested_torch_checkpoints(tmp_path):
    seq = torch_mlp(sizes=(3, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 2))  # 12 layers: 0, 2, ..., 22
    state = {k: v.numpy() for k, v in seq.state_dict().items()}
    shuffled = dict(sorted(state.items()))  # "10.weight" before "2.weight"
    cr.save(shuffled, tmp_path / "w.safetensors")
    model = read_model(tmp_path / "w.safetensors", activation="tanh").model
    x = np.random.default_rng(0).standard_normal((2, 3))
    np.testing.assert_allclose(
        model(cr.tensor(x)).numpy(), seq(torch.from_numpy(x)).detach().numpy(), rtol=1e-12
    )
    torch.save({"epoch": 3, "model_state_dict": seq.state_dict()}, tmp_path / "ck.pth")
    assert list(read_model(tmp_path / "ck.pth", activation="tanh").model.state_dict()) == list(
        seq.state_dict()
    )
