"""The backward walk itself: accumulation, freeing, depth, hooks, errors, dtypes."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import GraphError, ShapeError


def test_fan_out_accumulates_across_branches():
    x = cr.tensor(3.0, requires_grad=True)
    y = x * x + x * 2 + x  # x used four times
    y.backward()
    assert x.grad.item() == pytest.approx(2 * 3 + 2 + 1)


def test_gradients_accumulate_across_backward_calls_until_zeroed():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_chain_of_20000_nodes_has_no_recursion_limit():
    x = cr.tensor(1.0, dtype=np.float64, requires_grad=True)
    y = x
    for _ in range(20_000):
        y = y * 1.0001
    y.backward()
    assert x.grad.item() == pytest.approx(1.0001**20_000, rel=1e-9)


def test_no_grad_records_nothing_and_restores():
    x = cr.tensor([1.0], requires_grad=True)
    with cr.no_grad():
        y = x * 2
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf

    @cr.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    with cr.no_grad(), cr.enable_grad():
        assert (x * 2).requires_grad


def test_second_backward_through_freed_graph_raises():
    x = cr.tensor(2.0, requires_grad=True)
    y = (x * x).exp()
    y.backward()
    with pytest.raises(GraphError, match="second time"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = cr.tensor(2.0, requires_grad=True)
    y = x * x
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == pytest.approx(8.0)


def test_non_scalar_backward_needs_gradient():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(GraphError, match="gradient="):
        y.backward()
    y.backward(gradient=cr.tensor([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 20.0])


def test_backward_of_constant_raises():
    with pytest.raises(GraphError, match="does not require grad"):
        cr.tensor(1.0).backward()


def test_requires_grad_on_integer_data_raises():
    with pytest.raises(TypeError, match="floating-point"):
        cr.tensor([1, 2, 3], requires_grad=True)


def test_shape_errors_name_op_and_shapes():
    a, b = cr.ones(3, 4), cr.ones(5, 6)
    with pytest.raises(ShapeError, match=r"matmul: \(3, 4\) @ \(5, 6\)"):
        a @ b
    with pytest.raises(ShapeError, match=r"add: shapes \(3, 4\) and \(5, 6\) do not broadcast"):
        a + b
    with pytest.raises(ShapeError, match=r"linear: input \(3, 4\) does not match weight \(5, 6\)"):
        cr.nn.functional.linear(a, b)


def test_a_wrong_vjp_shape_is_caught_and_names_the_op():
    bad = cr.defprimitive("bad_shape", lambda x: x * 2, lambda F, g, ans, x: g.sum())
    try:
        x = cr.tensor([1.0, 2.0], requires_grad=True)
        with pytest.raises(ShapeError, match="bad_shape: the VJP for input 0"):
            cr.apply(bad, x).sum().backward()
    finally:
        cr.autograd.PRIMITIVES.pop("bad_shape")


def test_hooks_see_and_replace_gradients():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    seen = []
    y.register_hook(lambda g: seen.append(g.numpy().copy()))
    handle = x.register_hook(lambda g: g * 10)
    y.sum().backward()
    np.testing.assert_allclose(seen[0], [1.0, 1.0])
    np.testing.assert_allclose(x.grad.numpy(), [30.0, 30.0])
    handle.remove()
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_retain_grad_keeps_interior_gradient():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    q = (x * 2).retain_grad()
    h = x * 5
    (q * q + h).sum().backward()
    np.testing.assert_allclose(q.grad.numpy(), 2 * q.numpy())
    assert h.grad is None


def test_dtypes_are_preserved():
    for dt in (np.float32, np.float64):
        x = cr.tensor(np.ones((2, 3), dtype=dt), requires_grad=True)
        y = (x * 2.5 + 1).tanh().sum() / 3
        assert y.dtype == dt
        y.backward()
        assert x.grad.dtype == dt
    assert cr.tensor([1.0]).dtype == np.float32
    assert cr.tensor([1, 2]).dtype.kind == "i"
    assert cr.tensor(np.array([1.0])).dtype == np.float64


def test_mixed_float_dtypes_promote_and_gradients_keep_input_dtype():
    a = cr.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    b = cr.tensor(np.ones(3, dtype=np.float64), requires_grad=True)
    y = (a * b).sum()
    assert y.dtype == np.float64
    y.backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_gradients_of_distinct_leaves_never_share_memory():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()  # add hands the same upstream array to both inputs
    a.grad.data *= 100
    np.testing.assert_allclose(b.grad.numpy(), [1.0, 1.0])


def test_grad_returns_without_touching_dot_grad():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (g,) = cr.grad((x**3).sum(), [x])
    np.testing.assert_allclose(g.numpy(), [3.0, 12.0])
    assert x.grad is None


def test_grad_unused_input():
    x = cr.tensor(1.0, requires_grad=True)
    z = cr.tensor(1.0, requires_grad=True)
    with pytest.raises(GraphError, match="allow_unused"):
        cr.grad(x * 2, [x, z])
    assert cr.grad(x * 2, [x, z], allow_unused=True)[1] is None


def test_hessian_vector_product():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 4))
    A = A + A.T
    x = cr.tensor(rng.standard_normal(4), requires_grad=True)
    v = rng.standard_normal(4)
    f = 0.5 * (x @ (cr.tensor(A) @ x))  # Hessian is A
    (g,) = cr.grad(f, [x], create_graph=True)
    (hv,) = cr.grad((g * cr.tensor(v)).sum(), [x])
    np.testing.assert_allclose(hv.numpy(), A @ v, rtol=1e-12)


def test_third_derivative():
    x = cr.tensor(0.7, dtype=np.float64, requires_grad=True)
    (d1,) = cr.grad(x.tanh(), [x], create_graph=True)
    (d2,) = cr.grad(d1, [x], create_graph=True)
    (d3,) = cr.grad(d2, [x])
    t = np.tanh(0.7)
    assert d3.item() == pytest.approx(-2 * (1 - t**2) * (1 - 3 * t**2), rel=1e-12)


def test_first_order_backward_builds_no_graph():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.is_leaf and not x.grad.requires_grad


def test_cross_entropy_label_errors():
    logits = cr.zeros(4, 3)
    with pytest.raises(ValueError, match=r"(label|target) 3 is out of range for 3 classes"):
        cr.nn.functional.cross_entropy(logits, [0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"(label|target) -1 is out of range"):
        cr.nn.functional.cross_entropy(logits, [0, 1, 2, -1])
    with pytest.raises(ShapeError, match=r"batch size 4 .*5"):
        cr.nn.functional.cross_entropy(logits, [0, 1, 2, 0, 1])


def test_cross_entropy_is_stable_for_huge_logits():
    x = cr.tensor(
        np.array([[1e4, -1e4, 0.0], [0.0, 1e4, 1e4]], dtype=np.float32), requires_grad=True
    )
    loss = cr.nn.functional.cross_entropy(x, [0, 2])
    loss.backward()
    assert np.isfinite(loss.item())
    assert loss.item() == pytest.approx(np.log(2) / 2, rel=1e-3)  # float32 spacing at 1e4
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0, 0], [0, 0.25, -0.25]], atol=1e-7)


def test_max_ties_share_the_gradient():
    x = cr.tensor([1.0, 3.0, 3.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.5, 0.5])


def test_repeated_indices_accumulate():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 0.0, 1.0])


def test_comparisons_are_not_differentiable():
    x = cr.tensor([1.0, -2.0], requires_grad=True)
    m = x > 0
    assert m.dtype == bool and not m.requires_grad
    np.testing.assert_array_equal(m.numpy(), [True, False])


def test_array_protocol_and_repr():
    x = cr.tensor([[1.0, 2.0]], requires_grad=True)
    np.testing.assert_array_equal(np.asarray(x), [[1.0, 2.0]])
    assert "requires_grad=True" in repr(x)
    assert "op=mul" in repr(x * 2)
    assert x.detach().requires_grad is False
    assert (x * 2).sum().item() == 6.0


def test_manual_seed_makes_random_tensors_reproducible():
    cr.manual_seed(123)
    a = cr.randn(3, 2)
    cr.manual_seed(123)
    b = cr.randn(3, 2)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.dtype == np.float32
    assert cr.rand_like(a).shape == (3, 2)
    assert cr.zeros(2, dtype=np.float64).dtype == np.float64
    assert cr.arange(3).dtype.kind == "i"


def test_user_defined_primitive_matches_finite_differences():
    # the README's example: a new primitive with its VJP, through the public API
    def softplus(x):
        return np.logaddexp(0, x)

    def softplus_vjp(F, g, ans, x):
        return g * F.sigmoid(x)

    prim = cr.defprimitive("softplus_test", softplus, softplus_vjp)
    try:
        x = cr.tensor(np.linspace(-3, 3, 7))
        assert cr.gradcheck(lambda t: cr.apply(prim, t), [x], order=2).passed
    finally:
        cr.autograd.PRIMITIVES.pop("softplus_test")


def test_gradients_at_kinks_follow_pytorch_conventions():
    # the tie and kink rules docs/engine.md states: relu'(0) = abs'(0) = 0, clip passes the
    # gradient at its boundaries, maximum splits a tie in half
    x = cr.tensor([0.0, -1.0, 1.0], dtype=np.float64, requires_grad=True)
    (x.relu().sum() + x.abs().sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, -1.0, 2.0])
    c = cr.tensor([-0.5, 0.7, 0.0, 2.0], dtype=np.float64, requires_grad=True)
    cr.clip(c, -0.5, 0.7).sum().backward()
    np.testing.assert_array_equal(c.grad.numpy(), [1.0, 1.0, 1.0, 0.0])
    a = cr.tensor(1.0, dtype=np.float64, requires_grad=True)
    b = cr.tensor(1.0, dtype=np.float64, requires_grad=True)
    cr.maximum(a, b).backward()
    assert (a.grad.item(), b.grad.item()) == (0.5, 0.5)
