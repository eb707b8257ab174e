"""MLP construction, initialization by name, per-layer access for diagnostics, training to
near-zero loss; the regularization helpers; nn.utils; the init_symmetry example's claims."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn, optim

ROOT = Path(__file__).resolve().parents[2]


def test_mlp_layers_are_linear_then_activation():
    model = nn.MLP([4, 8, 6, 3], activation="relu")
    kinds = [type(m).__name__ for m in model.layers]
    assert kinds == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert [(m.in_features, m.out_features) for m in model.linears] == [(4, 8), (8, 6), (6, 3)]
    assert [type(a).__name__ for a in model.activations] == ["ReLU", "ReLU"]
    assert model.num_parameters() == 4 * 8 + 8 + 8 * 6 + 6 + 6 * 3 + 3


def test_mlp_forward_graph_is_one_linear_node_plus_one_activation_per_layer():
    model = nn.MLP([4, 8, 6, 3], activation="tanh")
    out = model(cr.randn(5, 4))
    ops, t = [], out
    while t.op is not None:
        ops.append(t.op.name)
        t = t.parents[0]
    assert ops[::-1] == ["linear", "tanh", "linear", "tanh", "linear"]


def test_mlp_matches_the_lecture_equations():
    model = nn.MLP([3, 5, 2], activation="sigmoid", dtype="float64")
    x = np.random.default_rng(0).standard_normal((4, 3))
    W1, b1 = model.linears[0].weight.numpy(), model.linears[0].bias.numpy()
    W2, b2 = model.linears[1].weight.numpy(), model.linears[1].bias.numpy()
    h = 1 / (1 + np.exp(-(x @ W1.T + b1)))  # h_1 = g(W_1 h_0 + b_1), row by row
    np.testing.assert_allclose(model(cr.tensor(x)).numpy(), h @ W2.T + b2, rtol=1e-12)


def test_activation_list_modules_and_output_activation():
    model = nn.MLP(
        [2, 3, 3, 3, 2],
        activation=["tanh", nn.LeakyReLU(0.2), nn.GELU],
        output_activation="softmax",
    )
    kinds = [type(m).__name__ for m in model.layers]
    assert kinds == ["Linear", "Tanh", "Linear", "LeakyReLU", "Linear", "GELU", "Linear", "Softmax"]
    assert model.layers[3].negative_slope == 0.2
    np.testing.assert_allclose(model(cr.randn(4, 2)).numpy().sum(axis=1), 1.0, rtol=1e-6)
    assert [type(a).__name__ for a in model.activations] == ["Tanh", "LeakyReLU", "GELU"]
    with pytest.raises(ValueError, match="2 activations given for 3 hidden layers"):
        nn.MLP([2, 3, 3, 3, 2], activation=["tanh", "relu"])
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        nn.MLP([2, 3, 1], activation="swish")
    with pytest.raises(ValueError, match="at least two"):
        nn.MLP([3])


def test_dropout_layers_follow_hidden_activations():
    model = nn.MLP([4, 8, 8, 2], dropout=0.25)
    kinds = [type(m).__name__ for m in model.layers]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert model.layers[2].p == 0.25
    model.eval()
    x = cr.randn(3, 4)
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())
    assert len(model.activations) == 2


def test_return_hidden_gives_pre_and_post_activations_in_the_graph():
    cr.manual_seed(0)
    model = nn.MLP([3, 6, 4, 2], activation="relu", dropout=0.5, dtype="float64")
    x = cr.randn(5, 3, dtype="float64")
    cr.manual_seed(1)
    out, hidden = model(x, return_hidden=True)
    cr.manual_seed(1)
    np.testing.assert_array_equal(out.numpy(), model(x).numpy())  # same forward
    assert len(hidden) == 2 and isinstance(hidden[0], nn.Hidden)
    a1, h1 = hidden[0]
    expected = x.numpy() @ model.linears[0].weight.numpy().T + model.linears[0].bias.numpy()
    np.testing.assert_allclose(a1.numpy(), expected)
    np.testing.assert_array_equal(h1.numpy(), np.maximum(a1.numpy(), 0))  # before dropout
    assert hidden[1].pre.shape == (5, 4)
    for hid in hidden:
        hid.pre.retain_grad()
    F.cross_entropy(out, [0, 1, 0, 1, 1]).backward()
    dead = hidden[0].pre.numpy() <= 0
    assert (hidden[0].pre.grad.numpy()[dead] == 0).all()  # ReLU blocks the gradient


INIT_STD = {  # init name -> expected weight std of the first layer (fan_in 300, fan_out 200)
    "he": math.sqrt(2 / 300),
    "kaiming": math.sqrt(2 / 300),
    "he_uniform": math.sqrt(2 / 300),
    "xavier": math.sqrt(2) * math.sqrt(2 / 500),
    "glorot_normal": math.sqrt(2) * math.sqrt(2 / 500),
    "lecun": math.sqrt(1 / 300),
    "normal": 0.01,
    "normal:0.3": 0.3,
    "uniform:0.2": 0.2 / math.sqrt(3),
    "default": 1 / math.sqrt(3 * 300),
}


@pytest.mark.parametrize("name", INIT_STD)
def test_mlp_init_by_name_uses_the_activation_gain(name):
    cr.manual_seed(0)
    model = nn.MLP([300, 200, 10], activation="relu", init=name, dtype="float64")
    w = model.linears[0].weight.numpy()
    assert abs(w.std() / INIT_STD[name] - 1) < 0.02
    if name != "default":
        assert (model.linears[0].bias.numpy() == 0).all()


def test_mlp_init_gain_per_activation_and_output_layer():
    cr.manual_seed(0)
    model = nn.MLP([400, 300, 300, 200], activation=["tanh", "sigmoid"], init="he", dtype="float64")
    stds = [lin.weight.numpy().std() for lin in model.linears]
    expected = [5 / 3 / math.sqrt(400), 1 / math.sqrt(300), 1 / math.sqrt(300)]
    np.testing.assert_allclose(stds, expected, rtol=0.02)
    model = nn.MLP([300, 300, 2], activation="tanh", init="orthogonal", dtype="float64")
    W = model.linears[0].weight.numpy()
    np.testing.assert_allclose(W @ W.T, (5 / 3) ** 2 * np.eye(300), atol=1e-10)


def test_mlp_zeros_constant_and_callable_init():
    model = nn.MLP([3, 4, 2], init="zeros")
    assert all((p.numpy() == 0).all() for p in model.parameters())
    model = nn.MLP([3, 4, 2], init="constant:0.5")
    assert all((lin.weight.numpy() == 0.5).all() for lin in model.linears)
    calls = []
    nn.MLP([3, 4, 2], activation="tanh", init=lambda lin, act: calls.append((lin, act)))
    assert [type(a).__name__ if a else None for _, a in calls] == ["Tanh", None]
    with pytest.raises(ValueError, match="unknown init 'magic'"):
        nn.MLP([3, 4, 2], init="magic")


def test_two_layer_mlp_learns_xor_to_near_zero_loss():
    r = np.random.default_rng(0)
    centers = np.array([[1, 1], [-1, -1], [1, -1], [-1, 1]], dtype=float)
    X = np.repeat(centers, 25, axis=0) + 0.15 * r.standard_normal((100, 2))
    y = np.repeat([0, 0, 1, 1], 25)
    cr.manual_seed(0)
    model = nn.MLP([2, 16, 2], activation="tanh", init="xavier", dtype="float64")
    opt = optim.Adam(model.parameters(), lr=0.05)
    x = cr.tensor(X)
    first = None
    for _ in range(300):
        loss = F.cross_entropy(model(x), y)
        first = first or loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first > 0.5 and loss.item() < 1e-2
    assert (model(x).numpy().argmax(1) == y).all()


def test_mlp_regression_on_moons_style_target_with_sgd():
    r = np.random.default_rng(1)
    X = r.uniform(-2, 2, (128, 1))
    Y = np.sin(2 * X)
    cr.manual_seed(1)
    model = nn.MLP([1, 32, 1], activation="tanh", init="xavier", dtype="float64")
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(500):
        loss = F.mse_loss(model(cr.tensor(X)), Y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 5e-3


# ---------------------------------------------------------------- regularization
def test_l2_and_l1_penalties_values_and_gradients():
    model = nn.MLP([3, 4, 2], dtype="float64")
    W = [lin.weight.numpy() for lin in model.linears]
    b = [lin.bias.numpy() for lin in model.linears]
    lam = 0.3
    l2 = nn.l2_penalty(model, lam)
    assert l2.item() == pytest.approx(lam / 2 * sum((w**2).sum() for w in W), rel=1e-12)
    l2.backward()
    for lin in model.linears:
        np.testing.assert_allclose(lin.weight.grad.numpy(), lam * lin.weight.numpy())
        assert lin.bias.grad is None  # biases are not penalized by default
    full = nn.l2_penalty(model, lam, include_bias=True).item()
    assert full == pytest.approx(lam / 2 * sum((a**2).sum() for a in W + b), rel=1e-12)
    l1 = nn.l1_penalty(model, lam)
    assert l1.item() == pytest.approx(lam * sum(np.abs(w).sum() for w in W), rel=1e-12)
    model.zero_grad()
    l1.backward()
    np.testing.assert_array_equal(
        model.linears[0].weight.grad.numpy(), lam * np.sign(model.linears[0].weight.numpy())
    )
    # explicit tensors are used as given; include_bias=False filters the 1-D ones
    explicit = nn.l2_penalty(model.parameters(), 1.0).item()
    assert explicit == pytest.approx(full / lam, rel=1e-12)
    assert nn.l2_penalty(model.parameters(), 1.0, include_bias=False).item() == pytest.approx(
        l2.item() / lam, rel=1e-12
    )
    cr.gradcheck(lambda w: nn.l2_penalty([w], 0.7) + nn.l1_penalty([w], 0.2), [W[0]], order=2)


def test_param_groups_exclude_biases_from_decay():
    model = nn.MLP([3, 4, 2])
    groups = nn.param_groups(model, 1e-3, lr=0.5)
    assert [g["weight_decay"] for g in groups] == [1e-3, 0.0]
    assert [p.ndim for p in groups[0]["params"]] == [2, 2]
    assert [p.ndim for p in groups[1]["params"]] == [1, 1]
    opt = optim.SGD(groups, lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.5]
    assert len(nn.param_groups(nn.MLP([3, 2], bias=False), 0.1)) == 1


# ---------------------------------------------------------------- nn.utils
def test_parameters_vector_round_trip_and_gradient():
    model = nn.MLP([3, 4, 2], dtype="float64")
    vec = nn.utils.parameters_to_vector(model.parameters())
    assert vec.shape == (model.num_parameters(),)
    np.testing.assert_array_equal(vec.numpy()[:12], model.linears[0].weight.numpy().ravel())
    (vec * vec).sum().backward()
    np.testing.assert_allclose(
        model.linears[1].bias.grad.numpy(), 2 * model.linears[1].bias.numpy()
    )
    nn.utils.vector_to_parameters(np.arange(vec.shape[0], dtype=float), model.parameters())
    np.testing.assert_array_equal(model.linears[0].bias.numpy(), np.arange(12, 16))
    with pytest.raises(ValueError, match="elements"):
        nn.utils.vector_to_parameters(np.zeros(3), model.parameters())


def test_clip_grad_reexports_work():
    model = nn.MLP([3, 4, 2], dtype="float64")
    model(cr.randn(8, 3, dtype="float64")).sum().backward()
    grads = np.concatenate([p.grad.numpy().ravel() for p in model.parameters()])
    norm = nn.utils.clip_grad_norm_(model.parameters(), 0.1)
    assert norm == pytest.approx(np.linalg.norm(grads))
    clipped = np.concatenate([p.grad.numpy().ravel() for p in model.parameters()])
    assert np.linalg.norm(clipped) == pytest.approx(0.1, rel=1e-5)
    nn.utils.clip_grad_value_(model.parameters(), 0.01)
    assert max(np.abs(p.grad.numpy()).max() for p in model.parameters()) <= 0.01


# ---------------------------------------------------------------- the example's claims
def _example():
    spec = importlib.util.spec_from_file_location(
        "init_symmetry", ROOT / "examples" / "init_symmetry.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_init_symmetry_example_claims():
    ex = _example()
    zeros, const, rand = ex.train("zeros"), ex.train("constant:0.5"), ex.train("normal:0.5")
    g = zeros["first_grad_norms"]
    # zero init: a critical point for every weight; only the output bias gets a gradient
    assert g["layers.0.weight"] == g["layers.0.bias"] == g["layers.2.weight"] == 0.0
    assert g["layers.2.bias"] > 0.05
    assert (zeros["W1"] == 0).all()  # still exactly zero after 300 steps
    prior = np.bincount(ex.y) / len(ex.y)
    assert zeros["loss"] == pytest.approx(-(prior * np.log(prior)).sum(), abs=1e-3)
    assert zeros["accuracy"] == pytest.approx(prior.max())
    # constant init: every hidden unit is identical after training
    assert const["unit_spread"] < 1e-12
    assert const["first_grad_norms"]["layers.2.weight"] > 0  # yet the model does train
    # random init: units differ and the model fits far better
    assert rand["unit_spread"] > 0.5
    assert rand["accuracy"] > 0.97 and rand["loss"] < const["loss"] / 2
