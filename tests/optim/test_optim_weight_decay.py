"""The weight-decay forms, demonstrated as equivalences between optimizers.

The L2 penalty L = NLL + λ/2‖W‖² (the gradient gains λW), and the unscaled update
θ ← θ − α∇L − λθ (the decay not multiplied by α; ``decay="unscaled"``, formerly
``"lecture"``).
"""

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim

rng = np.random.default_rng(3)
X = rng.standard_normal((20, 4))
y = rng.integers(0, 3, 20)
W0 = rng.standard_normal((3, 4))
b0 = rng.standard_normal(3)


def nll(W, b):
    return cr.nn.functional.cross_entropy(cr.tensor(X) @ W.T + b, cr.tensor(y))


def train(opt_factory, steps=30, l2_by_hand=0.0):
    W, b = cr.nn.Parameter(W0.copy()), cr.nn.Parameter(b0.copy())
    opt = opt_factory([W, b])
    for _ in range(steps):
        opt.zero_grad()
        loss = nll(W, b)
        if l2_by_hand:
            loss = loss + l2_by_hand / 2 * ((W * W).sum() + (b * b).sum())
        loss.backward()
        opt.step()
    return W.data, b.data


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_l2_penalty_in_the_loss_equals_coupled_weight_decay(momentum):
    lam = 0.05
    by_hand = train(lambda ps: optim.SGD(ps, lr=0.1, momentum=momentum), l2_by_hand=lam)
    builtin = train(lambda ps: optim.SGD(ps, lr=0.1, momentum=momentum, weight_decay=lam))
    plain = train(lambda ps: optim.SGD(ps, lr=0.1, momentum=momentum))
    for a, b, c in zip(by_hand, builtin, plain):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
        assert np.max(np.abs(a - c)) > 1e-3  # the decay really did something


def test_l2_penalty_in_the_loss_equals_adam_coupled_weight_decay_not_adamw():
    lam = 0.05
    by_hand = train(lambda ps: optim.Adam(ps, lr=0.01), l2_by_hand=lam)
    coupled = train(lambda ps: optim.Adam(ps, lr=0.01, weight_decay=lam))
    adamw = train(lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=lam))
    np.testing.assert_allclose(by_hand[0], coupled[0], rtol=1e-11, atol=1e-13)
    assert np.max(np.abs(by_hand[0] - adamw[0])) > 1e-4


def test_unscaled_update_one_step_by_hand():
    alpha, lam = 0.1, 0.01
    W, b = cr.nn.Parameter(W0.copy()), cr.nn.Parameter(b0.copy())
    nll(W, b).backward()
    g = W.grad.data.copy()
    optim.SGD([W, b], lr=alpha, weight_decay=lam, decay="unscaled").step()
    np.testing.assert_allclose(W.data, W0 - alpha * g - lam * W0, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("alpha", [0.1, 0.5])
def test_unscaled_form_is_coupled_decay_with_lambda_divided_by_lr(alpha):
    """θ − α∇L − λθ = θ − α(∇L + (λ/α)θ): the forms differ exactly by the lr factor."""
    lam = 0.004
    lecture = train(lambda ps: optim.SGD(ps, lr=alpha, weight_decay=lam, decay="unscaled"))
    coupled_same_lam = train(lambda ps: optim.SGD(ps, lr=alpha, weight_decay=lam))
    coupled_scaled = train(lambda ps: optim.SGD(ps, lr=alpha, weight_decay=lam / alpha))
    for a, b in zip(lecture, coupled_scaled):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert np.max(np.abs(lecture[0] - coupled_same_lam[0])) > 1e-4


def test_decoupled_equals_coupled_without_momentum_but_not_with_it():
    def run(decay, momentum):
        kwargs = dict(lr=0.2, weight_decay=0.03, momentum=momentum, decay=decay)
        return train(lambda ps: optim.SGD(ps, **kwargs))

    np.testing.assert_allclose(run("decoupled", 0.0)[0], run("coupled", 0.0)[0], rtol=1e-12)
    assert np.max(np.abs(run("decoupled", 0.9)[0] - run("coupled", 0.9)[0])) > 1e-4


def test_unscaled_form_with_momentum_shrinks_then_steps():
    """With momentum the unscaled form is θ ← (1 − λ)θ − α·v, v being torch's buffer."""
    alpha, lam, mu = 0.1, 0.01, 0.9
    W, b = cr.nn.Parameter(W0.copy()), cr.nn.Parameter(b0.copy())
    opt = optim.SGD([W, b], lr=alpha, momentum=mu, weight_decay=lam, decay="unscaled")
    theta, v = W0.copy(), None
    for _ in range(5):
        opt.zero_grad()
        nll(W, b).backward()
        g = W.grad.data
        v = g.copy() if v is None else mu * v + g
        theta = (1 - lam) * theta - alpha * v
        opt.step()
    np.testing.assert_allclose(W.data, theta, rtol=1e-13, atol=1e-15)


def test_adamw_is_adam_with_decoupled_decay():
    a = train(lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.1))
    b = train(lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.1, decay="decoupled"))
    np.testing.assert_array_equal(a[0], b[0])


def test_lecture_is_the_old_name_of_unscaled_also_in_saved_state():
    def run(decay):
        return train(lambda ps: optim.SGD(ps, lr=0.1, weight_decay=0.01, decay=decay))

    for a, b in zip(run("lecture"), run("unscaled")):
        np.testing.assert_array_equal(a, b)
    W = cr.nn.Parameter(W0.copy())
    opt = optim.SGD([W], lr=0.1, weight_decay=0.01, decay="lecture")
    assert opt.param_groups[0]["decay"] == "unscaled"
    # a state_dict saved before the rename still decays after loading
    state = opt.state_dict()
    state["param_groups"][0]["decay"] = "lecture"
    fresh = optim.SGD([W], lr=0.1, weight_decay=0.01)
    fresh.load_state_dict(state)
    before = W.data.copy()
    W.grad = cr.zeros_like(W)
    fresh.step()
    np.testing.assert_allclose(W.data, before * (1 - 0.01), rtol=1e-15)
