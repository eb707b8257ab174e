"""``explain_model``: a model on one example, its gradients against PyTorch's, and the delta
rule by hand (chainrule/explain/network.py) agreeing with the engine for every layer kind."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.explain import examples
from chainrule.explain.network import explain_model, model_layers

torch = pytest.importorskip("torch")
tnn = torch.nn

ACTIVATIONS = [
    tnn.Tanh(),
    tnn.Sigmoid(),
    tnn.ReLU(),
    tnn.LeakyReLU(0.1),
    tnn.ELU(0.7),
    tnn.GELU(),
    tnn.GELU(approximate="tanh"),
]


def torch_grads(seq, x, target, loss):
    seq.zero_grad()
    out = seq(torch.from_numpy(x))
    if loss == "cross-entropy":
        value = tnn.functional.cross_entropy(out, torch.tensor([target]))
    else:
        value = tnn.functional.mse_loss(
            out, torch.from_numpy(np.asarray(target)).reshape(out.shape)
        )
    value.backward()
    return {n: p.grad.numpy() for n, p in seq.named_parameters()}


def check(seq, x, target=None, loss="cross-entropy", delta_rows=None):
    model = cr.nn.from_torch(seq)
    expl = explain_model(model, x, target, loss=loss)
    if target is None:
        target = int(seq(torch.from_numpy(x)).argmax())
        assert f"label y = class {target} (the model's prediction)" in expl.subtitle
    want = torch_grads(seq, x, target, loss)
    _, names = model_layers(model)
    assert set(names.values()) == set(want)
    for leaf, param in names.items():
        np.testing.assert_allclose(expl.gradients[leaf], want[param], rtol=1e-10, atol=1e-14)
    text = expl.text()
    assert "DIFFER" not in text
    if delta_rows is not None:
        assert text.count("✓ agree") == delta_rows
    return expl, text


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=lambda a: repr(a))
def test_gradients_equal_torchs_and_the_hand_rule_agrees(activation):
    torch.manual_seed(0)
    seq = tnn.Sequential(
        tnn.Linear(5, 6), activation, tnn.Linear(6, 4), activation, tnn.Linear(4, 3)
    ).double()
    x = np.random.default_rng(1).standard_normal((1, 5))
    # δ3, W2, b2, δ2, W1, b1, δ1, W0, b0
    _, text = check(seq, x, 2, delta_rows=9)
    assert "1. error in the top layer (softmax + NLL)" in text
    assert "2. again, one layer down (h0 = x)" in text


def test_mse_a_softmax_output_dropout_and_no_activation_between_layers():
    torch.manual_seed(2)
    seq = (
        tnn.Sequential(
            tnn.Linear(3, 4),
            tnn.Dropout(0.5),  # the eval-mode forward: left out
            tnn.Linear(4, 4),
            tnn.Tanh(),
            tnn.Linear(4, 2),
            tnn.Softmax(dim=1),
        )
        .double()
        .eval()
    )
    x = np.array([[0.3, -1.2, 0.8]])
    expl, text = check(seq, x, np.array([0.25, 0.75]), loss="mse", delta_rows=9)
    assert "back through softmax" in text
    assert "3. backpropagate the error (no activation: g' = 1)" in text
    assert "L = mean((h3 − y)²)" in expl.subtitle


def test_a_log_softmax_output_and_stacked_activations():
    torch.manual_seed(3)
    seq = tnn.Sequential(
        tnn.Linear(4, 5), tnn.ReLU(), tnn.Tanh(), tnn.Linear(5, 3), tnn.LogSoftmax(dim=1)
    ).double()
    x = np.array([[1.0, -0.5, 0.25, 2.0]])
    _, text = check(seq, x, 1, delta_rows=6)
    assert "δ1 = δ2·W1 • (tanh∘relu)'(a1)" in text


def test_the_predicted_class_is_the_default_label():
    torch.manual_seed(4)
    seq = tnn.Sequential(tnn.Linear(2, 3), tnn.Sigmoid(), tnn.Linear(3, 4)).double()
    check(seq, np.array([[0.7, -0.1]]))


def test_a_float32_model_is_explained_in_float64_without_changing_it():
    torch.manual_seed(5)
    seq = tnn.Sequential(tnn.Linear(3, 3), tnn.Tanh(), tnn.Linear(3, 2))
    model = cr.nn.from_torch(seq)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    expl = explain_model(model, [0.1, 0.2, 0.3], 0)
    assert expl.gradients["W0"].dtype == np.float64
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        assert v.dtype == np.float32 and np.array_equal(v, before[k])
    want = torch_grads(seq.double(), np.array([[0.1, 0.2, 0.3]]), 0, "cross-entropy")
    np.testing.assert_allclose(expl.gradients["W1"], want["2.weight"], rtol=1e-12)


def test_the_mlp_example_is_the_same_network_in_columns():
    """The slides' example goes through the same code: its hand rule matches the engine."""
    expl = examples.get("mlp").explain()
    hand = examples.delta_rule(expl.values)
    assert set(hand) == {"p", "a2", "W1", "b1", "a1", "W0", "b0"}
    assert expl.subtitle.startswith("h0 = x, a1 = W0·h0 + b0, h1 = σ(a1), a2 = W1·h1 + b1")


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda m: explain_model(m, [1.0, 2.0], 0),
            "the example has 2 features, the model takes 3",
        ),
        (lambda m: explain_model(m, [1.0, 2.0, 3.0], 5), "label 5 is out of range"),
        (lambda m: explain_model(m, [1.0, 2.0, 3.0], loss="mse"), "give the target values"),
        (lambda m: explain_model(m, [1.0, 2.0, 3.0], 0, loss="hinge"), "loss must be"),
    ],
)
def test_bad_calls(call, message):
    model = cr.nn.MLP([3, 4, 2], activation="tanh", dtype="float64")
    with pytest.raises(ValueError, match=message):
        call(model)
