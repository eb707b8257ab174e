"""In-place operations and version counters, against PyTorch.

Every scenario runs the same code through chainrule and through torch (float64): the
values, the gradients, the version counters and *whether backward refuses* must agree.
"""

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import GraphError

torch = pytest.importorskip("torch")

X = [1.0, -2.0, 3.0]
W = [2.0, 3.0, -4.0]


def _pair(values, grad=True):
    ours = cr.tensor(np.array(values), dtype=np.float64, requires_grad=grad)
    theirs = torch.tensor(values, dtype=torch.float64, requires_grad=grad)
    return ours, theirs


def _no_grad(lib):
    return cr.no_grad() if lib is cr else torch.no_grad()


# --------------------------------------------------------------------- SGD from scratch
def test_a_from_scratch_sgd_loop_equals_torch():
    """θ ← θ − α∇θL written as every tutorial does: ``with no_grad(): w -= lr * w.grad``."""
    rng = np.random.default_rng(0)
    X_, y_ = rng.standard_normal((32, 3)), rng.standard_normal(32)
    w0, b0 = rng.standard_normal(3), np.zeros(1)
    runs = {}
    for lib in (cr, torch):
        T = (lambda a: cr.tensor(a, dtype=np.float64)) if lib is cr else torch.tensor
        Xt, yt = T(X_), T(y_)
        w, b = T(w0.copy()), T(b0.copy())
        w.requires_grad_(True)
        b.requires_grad_(True)
        losses = []
        for _ in range(25):
            pred = Xt @ w + b
            loss = ((pred - yt) ** 2).mean()
            loss.backward()
            with _no_grad(lib):
                w -= 0.1 * w.grad
                b -= 0.1 * b.grad
            w.grad.zero_()
            b.grad.zero_()
            assert w.is_leaf and w.requires_grad and b.is_leaf and b.requires_grad
            losses.append(loss.item())
        runs[lib.__name__] = (losses, w.detach().numpy().copy(), w._version, b._version)
    ours, theirs = runs["chainrule"], runs["torch"]
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-12)
    assert ours[2:] == theirs[2:] == (25, 25)
    assert ours[0][-1] < ours[0][0] / 2  # it learned


# --------------------------------------------------------------------- raw in-place ops
OPS = {
    "+=": lambda t, o: t.__iadd__(o),
    "-=": lambda t, o: t.__isub__(o),
    "*=": lambda t, o: t.__imul__(o),
    "/=": lambda t, o: t.__itruediv__(o),
    "**=": lambda t, o: t.__ipow__(2.0),
    "add_ alpha": lambda t, o: t.add_(o, alpha=0.5),
    "sub_ alpha": lambda t, o: t.sub_(o, alpha=2.0),
    "mul_": lambda t, o: t.mul_(o),
    "div_": lambda t, o: t.div_(o),
    "pow_": lambda t, o: t.pow_(3),
    "clamp_": lambda t, o: t.clamp_(-1.5, 2.0),
    "clamp_ min": lambda t, o: t.clamp_(min=0.0),
    "copy_": lambda t, o: t.copy_(o),
    "fill_": lambda t, o: t.fill_(7.5),
    "zero_": lambda t, o: t.zero_(),
    "neg_": lambda t, o: t.neg_(),
    "setitem int": lambda t, o: t.__setitem__(1, 9.0),
    "setitem slice": lambda t, o: t.__setitem__(slice(0, 2), o[:2]),
    "setitem mask": lambda t, o: t.__setitem__(t > 0, 0.25),
}


@pytest.mark.parametrize("op", OPS.values(), ids=OPS.keys())
def test_in_place_ops_change_the_data_where_it_lies_as_torch(op):
    (t, tt), (o, to) = _pair(X, grad=False), _pair(W, grad=False)
    view, tview = t.detach(), tt.detach()  # shares the memory, as in torch
    res = op(t, o)
    assert res is t or res is None  # methods return the tensor; t[i] = v returns nothing
    op(tt, to)
    np.testing.assert_array_equal(t.numpy(), tt.numpy())
    np.testing.assert_array_equal(view.numpy(), tview.numpy())
    assert t._version == tt._version == 1


def test_a_numpy_array_and_from_numpy_share_memory():
    a = np.array([1.0, 2.0])
    t = cr.from_numpy(a)
    t += 1
    np.testing.assert_array_equal(a, [2.0, 3.0])
    a[0] = 10
    assert t[0].item() == 10


def test_results_that_do_not_fit_are_refused_by_name():
    i = cr.tensor([1, 2, 3])
    with pytest.raises(ValueError, match=r"add_: the result does not fit in place .*int64"):
        i += 1.5
    t = cr.zeros(3)
    with pytest.raises(ValueError, match=r"add_: the result does not fit .*shape \(3,\)"):
        t += cr.ones(2, 3)
    with pytest.raises(ValueError, match="read-only"):
        cr.broadcast_to(cr.zeros(1), (3,)).add_(1)


# --------------------------------------------------------------------- leaves
def test_in_place_on_a_leaf_that_requires_grad_is_refused_outside_no_grad():
    w, tw = _pair(W)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        tw += 1
    with pytest.raises(GraphError, match=r"add_: a leaf tensor that requires grad .*no_grad"):
        w += 1
    for change in (lambda t: t.mul_(2), lambda t: t.zero_(), lambda t: t.__setitem__(0, 1.0)):
        with pytest.raises(GraphError, match=r"cr\.no_grad"):
            change(w)
    assert w._version == 0
    with cr.no_grad():
        w *= 2
    assert w.is_leaf and w.requires_grad and w._version == 1


# --------------------------------------------------------------------- recorded in-place
RECORDED = {
    "interior += w": lambda lib, x, w: _chain(x * 2, lambda y: y.__iadd__(w)),
    "interior *= w": lambda lib, x, w: _chain(x * 2, lambda y: y.mul_(w)),
    "interior /= w then **= 2": lambda lib, x, w: _chain(x + 1, lambda y: y.div_(w).pow_(2)),
    "clamp_": lambda lib, x, w: _chain(x * w, lambda y: y.clamp_(-3, 5)),
    "setitem of w": lambda lib, x, w: _chain(x * 1.5, lambda y: y.__setitem__(0, (w * w).sum())),
    "copy_ from w": lambda lib, x, w: _chain(x * 2, lambda y: y.copy_(w * 3)),
    "constant += w": lambda lib, x, w: _chain(
        (cr.zeros(3, dtype=np.float64) if lib is cr else torch.zeros(3, dtype=torch.float64)),
        lambda y: y.__iadd__(w * x),
    ),
    # a consumer recorded before the change still reaches the value it used
    "earlier consumer": lambda lib, x, w: _earlier_consumer(x, w),
}


def _chain(y, change):
    change(y)
    return (y * y).sum()


def _earlier_consumer(x, w):
    y = x * 2
    z = y + 1  # add saves nothing, so y may change afterwards
    y.mul_(w)
    return (z * 3 + y).sum()


@pytest.mark.parametrize("build", RECORDED.values(), ids=RECORDED.keys())
def test_recorded_in_place_ops_give_torchs_gradients(build):
    (x, tx), (w, tw) = _pair(X), _pair(W)
    loss, tloss = build(cr, x, w), build(torch, tx, tw)
    assert loss.item() == pytest.approx(tloss.item(), rel=1e-12)
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12)


# --------------------------------------------------------------------- version errors
def _retained_then_updated(lib, x, w):
    loss = (w * x).sum()
    loss.backward(retain_graph=True)
    with _no_grad(lib):
        w -= 0.1 * w.grad
    return loss


SCENARIOS = {
    # refused by both: a VJP would read overwritten values
    "exp output changed under no_grad": lambda lib, x, w: _changed_in_no_grad(x.exp()),
    "mul input changed": lambda lib, x, w: _mul_then_change(lib, x, w),
    "sigmoid output changed in place": lambda lib, x, w: _then(x.sigmoid(), lambda y: y.add_(1)),
    "relu output multiplied in place": lambda lib, x, w: _then(x.relu(), lambda y: y.mul_(w)),
    "a view of a saved tensor": lambda lib, x, w: _view_changed(lib, x),
    "detach() of a saved tensor": lambda lib, x, w: _then_raw(
        x.sigmoid(), lambda y: y.detach().zero_()
    ),
    "weights updated, graph reused": _retained_then_updated,
    # accepted by both: nothing a VJP reads has changed
    "add input changed": lambda lib, x, w: _add_then_change(lib, x, w),
    "two changes in a row": lambda lib, x, w: _then(x * 1, lambda y: y.add_(1).add_(w)),
    "sum output changed": lambda lib, x, w: _then((x * w).sum(), lambda y: y.mul_(2)),
}


def _then(y, change):
    change(y)
    return (y * 1).sum()


def _then_raw(y, change):
    change(y)
    return y.sum()


def _changed_in_no_grad(y):
    with cr.no_grad() if isinstance(y, cr.Tensor) else torch.no_grad():
        y += 1
    return y.sum()


def _mul_then_change(lib, x, w):
    c = lib.tensor(np.array([1.0, 2.0, 3.0])) if lib is cr else torch.tensor([1.0, 2.0, 3.0])
    c = c.double() if lib is torch else c.astype(np.float64)
    out = (x * c).sum()
    c += 1  # x's gradient is c: it must be the c of the forward pass
    return out


def _add_then_change(lib, x, w):
    c = cr.zeros(3, dtype=np.float64) if lib is cr else torch.zeros(3, dtype=torch.float64)
    out = ((x + c) * w).sum()
    c += 1  # add does not save its inputs
    return out


def _view_changed(lib, x):
    y = x.exp()
    v = y[0:2]
    with _no_grad(lib):
        v.mul_(2)
    return y.sum()


@pytest.mark.parametrize("build", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_backward_refuses_exactly_when_torch_does(build):
    (x, tx), (w, tw) = _pair(X), _pair(W)
    try:
        build(torch, tx, tw).backward()
        torch_refuses = False
    except RuntimeError as e:
        assert "modified by an inplace operation" in str(e)
        torch_refuses = True
    loss = build(cr, x, w)
    if torch_refuses:
        with pytest.raises(GraphError, match="was modified by an in-place operation after"):
            loss.backward()
    else:
        loss.backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
        if tw.grad is not None:
            np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12)


def test_the_refusal_names_the_op_and_the_tensor():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    h.name = "h"
    out = (h * 3).sum()
    with cr.no_grad():
        h += 1
    with pytest.raises(GraphError) as info:
        out.backward()
    msg = str(info.value)
    assert "input 0 of 'mul'" in msg and "'h'" in msg and "the output of 'exp'" in msg
    assert "version 1" in msg and "clone()" in msg


def test_ordinary_training_is_unaffected_by_version_checks():
    """Optimizer-style updates between steps never trip the check: each step records a
    fresh graph after the change."""
    w = cr.tensor([0.5, -0.5], requires_grad=True)
    for _ in range(3):
        loss = (w * w).sum()
        loss.backward()
        with cr.no_grad():
            w -= 0.25 * w.grad
        w.grad = None
    np.testing.assert_allclose(w.numpy(), [0.0625, -0.0625])
