"""Correctness of the engine's speed paths: relu's VJP from its output, cross-entropy's
VJP without a one-hot array, the shared constant scalars, and the heap-ordered backward
walk. (Speed itself is measured by bench/, never asserted here.)"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops.operands import constant


def _rng(seed=0):
    return np.random.default_rng(seed)


# ---------------------------------------------------------------- relu
def test_relu_gradient_is_the_gate_of_the_output_and_zero_at_zero():
    x = cr.tensor(np.array([[-2.0, -0.0, 0.0, 1e-30, 3.0]], np.float32), requires_grad=True)
    g = np.array([[5.0, 6.0, 7.0, 8.0, 9.0]], np.float32)
    x.relu().backward(g)
    np.testing.assert_array_equal(x.grad.data, [[0.0, 0.0, 0.0, 8.0, 9.0]])
    assert x.grad.dtype == np.float32


def test_relu_second_order_through_create_graph_matches_torch():
    torch = pytest.importorskip("torch")
    x0 = _rng(1).standard_normal((4, 3))
    x = cr.tensor(x0, requires_grad=True)
    (gx,) = cr.grad((x.relu() * x).sum(), x, create_graph=True)
    (ggx,) = cr.grad(gx.sum(), x)
    xt = torch.tensor(x0, requires_grad=True)
    (gxt,) = torch.autograd.grad((xt.relu() * xt).sum(), xt, create_graph=True)
    (ggxt,) = torch.autograd.grad(gxt.sum(), xt)
    np.testing.assert_allclose(gx.data, gxt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ggx.data, ggxt.numpy(), rtol=1e-12)


# ---------------------------------------------------------------- cross-entropy
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_gradient_matches_torch_and_leaves_labels_alone(reduction, dtype):
    torch = pytest.importorskip("torch")
    rng = _rng(2)
    a0 = (rng.standard_normal((7, 5)) * 4).astype(dtype)
    labels = rng.integers(0, 5, 7)
    labels_before = labels.copy()
    g0 = rng.standard_normal(7).astype(dtype) if reduction == "none" else None
    a = cr.tensor(a0, requires_grad=True)
    loss = cr.ops.cross_entropy(a, labels, reduction=reduction)
    loss.backward(g0)
    at = torch.tensor(a0, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(at, torch.tensor(labels), reduction=reduction)
    lt.backward(None if g0 is None else torch.tensor(g0))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(loss.data, lt.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(a.grad.data, at.grad.numpy(), rtol=tol, atol=tol)
    assert a.grad.dtype == dtype
    np.testing.assert_array_equal(labels, labels_before)


def test_cross_entropy_repeated_labels_and_second_order_match_torch():
    torch = pytest.importorskip("torch")
    a0 = _rng(3).standard_normal((6, 4))
    labels = np.array([1, 1, 1, 0, 3, 1])
    a = cr.tensor(a0, requires_grad=True)
    (ga,) = cr.grad(cr.ops.cross_entropy(a, labels), a, create_graph=True)
    (hv,) = cr.grad((ga * ga).sum(), a)
    at = torch.tensor(a0, requires_grad=True)
    (gat,) = torch.autograd.grad(
        torch.nn.functional.cross_entropy(at, torch.tensor(labels)), at, create_graph=True
    )
    (hvt,) = torch.autograd.grad((gat * gat).sum(), at)
    np.testing.assert_allclose(ga.data, gat.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hv.data, hvt.numpy(), rtol=1e-10, atol=1e-12)


def test_cross_entropy_is_stable_for_huge_logits():
    a = cr.tensor(
        np.array([[1000.0, 0.0, -1000.0], [-1e4, -1e4, -1e4]], np.float32), requires_grad=True
    )
    loss = cr.ops.cross_entropy(a, np.array([0, 2]), reduction="none")
    np.testing.assert_allclose(loss.data, [0.0, np.log(3.0)], rtol=1e-6, atol=1e-6)
    loss.sum().backward()
    np.testing.assert_allclose(a.grad.data, [[0, 0, 0], [1 / 3, 1 / 3, -2 / 3]], atol=1e-6)


# ---------------------------------------------------------------- constant scalars
def test_constant_scalars_are_shared_read_only_and_keep_float32():
    x = cr.tensor(np.ones(3, np.float32), requires_grad=True)
    y1, y2 = x * 0.9, x * 0.9
    c1, c2 = y1.parents[1], y2.parents[1]
    assert c1 is c2 and c1.dtype == np.float32 and y1.dtype == np.float32
    assert constant(0.9, np.dtype(np.float64)) is not c1
    with pytest.raises(ValueError):
        c1.data[...] = 2.0  # read-only: a shared constant cannot be edited
    with pytest.raises(RuntimeError, match="shared constant"):
        c1.requires_grad_()
    (y1 + y2).sum().backward()
    np.testing.assert_allclose(x.grad.data, [1.8, 1.8, 1.8], rtol=1e-6)


def test_signed_zero_and_nan_constants_are_not_mixed_up():
    x = cr.tensor([1.0, 2.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        assert np.all((x / 0.0).data == np.inf)
        assert np.all((x / -0.0).data == -np.inf)
        assert np.all((x / 0.0).data == np.inf)
        assert np.isnan((x * float("nan")).data).all()


def test_equal_numbers_of_different_types_give_the_same_value():
    x = cr.tensor([3.0])
    assert (x * 2).data[0] == (x * 2.0).data[0] == 6.0
    assert (x + True).data[0] == 4.0


# ---------------------------------------------------------------- the backward walk
def test_diamond_graph_adds_branches_before_going_further():
    # y = u*u + 3u with u = 2x: every path into u must be summed before u's own VJP
    x = cr.tensor([1.5, -0.5], requires_grad=True)
    u = x * 2.0
    y = (u * u + u * 3.0).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.data, (2 * 2 * np.array([1.5, -0.5]) + 3) * 2, rtol=1e-6)


def test_deep_chain_and_late_created_leaf():
    x = cr.tensor([0.5], requires_grad=True)
    y = x
    for _ in range(20_000):  # far past any recursion limit
        y = y * 1.0
    w = cr.tensor([2.0], requires_grad=True)  # a leaf made after the chain
    (y * w).sum().backward()
    assert x.grad.data[0] == 2.0 and w.grad.data[0] == 0.5


def test_gradient_for_interior_tensor_and_unused_input():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    z = cr.tensor([1.0], requires_grad=True)
    h = x * x
    gh, gx, gz = cr.grad((h * 3.0).sum(), [h, x, z], allow_unused=True)
    np.testing.assert_allclose(gh.data, [3.0, 3.0])
    np.testing.assert_allclose(gx.data, [6.0, 12.0])
    assert gz is None and x.grad is None


def test_second_backward_through_a_freed_graph_is_an_error():
    x = cr.tensor([1.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(cr.errors.GraphError, match="second time"):
        y.backward()
    assert x.grad.data[0] == 2.0  # unchanged by the failed call


def test_unit_seed_is_never_shared_with_the_caller():
    x = cr.tensor(2.0, requires_grad=True)
    y = x * x
    (g1,) = cr.grad(y, y, retain_graph=True)
    g1.data[...] = 7.0  # the caller owns its gradient array
    (g2,) = cr.grad(y, y)
    assert g2.data == 1.0 and g1.data is not g2.data
    leaf = cr.tensor(3.0, requires_grad=True)
    leaf.backward()
    leaf.grad.data[...] = 0.0
    z = cr.tensor(1.5, requires_grad=True)
    (z * 2.0).backward()
    assert z.grad.data == 2.0
