"""``chainrule gradcheck --model FILE`` and ``chainrule explain --model FILE`` on models
that came from PyTorch (a ``torch.save`` state dict, a ``safetensors.torch.save_file``
file), from ``cr.save`` and from a run folder — gradients compared with torch's own."""

import json
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


# --- explain ----------------------------------------------------------------------------
def narrated_gradients(text):
    """``{name: array}`` from the narration's table "Gradients of L with respect to…"."""
    table = text.split("Gradients of L with respect to every input")[1].split("\n\n")[0]
    found = re.findall(r"∂L/∂(\w+) = (\[.*\])", table)
    return {k: np.array(json.loads(v.replace("−", "-"))) for k, v in found}


@pytest.mark.parametrize("how", ["pt", "safetensors"])
def test_explain_narrates_torchs_gradients(capsys, tmp_path, how):
    seq = torch_mlp(torch.nn.Tanh, sizes=(3, 4, 2), seed=3)  # W0 is 4x3: written out in full
    path = save_torch(seq, tmp_path, how)
    x = np.array([[0.5, -1.0, 2.0]])
    want, _ = torch_grads(seq, x, np.array([1]))
    code, out, err = run(
        capsys,
        "explain",
        "--model",
        path,
        "--activation",
        "tanh",
        "--input",
        "0.5,-1,2",
        "--label",
        "1",
        "--precision",
        "17",
    )
    assert code == 0, err
    got = narrated_gradients(out)
    names = {"W0": "0.weight", "b0": "0.bias", "W1": "2.weight", "b1": "2.bias"}
    assert "W0 = 0.weight, b0 = 0.bias, W1 = 2.weight, b1 = 2.bias" in out
    for leaf, param in names.items():
        np.testing.assert_allclose(got[leaf], want[param], rtol=1e-13, atol=1e-16)
    assert out.count("✓ agree") == 6 and "DIFFER" not in out
    assert "δ1 = δ2·W1 • tanh'(a1)" in out and "∂L/∂W1 = δ2ᵀ·h1" in out


def test_explain_a_run_on_a_data_row_writes_the_page(capsys, tmp_path):
    run_dir = tmp_path / "run"
    argv = ["--data", "digits", "--layers", "8", "--epochs", "1", "--out", str(run_dir)]
    assert main(["train", *argv, "--quiet", "--no-plots"]) == 0
    page = tmp_path / "page.html"
    code, out, err = run(
        capsys,
        "explain",
        "--model",
        str(run_dir),
        "--data",
        "digits",
        "--row",
        "2",
        "--html",
        str(page),
        "--layout",
        "builtin",
    )
    assert code == 0, err
    assert "x: row 2 of digits test, standardized as in the run" in out
    assert "W0 = layers.0.weight" in out and "✓ agree" in out and "DIFFER" not in out
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    # the label is the data's: the same as cr.explain of the run's model on that row
    from chainrule.data import load_dataset
    from chainrule.data.prepare import prepare_inputs
    from chainrule.experiment import restore_model
    from chainrule.explain.network import explain_model

    model, config, data_state, _ = restore_model(str(run_dir))
    splits = load_dataset("digits")
    xrow = prepare_inputs(splits.X_test[2:3], data_state, np.dtype(config.dtype))
    expl = explain_model(model, xrow, int(splits.y_test[2]))
    assert f"label y = class {int(splits.y_test[2])};" in out
    from chainrule.explain import fmt

    assert f"∂L/∂b1 = {fmt.array(expl.gradients['b1'], 4)}" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--input", "1,2"], "--input has 2 numbers, but the model takes 4 features"),
        (["--input", "1,2,3,4", "--label", "7"], "label 7 is out of range for a model with 3"),
        (["--input", "1,2,3,4", "--loss", "mse"], "--label: give the target values"),
        ([], "give the example: --input ROW"),
        (["--input", "1,x,3,4"], "--input: expected comma-separated numbers"),
        (["--input", "1,2,3,4", "--row", "2"], "--row goes with --data"),
    ],
)
def test_explain_model_errors_are_one_line(capsys, tmp_path, argv, message):
    path = save_torch(torch_mlp(sizes=(4, 8, 3)), tmp_path, "pt")
    code, out, err = run(capsys, "explain", "--model", path, "--activation", "tanh", *argv)
    assert code == 2 and out == ""
    assert err.startswith("chainrule explain: error: ") and err.count("\n") == 1
    assert message in err
    code, _, err = run(capsys, "explain", "--activation", "tanh", "x*y", "--at", "x=1,y=2")
    assert code == 2 and "--activation goes with --model FILE" in err


def test_from_torch_keeps_a_reused_activation_and_refuses_shared_weights():
    act = torch.nn.Tanh()
    torch.manual_seed(0)
    seq = torch.nn.Sequential(
        torch.nn.Linear(3, 4), act, torch.nn.Linear(4, 4), act, torch.nn.Linear(4, 2)
    ).double()
    model = cr.nn.from_torch(seq)  # the one Tanh object stands at 1 and at 3
    assert [type(m).__name__ for m in model] == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    x = np.random.default_rng(0).standard_normal((2, 3))
    np.testing.assert_allclose(
        model(cr.tensor(x)).numpy(), seq(torch.from_numpy(x)).detach().numpy(), rtol=1e-13
    )
    shared = torch.nn.Linear(3, 3)
    with pytest.raises(TypeError, match="Linear 0 is used again at 2; shared weights"):
        cr.nn.from_torch(torch.nn.Sequential(shared, torch.nn.ReLU(), shared))


def test_a_chainrule_mlp_state_dict_keeps_its_names(capsys, tmp_path):
    mlp = cr.nn.MLP([3, 5, 2], activation="relu", dtype="float64")
    cr.save(mlp.state_dict(), tmp_path / "sd.safetensors")
    model = read_model(tmp_path / "sd.safetensors", activation="relu").model
    assert list(model._modules) == ["layers.0", "layers.1", "layers.2"]
    x = np.random.default_rng(0).standard_normal((4, 3))
    np.testing.assert_array_equal(model(cr.tensor(x)).numpy(), mlp(cr.tensor(x)).numpy())
    code, out, _ = run(
        capsys, "gradcheck", "--model", str(tmp_path / "sd.safetensors"), "--activation", "relu"
    )
    assert code == 0 and "layers.0.weight  5x3" in out
