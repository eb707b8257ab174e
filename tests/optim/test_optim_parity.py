"""Every optimizer and variant against torch.optim, float64, 40+ steps, closed loop.

The gradient is computed by hand with NumPy from each library's *own* current parameters
(softmax regression plus a quadratic), so a discrepancy in any step feeds into the next.
"""

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.optim import optimizer as optimizer_module

torch = pytest.importorskip("torch")

STEPS = 45
RTOL = 1e-10

rng = np.random.default_rng(0)
X = rng.standard_normal((32, 6))
Y = np.eye(3)[rng.integers(0, 3, 32)]
A = rng.standard_normal((5, 4))
C = rng.standard_normal((5, 7))
INIT = {
    "W": rng.standard_normal((3, 6)) * 0.5,
    "b": rng.standard_normal(3) * 0.1,
    "Q": rng.standard_normal((4, 7)),
}


def gradients(W, b, Q):
    """Softmax-regression NLL gradient for (W, b) and 0.5‖AQ − C‖² gradient for Q."""
    logits = X @ W.T + b
    logits -= logits.max(axis=1, keepdims=True)
    P = np.exp(logits)
    P /= P.sum(axis=1, keepdims=True)
    D = (P - Y) / len(X)
    return {"W": D.T @ X, "b": D.sum(axis=0), "Q": A.T @ (A @ Q - C)}


def make_groups(params, group_opts):
    """``group_opts``: None (one plain list) or a list of (names, options) pairs."""
    if group_opts is None:
        return list(params.values())
    return [{"params": [params[n] for n in names], **opts} for names, opts in group_opts]


def run_both(ours_cls, torch_cls, kwargs, group_opts=None, steps=STEPS, torch_kwargs=None):
    ours = {k: cr.nn.Parameter(v.copy()) for k, v in INIT.items()}
    theirs = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in INIT.items()}
    opt = ours_cls(make_groups(ours, group_opts), **kwargs)
    topt = torch_cls(make_groups(theirs, group_opts), **(torch_kwargs or kwargs))
    worst = 0.0
    for _ in range(steps):
        g_ours = gradients(*(ours[k].data for k in ("W", "b", "Q")))
        g_theirs = gradients(*(theirs[k].detach().numpy() for k in ("W", "b", "Q")))
        for k in ours:
            ours[k].grad = cr.tensor(g_ours[k])
            theirs[k].grad = torch.tensor(g_theirs[k])
        opt.step()
        topt.step()
        for k in ours:
            a, b = ours[k].data, theirs[k].detach().numpy()
            worst = max(worst, np.max(np.abs(a - b)) / np.max(np.abs(b)))
    moved = max(np.max(np.abs(ours[k].data - INIT[k])) for k in ours)
    return worst, moved


@pytest.fixture(params=["whole", "chunked"])
def chunking(request, monkeypatch):
    """Run each case twice: arrays whole, and cut into 64-byte chunks over 3 threads."""
    if request.param == "chunked":
        monkeypatch.setattr(optimizer_module, "_CHUNK_BYTES", 64)
        monkeypatch.setattr(optimizer_module, "_WHOLE_BYTES", 128)
        old = optim.get_num_threads()
        optim.set_num_threads(3)
        yield
        optim.set_num_threads(old)
    else:
        yield


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.1, weight_decay=0.05),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, weight_decay=0.01),
    dict(lr=0.05, momentum=0.8, dampening=0.3),
    dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.02),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    dict(lr=0.05, momentum=0.9, maximize=True),
    dict(lr=0.05, momentum=0.9, maximize=True, weight_decay=0.05),
]


@pytest.mark.parametrize("kwargs", SGD_CASES, ids=str)
def test_sgd_matches_torch(kwargs, chunking):
    worst, moved = run_both(optim.SGD, torch.optim.SGD, kwargs)
    assert moved > 1e-2
    assert worst < RTOL


ADAM_CASES = [
    dict(lr=0.01),
    dict(lr=0.01, weight_decay=0.05),
    dict(lr=0.01, amsgrad=True),
    dict(lr=0.01, amsgrad=True, weight_decay=0.05),
    dict(lr=0.02, betas=(0.5, 0.9), eps=1e-6),
    dict(lr=0.01, maximize=True),
    dict(lr=0.01, maximize=True, weight_decay=0.05),
]


@pytest.mark.parametrize("kwargs", ADAM_CASES, ids=str)
def test_adam_matches_torch(kwargs, chunking):
    worst, moved = run_both(optim.Adam, torch.optim.Adam, kwargs)
    assert moved > 1e-2
    assert worst < RTOL


@pytest.mark.parametrize(
    "kwargs", [dict(lr=0.01), dict(lr=0.01, weight_decay=0.1), dict(lr=0.01, amsgrad=True)], ids=str
)
def test_adamw_matches_torch(kwargs, chunking):
    worst, moved = run_both(optim.AdamW, torch.optim.AdamW, kwargs)
    assert moved > 1e-2
    assert worst < RTOL


def test_adam_decoupled_is_torch_adam_decoupled():
    worst, _ = run_both(
        optim.Adam,
        torch.optim.Adam,
        dict(lr=0.01, weight_decay=0.1, decay="decoupled"),
        torch_kwargs=dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    )
    assert worst < RTOL


RMSPROP_CASES = [
    dict(lr=0.01),
    dict(lr=0.01, weight_decay=0.05),
    dict(lr=0.01, alpha=0.9, eps=1e-6),
    dict(lr=0.01, centered=True),
    dict(lr=0.005, momentum=0.9),
    dict(lr=0.005, momentum=0.9, centered=True, weight_decay=0.05),
    dict(lr=0.01, maximize=True, momentum=0.5),
]


@pytest.mark.parametrize("kwargs", RMSPROP_CASES, ids=str)
def test_rmsprop_matches_torch(kwargs, chunking):
    worst, moved = run_both(optim.RMSprop, torch.optim.RMSprop, kwargs)
    assert moved > 1e-2
    assert worst < RTOL


ADAGRAD_CASES = [
    dict(lr=0.1),
    dict(lr=0.1, weight_decay=0.05),
    dict(lr=0.1, lr_decay=0.05),
    dict(lr=0.1, initial_accumulator_value=0.3),
    dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.02, eps=1e-6),
    dict(lr=0.1, maximize=True),
    dict(lr=0.1, maximize=True, weight_decay=0.05),
]


@pytest.mark.parametrize("kwargs", ADAGRAD_CASES, ids=str)
def test_adagrad_matches_torch(kwargs, chunking):
    worst, moved = run_both(optim.Adagrad, torch.optim.Adagrad, kwargs)
    assert moved > 1e-2
    assert worst < RTOL


GROUPS = [
    (["W"], dict(lr=0.05, weight_decay=0.01)),
    (["b"], dict(lr=0.2, weight_decay=0.0)),  # no decay on the bias
    (["Q"], {}),  # inherits the defaults
]


@pytest.mark.parametrize(
    "ours_cls, torch_cls, kwargs",
    [
        (optim.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.03)),
        (optim.Adam, torch.optim.Adam, dict(lr=0.01, weight_decay=0.03)),
        (optim.AdamW, torch.optim.AdamW, dict(lr=0.01)),
        (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01, momentum=0.5)),
        (optim.Adagrad, torch.optim.Adagrad, dict(lr=0.1, lr_decay=0.01)),
    ],
    ids=lambda x: getattr(x, "__module__", "")[:5] + getattr(x, "__name__", str(x)),
)
def test_param_groups_match_torch(ours_cls, torch_cls, kwargs):
    worst, moved = run_both(ours_cls, torch_cls, kwargs, group_opts=GROUPS)
    assert moved > 1e-2
    assert worst < RTOL


def test_param_groups_really_differ():
    """The group options take effect: a different lr for the bias changes its trajectory."""
    groups_a = [(["W", "Q"], {}), (["b"], dict(lr=0.2))]
    groups_b = [(["W", "Q"], {}), (["b"], dict(lr=0.1))]
    ours_a = {k: cr.nn.Parameter(v.copy()) for k, v in INIT.items()}
    ours_b = {k: cr.nn.Parameter(v.copy()) for k, v in INIT.items()}
    opt_a = optim.SGD(make_groups(ours_a, groups_a), lr=0.1)
    opt_b = optim.SGD(make_groups(ours_b, groups_b), lr=0.1)
    grads = gradients(*(INIT[k] for k in ("W", "b", "Q")))
    for ours, opt in ((ours_a, opt_a), (ours_b, opt_b)):
        for k in ours:
            ours[k].grad = cr.tensor(grads[k])
        opt.step()
    np.testing.assert_array_equal(ours_a["W"].data, ours_b["W"].data)
    np.testing.assert_allclose(ours_a["b"].data - INIT["b"], 2 * (ours_b["b"].data - INIT["b"]))


def test_lr_changed_between_steps_matches_torch():
    """A group's lr edited mid-run (what schedulers do) is honoured like torch's."""
    ours = {k: cr.nn.Parameter(v.copy()) for k, v in INIT.items()}
    theirs = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in INIT.items()}
    opt = optim.SGD(list(ours.values()), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(list(theirs.values()), lr=0.1, momentum=0.9)
    for step in range(STEPS):
        for o in (opt, topt):
            o.param_groups[0]["lr"] = 0.1 * 0.95**step
        g_ours = gradients(*(ours[k].data for k in ("W", "b", "Q")))
        g_theirs = gradients(*(theirs[k].detach().numpy() for k in ("W", "b", "Q")))
        for k in ours:
            ours[k].grad = cr.tensor(g_ours[k])
            theirs[k].grad = torch.tensor(g_theirs[k])
        opt.step()
        topt.step()
    for k in ours:
        np.testing.assert_allclose(ours[k].data, theirs[k].detach().numpy(), rtol=1e-10, atol=1e-12)


def test_float32_parameters_stay_float32_and_track_torch():
    ours = cr.nn.Parameter(INIT["Q"].astype(np.float32))
    theirs = torch.tensor(INIT["Q"].astype(np.float32), requires_grad=True)
    opt, topt = optim.Adam([ours], lr=0.01), torch.optim.Adam([theirs], lr=0.01)
    for _ in range(20):
        g = (A.T @ (A @ ours.data.astype(np.float64) - C)).astype(np.float32)
        ours.grad = cr.tensor(g)
        theirs.grad = torch.tensor(g)
        opt.step()
        topt.step()
    assert ours.data.dtype == np.float32
    assert opt.state[ours]["exp_avg"].dtype == np.float32
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-5, atol=1e-6)
