"""The classic worked examples of backpropagation (the circuit (x + y)·z, the sigmoid
neuron, ‖W x‖², the delta rule of an MLP), reproduced exactly by the engine."""

import numpy as np
import pytest

import chainrule as cr


def leaf(v):
    return cr.tensor(np.asarray(v, dtype=np.float64), requires_grad=True)


def test_add_mul_circuit():
    # f(x, y, z) = (x + y) z at (-2, 5, -4): f = -12, ∇ = (-4, -4, 3)
    x, y, z = leaf(-2.0), leaf(5.0), leaf(-4.0)
    q = x + y
    f = q * z
    f.backward()
    assert f.item() == -12.0
    assert (x.grad.item(), y.grad.item(), z.grad.item()) == (-4.0, -4.0, 3.0)


def test_sigmoid_neuron_and_its_derivative_identity():
    w0, x0, w1, x1, b = leaf(2.0), leaf(-1.0), leaf(-3.0), leaf(-2.0), leaf(-3.0)
    f = (w0 * x0 + w1 * x1 + b).sigmoid()
    f.backward()
    s = f.item()
    assert s == pytest.approx(0.7310585786300049)
    local = (1 - s) * s  # σ' = (1 - σ) σ
    assert local == pytest.approx(0.19661193324148185)
    assert w0.grad.item() == pytest.approx(local * -1.0)
    assert x0.grad.item() == pytest.approx(local * 2.0)
    assert w1.grad.item() == pytest.approx(local * -2.0)
    assert x1.grad.item() == pytest.approx(local * -3.0)
    assert b.grad.item() == pytest.approx(local)
    # the same identity, composed from exp/div instead of the fused sigmoid
    w0c = leaf(2.0)
    g = 1 / (1 + (-(w0c * x0.detach() + w1.detach() * x1.detach() + b.detach())).exp())
    g.backward()
    assert w0c.grad.item() == pytest.approx(w0.grad.item(), rel=1e-12)


def test_add_distributes():
    x, y = leaf(1.5), leaf(-0.5)
    (x + y).backward(gradient=cr.tensor(np.array(2.0)))
    assert x.grad.item() == y.grad.item() == 2.0


def test_mul_switches():
    x, y = leaf(3.0), leaf(-4.0)
    (x * y).backward(gradient=cr.tensor(np.array(2.0)))
    assert x.grad.item() == -8.0  # upstream × the *other* input
    assert y.grad.item() == 6.0


def test_max_routes():
    x, y = leaf(4.0), leaf(2.0)
    cr.maximum(x, y).backward(gradient=cr.tensor(np.array(2.0)))
    assert x.grad.item() == 2.0
    assert y.grad.item() == 0.0  # not sensitive to the lower branch


def test_branches_add():
    x, y = leaf(3.0), leaf(2.0)
    f = x * y + x  # x branches into two uses
    f.backward()
    assert x.grad.item() == 2.0 + 1.0


def test_norm_wx():
    # f(x, W) = ‖W x‖²: ∇W f = 2 q xᵀ, ∇x f = 2 Wᵀ q
    W = leaf([[0.1, 0.5], [-0.3, 0.8]])
    x = leaf([0.2, 0.4])
    q = W @ x
    f = (q * q).sum()
    f.backward()
    qv = q.numpy()
    np.testing.assert_allclose(qv, [0.22, 0.26])
    assert f.item() == pytest.approx(0.116)
    np.testing.assert_allclose(W.grad.numpy(), 2 * np.outer(qv, x.numpy()), rtol=1e-14)
    np.testing.assert_allclose(x.grad.numpy(), 2 * W.numpy().T @ qv, rtol=1e-14)
    np.testing.assert_allclose(W.grad.numpy(), [[0.088, 0.176], [0.104, 0.208]], rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), [-0.112, 0.636], rtol=1e-12)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_mlp_gradients_equal_the_delta_rule(activation):
    """h_{k+1} = g(W_k h_k + b_k), softmax + NLL on top; the engine's gradients must equal
    the slides' recursion: δ_K = p - y, ∂L/∂W_k = δ_{k+1} h_kᵀ, δ_k = W_kᵀ δ_{k+1} • g'(a_k)."""
    rng = np.random.default_rng(3)
    sizes = [4, 5, 3, 3]
    Ws = [rng.standard_normal((m, n)) * 0.7 for n, m in zip(sizes[:-1], sizes[1:])]
    bs = [rng.standard_normal(m) * 0.1 for m in sizes[1:]]
    x = rng.standard_normal(4) + 0.05
    label = 1
    g, dg = {
        "sigmoid": (lambda a: 1 / (1 + np.exp(-a)), lambda a, h: h * (1 - h)),
        "tanh": (np.tanh, lambda a, h: 1 - h**2),
        "relu": (lambda a: np.maximum(a, 0), lambda a, h: (a > 0).astype(float)),
    }[activation]

    # by hand, with the delta rule: δK = p − y, ∂L/∂Wk = δk+1 hkᵀ, δk = Wkᵀ δk+1 • g'(ak)
    hs, as_ = [x], []
    for k, (W, b) in enumerate(zip(Ws, bs)):
        a = W @ hs[-1] + b
        as_.append(a)
        hs.append(a if k == len(Ws) - 1 else g(a))
    p = np.exp(hs[-1] - hs[-1].max())
    p /= p.sum()
    delta = p - np.eye(3)[label]  # δ_K for softmax + negative log-likelihood
    dW, db = [None] * len(Ws), [None] * len(Ws)
    for k in reversed(range(len(Ws))):
        dW[k] = np.outer(delta, hs[k])  # ∂L/∂W_k = δ_{k+1} h_kᵀ
        db[k] = delta
        if k:
            delta = (Ws[k].T @ delta) * dg(as_[k - 1], hs[k])  # δ_k = W_kᵀ δ_{k+1} • g'(a_k)

    # by the engine
    Wt = [leaf(W) for W in Ws]
    bt = [leaf(b) for b in bs]
    h = cr.tensor(x[None, :])
    for k, (W, b) in enumerate(zip(Wt, bt)):
        h = cr.nn.functional.linear(h, W, b)
        if k < len(Wt) - 1:
            h = getattr(h, activation)()
    loss = cr.nn.functional.cross_entropy(h, [label])
    loss.backward()
    assert loss.item() == pytest.approx(-np.log(p[label]))
    for k in range(len(Ws)):
        np.testing.assert_allclose(Wt[k].grad.numpy(), dW[k], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(bt[k].grad.numpy(), db[k], rtol=1e-12, atol=1e-15)
