"""The same expressions through chainrule and PyTorch (float64): values and gradients."""

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

rng = np.random.default_rng(11)
A = rng.standard_normal((3, 4))
B = rng.standard_normal((4, 5))
V = rng.standard_normal(4)
P = rng.uniform(0.5, 2.0, (3, 4))
LABELS = [1, 0, 3]

# (name, inputs, chainrule fn, torch fn): the same lambda shape for both libraries
CASES = [
    ("arith", [A, P], lambda a, p: (a * p - a / p + 2.0 - p**0.5).sum(), None),
    ("exp_log", [A, P], lambda a, p: (a.exp() * p.log()).mean(), None),
    ("activations", [A], lambda a: (a.tanh() + a.sigmoid() * a.relu()).sum(), None),
    ("matmul_chain", [A, B], lambda a, b: ((a @ b).tanh() @ b.T).sum(), None),
    ("matvec", [A, V], lambda a, v: (a @ v).exp().sum(), None),
    ("broadcast", [A, V], lambda a, v: (a * v + v).sum(), None),
    ("reductions", [A], lambda a: _amax(a, 1).sum() + _amin(a, 0).sum() + a.mean(), None),
    ("logsumexp", [A], lambda a: a.logsumexp(dim=1).sum(), None),
    ("softmax", [A], lambda a: (a.softmax(-1) * a).sum() + a.log_softmax(-1)[:, 1].sum(), None),
    ("indexing", [A], lambda a: a[[0, 0, 2], 1:3].sum() + a[a.detach() > 0].sum(), None),
    ("shape", [A], lambda a: a.T.reshape(2, 6).flatten().unsqueeze(0).squeeze(0).sum(), None),
    ("abs_sqrt", [P], lambda p: (p.abs().sqrt() * p).sum(), None),
    ("where_max", [A, B[:3, :4]], lambda a, b: _maximum(a, b).sum() + _where(a, b).sum(), None),
    ("cross_entropy", [A], None, "ce"),
]


def _amax(a, dim):  # torch.Tensor.max(dim) returns (values, indices); amax is the reduction
    return a.max(dim=dim) if isinstance(a, cr.Tensor) else a.amax(dim=dim)


def _amin(a, dim):
    return a.min(dim=dim) if isinstance(a, cr.Tensor) else a.amin(dim=dim)


def _maximum(a, b):
    return cr.maximum(a, b) if isinstance(a, cr.Tensor) else torch.maximum(a, b)


def _where(a, b):
    if isinstance(a, cr.Tensor):
        return cr.where(a.detach() > 0, a * 2, b)
    return torch.where(a.detach() > 0, a * 2, b)


def _run(lib, name, arrays, fn, kind):
    if lib == "cr":
        xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    else:
        xs = [torch.tensor(a, requires_grad=True) for a in arrays]
    if kind == "ce":
        if lib == "cr":
            out = cr.nn.functional.cross_entropy(xs[0] * 3, LABELS)
        else:
            out = torch.nn.functional.cross_entropy(xs[0] * 3, torch.tensor(LABELS))
    else:
        out = fn(*xs)
    out.backward()
    return out, xs


@pytest.mark.parametrize(("name", "arrays", "fn", "kind"), CASES, ids=[c[0] for c in CASES])
def test_matches_torch(name, arrays, fn, kind):
    out_c, xs_c = _run("cr", name, arrays, fn, kind)
    out_t, xs_t = _run("torch", name, arrays, fn, kind)
    assert out_c.item() == pytest.approx(out_t.item(), rel=1e-12, abs=1e-12)
    for xc, xt in zip(xs_c, xs_t):
        np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-11, atol=1e-12)


def test_second_order_matches_torch():
    a = A
    xc = cr.tensor(a, requires_grad=True)
    (gc,) = cr.grad((xc.tanh() ** 3).sum(), [xc], create_graph=True)
    (hc,) = cr.grad((gc * gc).sum(), [xc])
    xt = torch.tensor(a, requires_grad=True)
    (gt,) = torch.autograd.grad((xt.tanh() ** 3).sum(), [xt], create_graph=True)
    (ht,) = torch.autograd.grad((gt * gt).sum(), [xt])
    np.testing.assert_allclose(hc.numpy(), ht.numpy(), rtol=1e-11)


def test_float32_mlp_step_matches_torch():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((16, 8)).astype(np.float32)
    y = rng.integers(0, 4, 16)
    W1 = (rng.standard_normal((32, 8)) * 0.3).astype(np.float32)
    b1 = np.zeros(32, np.float32)
    W2 = (rng.standard_normal((4, 32)) * 0.3).astype(np.float32)
    b2 = np.zeros(4, np.float32)
    pc = [cr.tensor(p, requires_grad=True) for p in (W1, b1, W2, b2)]
    lc = cr.nn.functional.cross_entropy(
        cr.nn.functional.linear(cr.nn.functional.linear(x, pc[0], pc[1]).relu(), pc[2], pc[3]), y
    )
    lc.backward()
    pt = [torch.tensor(p, requires_grad=True) for p in (W1, b1, W2, b2)]
    F = torch.nn.functional
    lt = F.cross_entropy(
        F.linear(F.linear(torch.tensor(x), pt[0], pt[1]).relu(), pt[2], pt[3]), torch.tensor(y)
    )
    lt.backward()
    assert lc.dtype == np.float32
    assert lc.item() == pytest.approx(lt.item(), rel=1e-5)
    for a, b in zip(pc, pt):
        assert a.grad.dtype == np.float32
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-4, atol=1e-6)
