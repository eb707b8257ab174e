"""Trajectory parity: the same MLP, initial weights and minibatches through chainrule and
torch (float64, 48 steps) give the same losses and final weights, for every optimizer and
variant, with cross-entropy and MSE, and with learning-rate schedules.

A mismatch report names the optimizer, its options and the first step that diverges.
"""

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import optim

torch = pytest.importorskip("torch")

STEPS = 48
BATCH = 16
RTOL = 1e-8

_rng = np.random.default_rng(0)
X = _rng.standard_normal((96, 5))
LABELS = (X[:, 0] * X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.5)  # 3 classes
TARGETS = np.stack([np.sin(X[:, 0]) + X[:, 1], X[:, 2] * X[:, 3]], axis=1)  # regression
# a fixed sequence of minibatches: a new permutation of the data every epoch
BATCHES = [
    idx
    for perm in (np.random.default_rng(1 + e).permutation(96) for e in range(STEPS * BATCH // 96))
    for idx in perm.reshape(-1, BATCH)
]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    # torch's intra-op threads fight the optimizer's threads on small CPUs: 20x slower
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


TORCH_ACT = {"tanh": "Tanh", "relu": "ReLU", "sigmoid": "Sigmoid", "elu": "ELU", "gelu": "GELU"}


def make_models(sizes, activation, seed=0):
    """A chainrule MLP (PyTorch's default init, seeded) and a torch copy of it."""
    cr.manual_seed(seed)
    model = cr.nn.MLP(sizes, activation=activation, dtype="float64")
    layers = []
    for k, lin in enumerate(model.linears):
        t = torch.nn.Linear(lin.in_features, lin.out_features, dtype=torch.float64)
        with torch.no_grad():
            t.weight.copy_(torch.tensor(lin.weight.data))
            t.bias.copy_(torch.tensor(lin.bias.data))
        layers.append(t)
        if k < len(model.linears) - 1:
            layers.append(getattr(torch.nn, TORCH_ACT[activation])())
    return model, torch.nn.Sequential(*layers)


def train_both(model, tmodel, make_opt, make_topt, loss="ce", sched=None, steps=STEPS, penalty=0):
    opt, topt = make_opt(list(model.parameters())), make_topt(list(tmodel.parameters()))
    s = ts = None
    if sched is not None:
        s, ts = sched[0](opt), sched[1](topt)
    ours, theirs = [], []
    for step in range(steps):
        idx = BATCHES[step % len(BATCHES)]
        xb = X[idx]
        out, tout = model(cr.tensor(xb)), tmodel(torch.tensor(xb))
        if loss == "ce":
            L = F.cross_entropy(out, LABELS[idx])
            tL = torch.nn.functional.cross_entropy(tout, torch.tensor(LABELS[idx]))
        else:
            L = F.mse_loss(out, TARGETS[idx])
            tL = torch.nn.functional.mse_loss(tout, torch.tensor(TARGETS[idx]))
        if penalty:
            L = L + cr.nn.l2_penalty(model, penalty)
        opt.zero_grad()
        topt.zero_grad()
        L.backward()
        tL.backward()
        opt.step()
        topt.step()
        if s is not None:
            s.step()
            ts.step()
        ours.append(L.item())
        theirs.append(tL.item())
    return np.array(ours), np.array(theirs)


def assert_same_trajectory(label, model, tmodel, ours, theirs, rtol=RTOL):
    rel = np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-300)
    bad = np.nonzero(rel > rtol)[0]
    assert bad.size == 0, (
        f"{label}: loss diverges from torch at step {bad[0]}: {ours[bad[0]]!r} vs "
        f"{theirs[bad[0]]!r} (relative error {rel[bad[0]]:.2e})"
    )
    for (name, p), tp in zip(model.named_parameters(), tmodel.parameters()):
        t = tp.detach().numpy()
        err = np.max(np.abs(p.data - t)) / np.max(np.abs(t))
        assert err < rtol, f"{label}: final {name} differs from torch by {err:.2e} (relative)"
    assert ours[-1] < ours[0], f"{label}: the loss did not decrease ({ours[0]} -> {ours[-1]})"


OPTIMIZERS = {
    "SGD": ("SGD", dict(lr=0.1)),
    "SGD-momentum": ("SGD", dict(lr=0.05, momentum=0.9)),
    "SGD-dampening": ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    "SGD-nesterov": ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    "SGD-weight_decay": ("SGD", dict(lr=0.1, momentum=0.5, weight_decay=1e-2)),
    "Adam": ("Adam", dict(lr=1e-2)),
    "Adam-amsgrad-wd": ("Adam", dict(lr=1e-2, betas=(0.8, 0.99), amsgrad=True, weight_decay=1e-2)),
    "AdamW": ("AdamW", dict(lr=1e-2, weight_decay=0.1)),
    "AdamW-amsgrad": ("AdamW", dict(lr=1e-2, weight_decay=0.05, amsgrad=True)),
    "RMSprop": ("RMSprop", dict(lr=1e-2)),
    "RMSprop-centered-momentum": (
        "RMSprop",
        dict(lr=5e-3, alpha=0.9, centered=True, momentum=0.5, weight_decay=1e-3),
    ),
    "Adagrad": ("Adagrad", dict(lr=0.1)),
    "Adagrad-options": (
        "Adagrad",
        dict(lr=0.2, lr_decay=1e-2, weight_decay=1e-3, initial_accumulator_value=0.1),
    ),
}


def _pair(name):
    cls, kw = OPTIMIZERS[name]
    return (
        lambda ps: getattr(optim, cls)(ps, **kw),
        lambda ps: getattr(torch.optim, cls)(ps, **kw),
    )


@pytest.mark.parametrize("opt_name", OPTIMIZERS)
@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_cross_entropy_trajectory_matches_torch(activation, opt_name):
    model, tmodel = make_models([5, 12, 8, 3], activation)
    ours, theirs = train_both(model, tmodel, *_pair(opt_name))
    assert_same_trajectory(
        f"{opt_name} {OPTIMIZERS[opt_name][1]} ({activation})", model, tmodel, ours, theirs
    )


@pytest.mark.parametrize("opt_name", ["SGD-momentum", "Adam", "RMSprop-centered-momentum"])
def test_mse_trajectory_matches_torch(opt_name):
    model, tmodel = make_models([5, 10, 2], "tanh")
    ours, theirs = train_both(model, tmodel, *_pair(opt_name), loss="mse")
    assert_same_trajectory(f"{opt_name} (mse)", model, tmodel, ours, theirs)


@pytest.mark.parametrize("activation", ["elu", "gelu"])
def test_other_activations_trajectory_matches_torch(activation):
    model, tmodel = make_models([5, 12, 3], activation)
    ours, theirs = train_both(model, tmodel, *_pair("SGD-momentum"))
    assert_same_trajectory(f"SGD-momentum ({activation})", model, tmodel, ours, theirs)


SCHEDULES = {
    "StepLR": (
        lambda o: optim.lr_scheduler.StepLR(o, step_size=10, gamma=0.5),
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=10, gamma=0.5),
    ),
    "OneCycleLR": (
        lambda o: optim.lr_scheduler.OneCycleLR(o, max_lr=0.3, total_steps=STEPS),
        lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.3, total_steps=STEPS),
    ),
}


@pytest.mark.parametrize("opt_name", ["SGD-nesterov", "Adam"])
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_schedule_driven_trajectory_matches_torch(schedule, opt_name):
    model, tmodel = make_models([5, 12, 8, 3], "tanh")
    ours, theirs = train_both(model, tmodel, *_pair(opt_name), sched=SCHEDULES[schedule])
    assert_same_trajectory(f"{opt_name} + {schedule}", model, tmodel, ours, theirs)


def test_l2_penalty_with_plain_sgd_equals_sgd_weight_decay_on_weights():
    """loss + λ/2 Σ‖W‖² with plain SGD ≡ SGD with weight_decay=λ on the weights only
    (param_groups), and both equal torch's SGD with the same groups."""
    lam = 0.05
    # fresh runs: A = penalty + plain SGD, B = SGD(param_groups(model, λ)), T = torch
    model_a, tmodel = make_models([5, 12, 8, 3], "tanh")
    model_b, _ = make_models([5, 12, 8, 3], "tanh")
    opt_a = optim.SGD(model_a.parameters(), lr=0.1)
    opt_b = optim.SGD(cr.nn.param_groups(model_b, lam), lr=0.1)
    tparams = list(tmodel.parameters())
    topt = torch.optim.SGD(
        [
            {"params": [p for p in tparams if p.ndim >= 2], "weight_decay": lam},
            {"params": [p for p in tparams if p.ndim < 2], "weight_decay": 0.0},
        ],
        lr=0.1,
    )
    for step in range(STEPS):
        idx = BATCHES[step]
        xb, yb = X[idx], LABELS[idx]
        la = F.cross_entropy(model_a(cr.tensor(xb)), yb) + cr.nn.l2_penalty(model_a, lam)
        lb = F.cross_entropy(model_b(cr.tensor(xb)), yb)
        lt = torch.nn.functional.cross_entropy(tmodel(torch.tensor(xb)), torch.tensor(yb))
        for o in (opt_a, opt_b, topt):
            o.zero_grad()
        la.backward()
        lb.backward()
        lt.backward()
        for o in (opt_a, opt_b, topt):
            o.step()
    for (name, pa), pb, pt in zip(model_a.named_parameters(), model_b.parameters(), tparams):
        np.testing.assert_allclose(pa.data, pb.data, rtol=1e-12, atol=1e-14, err_msg=name)
        np.testing.assert_allclose(pb.data, pt.detach().numpy(), rtol=1e-10, atol=1e-13)
    # and the biases really were left alone by the penalty: with include_bias=True the
    # trajectory is different (equal instead to SGD(weight_decay=λ) on everything)
    model_c, _ = make_models([5, 12, 8, 3], "tanh")
    model_d, _ = make_models([5, 12, 8, 3], "tanh")
    opt_c = optim.SGD(model_c.parameters(), lr=0.1)
    opt_d = optim.SGD(model_d.parameters(), lr=0.1, weight_decay=lam)
    for step in range(10):
        idx = BATCHES[step]
        lc = F.cross_entropy(model_c(cr.tensor(X[idx])), LABELS[idx])
        lc = lc + cr.nn.l2_penalty(model_c, lam, include_bias=True)
        ld = F.cross_entropy(model_d(cr.tensor(X[idx])), LABELS[idx])
        for o, L in ((opt_c, lc), (opt_d, ld)):
            o.zero_grad()
            L.backward()
            o.step()
    np.testing.assert_allclose(
        model_c.linears[0].bias.data, model_d.linears[0].bias.data, rtol=1e-12
    )
    assert not np.allclose(model_c.linears[0].bias.data, model_a.linears[0].bias.data)
