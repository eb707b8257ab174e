"""Explain on click: the page's chain-rule numbers against an independent backward pass
(PyTorch on the same weights and inputs) and against their own identities."""

import numpy as np
import pytest

from chainrule.playground import explain
from chainrule.playground.session import Session
from chainrule.playground.state import validate


@pytest.fixture(scope="module")
def session():
    s = Session(validate({"data": "circles", "layers": [5, 4], "act": "tanh", "lr": 0.1}))
    s.advance(37)
    yield s
    s.close()


def torch_grads(session, example):
    """∂L/∂W, ∂L/∂a per layer for one example, by PyTorch from the page's weights."""
    torch = pytest.importorskip("torch")
    X, y = session.prepared.train
    h = torch.tensor(X[example : example + 1], dtype=torch.float64)
    Ws, pre = [], []
    for k, lin in enumerate(session.model.linears):
        W = torch.tensor(lin.weight.data, dtype=torch.float64, requires_grad=True)
        b = torch.tensor(lin.bias.data, dtype=torch.float64, requires_grad=True)
        a = h @ W.T + b
        a.retain_grad()
        Ws.append(W)
        pre.append(a)
        h = torch.tanh(a) if k < len(session.model.linears) - 1 else a
    loss = torch.nn.functional.cross_entropy(h, torch.tensor(y[example : example + 1]))
    loss.backward()
    return loss.item(), [W.grad.numpy() for W in Ws], [a.grad.numpy()[0] for a in pre], pre


@pytest.mark.parametrize("example", [0, 7])
def test_weight_explanation_matches_an_independent_backward_pass(session, example):
    loss, dW, delta, _ = torch_grads(session, example)
    for layer, to, frm in [(1, 2, 1), (2, 3, 4), (3, 1, 0)]:
        x = explain.explain_weight(session, layer, to, frm, example)
        assert x["loss"] == pytest.approx(loss, rel=1e-5)
        assert x["grad"] == pytest.approx(dW[layer - 1][to, frm], rel=1e-4, abs=1e-7)
        assert x["delta"] == pytest.approx(delta[layer - 1][to], rel=1e-4, abs=1e-7)
        assert x["product"] == pytest.approx(x["grad"], rel=1e-5, abs=1e-8)  # δ·h = ∂L/∂W
        assert x["weight"] == float(session.model.linears[layer - 1].weight.data[to, frm])


def test_unit_explanation_is_upstream_times_local(session):
    _, dW, delta, pre = torch_grads(session, 3)
    x = explain.explain_unit(session, 2, 1, 3)
    a = pre[1].detach().numpy()[0, 1]
    assert x["a"] == pytest.approx(a, rel=1e-5)
    assert x["h"] == pytest.approx(np.tanh(a), rel=1e-5)
    assert x["local"] == pytest.approx(1 - np.tanh(a) ** 2, rel=1e-5)  # tanh' = 1 − h²
    assert x["upstream_sum"] == pytest.approx(x["upstream"], rel=1e-5, abs=1e-8)
    assert x["product"] == pytest.approx(x["delta"], rel=1e-5, abs=1e-8)
    assert x["delta"] == pytest.approx(delta[1][1], rel=1e-4, abs=1e-7)
    np.testing.assert_allclose(x["dW_row"], dW[1][1], rtol=1e-4, atol=1e-7)
    out = explain.explain_unit(session, 3, 0, 3)
    assert out["delta"] == pytest.approx(delta[2][0], rel=1e-4, abs=1e-7)
    assert out["delta"] == pytest.approx(out["softmax"] - (session.prepared.train[1][3] == 0))


def test_explaining_leaves_the_run_alone(session):
    grads = [None if p.grad is None else p.grad.data.copy() for p in session.model.parameters()]
    explain.explain_weight(session, 1, 0, 0, 2)
    after = [None if p.grad is None else p.grad.data for p in session.model.parameters()]
    for g0, g1 in zip(grads, after):
        assert (g0 is None and g1 is None) or np.array_equal(g0, g1)


def test_bad_targets_are_named(session):
    with pytest.raises(ValueError, match=r"layer must be 1\.\.3, got 4"):
        explain.explain_unit(session, 4, 0)
    with pytest.raises(ValueError, match=r"W1 has shape 5×2, no entry \[5, 0\]"):
        explain.explain_weight(session, 1, 5, 0)
    with pytest.raises(ValueError, match="example must be"):
        explain.explain_unit(session, 1, 0, 10**6)
