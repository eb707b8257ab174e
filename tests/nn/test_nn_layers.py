"""Layer and loss modules against their torch.nn namesakes (float64), and their reprs."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn

X = np.random.default_rng(0).standard_normal((6, 4)) * 3

MODULES = [
    ("ReLU", {}, {}),
    ("LeakyReLU", {"negative_slope": 0.1}, {"negative_slope": 0.1}),
    ("Sigmoid", {}, {}),
    ("Tanh", {}, {}),
    ("ELU", {"alpha": 0.7}, {"alpha": 0.7}),
    ("GELU", {}, {}),
    ("GELU", {"approximate": "tanh"}, {"approximate": "tanh"}),
    ("Softmax", {"dim": 0}, {"dim": 0}),
    ("LogSoftmax", {"dim": 1}, {"dim": 1}),
    ("Identity", {}, {}),
]


@pytest.mark.parametrize("name, kw, tkw", MODULES)
def test_activation_module_matches_torch_module(torch, name, kw, tkw):
    ours = getattr(nn, name)(**kw)
    theirs = getattr(torch.nn, name)(**tkw)
    x = cr.tensor(X, requires_grad=True)
    xt = torch.tensor(X, requires_grad=True)
    y, yt = ours(x), theirs(xt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    v = np.cos(np.arange(X.size)).reshape(X.shape)
    (y * cr.tensor(v)).sum().backward()
    (yt * torch.tensor(v)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_linear_matches_torch_linear_with_copied_weights(torch):
    lin = nn.Linear(4, 3, dtype="float64")
    tl = torch.nn.Linear(4, 3)
    with torch.no_grad():
        tl.weight.copy_(torch.tensor(lin.weight.data))
        tl.bias.copy_(torch.tensor(lin.bias.data))
    np.testing.assert_allclose(
        lin(cr.tensor(X)).numpy(), tl(torch.tensor(X)).detach().numpy(), rtol=1e-13
    )
    nobias = nn.Linear(4, 3, bias=False)
    assert nobias.bias is None and len(list(nobias.parameters())) == 1
    assert nobias(cr.randn(2, 4)).shape == (2, 3)
    with pytest.raises(ValueError, match=">= 1"):
        nn.Linear(0, 3)


W = np.array([1.0, 2.0, 0.5])
LOSSES = [
    ("CrossEntropyLoss", {}, "labels"),
    ("CrossEntropyLoss", {"weight": W, "label_smoothing": 0.2, "ignore_index": 1}, "labels"),
    ("CrossEntropyLoss", {"reduction": "sum"}, "probs"),
    ("NLLLoss", {"weight": W, "reduction": "none"}, "labels"),
    ("MSELoss", {"reduction": "sum"}, "same"),
    ("L1Loss", {}, "same"),
    ("HuberLoss", {"delta": 0.3}, "same"),
    ("SmoothL1Loss", {"beta": 0.4, "reduction": "none"}, "same"),
    ("BCELoss", {"weight": np.full((5, 3), 0.5)}, "unit"),
    ("BCEWithLogitsLoss", {"pos_weight": W}, "unit"),
]


@pytest.mark.parametrize("name, kw, target", LOSSES)
def test_loss_module_matches_torch_module(torch, name, kw, target):
    r = np.random.default_rng(1)
    x = r.standard_normal((5, 3))
    if name == "NLLLoss":
        x = np.log(r.dirichlet(np.ones(3), size=5))
    if name == "BCELoss":
        x = r.uniform(0.05, 0.95, (5, 3))
    y = {
        "labels": np.array([0, 1, 2, 2, 1]),
        "probs": r.dirichlet(np.ones(3), size=5),
        "same": r.standard_normal((5, 3)),
        "unit": r.uniform(0, 1, (5, 3)),
    }[target]
    tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    ours, theirs = getattr(nn, name)(**kw), getattr(torch.nn, name)(**tkw)
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, tout = ours(xc, y), theirs(xt, torch.tensor(y))
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-11)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-11, atol=1e-14)


def test_loss_module_repr_and_reduction_check():
    assert repr(nn.MSELoss()) == "MSELoss(reduction='mean')"
    with pytest.raises(ValueError, match="unknown reduction"):
        nn.L1Loss(reduction="avg")


def test_nll_loss_gradcheck_order_2():
    x = np.log(np.random.default_rng(2).dirichlet(np.ones(3), size=4))
    labels = np.array([0, 2, -100, 1])
    cr.gradcheck(lambda a: F.nll_loss(F.log_softmax(a, 1), labels, weight=W), [x], order=2)
