"""PyTorch's names where the meaning is the same, checked against torch; misuse gets a
message that says what to do instead."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

torch = pytest.importorskip("torch")

A = np.array([[0.5, -1.0, 2.0], [3.0, 0.0, -2.5]])


def _pair(grad=False):
    return (
        cr.tensor(A, dtype=np.float64, requires_grad=grad),
        torch.tensor(A, dtype=torch.float64, requires_grad=grad),
    )


def test_size_numel_dim_and_t():
    t, tt = _pair()
    assert t.size() == tuple(tt.size()) == (2, 3)
    assert t.size(1) == tt.size(1) and t.size(-1) == tt.size(-1) == 3
    assert t.size == 6 and t.numel() == tt.numel() == 6  # NumPy's size is still the count
    assert t.dim() == tt.dim() == 2
    np.testing.assert_array_equal(t.t().numpy(), tt.t().numpy())
    np.testing.assert_array_equal(t.transpose(0, 1).numpy(), tt.transpose(0, 1).numpy())
    three = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(
        cr.tensor(three).transpose(0, 2).numpy(), torch.tensor(three).transpose(0, 2).numpy()
    )
    with pytest.raises(IndexError, match="dim 2 is out of range for a tensor with 2"):
        t.size(2)
    with pytest.raises(ValueError, match="t: expects a tensor with at most 2 dimensions"):
        cr.tensor(three).t()


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "logsumexp", "argmax", "argmin"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_keepdim_and_dim_as_in_torch(name, keepdim):
    t, tt = _pair()
    ours = getattr(t, name)(dim=1, keepdim=keepdim)
    theirs = getattr(tt, name)(dim=1, keepdim=keepdim)
    if not isinstance(theirs, torch.Tensor):  # torch.max(dim=) returns (values, indices)
        theirs = theirs.values
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    assert ours.shape == tuple(theirs.shape)
    fn = getattr(cr, name)
    np.testing.assert_allclose(fn(t, dim=1, keepdim=keepdim).numpy(), theirs.numpy(), rtol=1e-12)


def test_argmax_argmin_over_everything_and_ties():
    t, tt = _pair()
    assert t.argmax().item() == tt.argmax().item() and t.argmin().item() == tt.argmin().item()
    ties = cr.tensor([1.0, 3.0, 3.0])
    assert ties.argmax().item() == torch.tensor([1.0, 3.0, 3.0]).argmax().item() == 1
    assert t.argmax(dim=1).dtype.kind == "i" and not t.argmax(dim=1).requires_grad


def test_softmax_dim_pow_clone_cat():
    t, tt = _pair(grad=True)
    for ours, theirs in [
        (t.softmax(dim=0), tt.softmax(dim=0)),
        (t.log_softmax(dim=1), tt.log_softmax(dim=1)),
        (cr.softmax(t, dim=0), torch.softmax(tt, dim=0)),
        (F.log_softmax(t, dim=0), torch.log_softmax(tt, dim=0)),
        (t.pow(2), tt.pow(2)),
        (cr.cat([t, t * 2], dim=1), torch.cat([tt, tt * 2], dim=1)),
        (cr.cat([t, t], 0), torch.cat([tt, tt], 0)),
    ]:
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12)
    c, tc = t.clone(), tt.clone()
    c += 1
    with torch.no_grad():
        tc += 1
    np.testing.assert_array_equal(t.detach().numpy(), A)  # the original is untouched
    ((c * t).sum()).backward()
    ((tt.clone() + 1) * tt).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), rtol=1e-12)


def test_to_cpu_and_dtypes():
    t = cr.tensor(A, dtype=np.float64, requires_grad=True)
    assert t.to("cpu") is t and t.cpu() is t and t.device == "cpu"
    assert t.to(cr.float32).dtype == np.float32 == cr.float32
    assert t.to("cpu", cr.float32).dtype == np.float32
    assert t.to(dtype="float32").dtype == np.float32
    assert t.to(torch.float32).dtype == np.float32 and t.to(torch.device("cpu")) is t
    assert t.to(cr.tensor([1], dtype=cr.int64)).dtype == np.int64
    assert t.to(cr.float64) is t and t.to(cr.float64, copy=True) is not t
    (t.to(cr.float32).sum()).backward()  # differentiable, the gradient cast back
    assert t.grad.dtype == np.float64
    for bad in (
        lambda: t.to("cuda"),
        lambda: t.to("cuda:1"),
        lambda: t.cuda(),
        lambda: t.to("mps"),
    ):
        with pytest.raises(ValueError, match=r"device '\w+(:\d)?' is not available: .*CuPy"):
            bad()


def test_from_numpy_and_set_grad_enabled():
    a = np.ones(3, dtype=np.float32)
    t = cr.from_numpy(a)
    assert t.dtype == np.float32 and np.shares_memory(t.data, a)
    with pytest.raises(TypeError, match=r"from_numpy: expected a numpy\.ndarray, got list"):
        cr.from_numpy([1.0])
    x = cr.tensor([1.0], requires_grad=True)
    with cr.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    cr.set_grad_enabled(False)
    try:
        assert not cr.is_grad_enabled() and not (x * 2).requires_grad
    finally:
        cr.set_grad_enabled(True)
    assert cr.is_grad_enabled()


@pytest.mark.parametrize(
    ("misuse", "error", "words"),
    [
        (lambda: cr.Tensor(3), TypeError, r"Tensor\(3\): the constructor wraps .*cr\.tensor\(3\)"),
        (lambda: cr.Tensor([1.0, 2.0]), TypeError, r"make a tensor with cr\.tensor\(data\)"),
        (lambda: cr.Tensor("abc"), TypeError, "cr.tensor"),
        (lambda: len(cr.tensor(1.0)), TypeError, r"len\(\) of a 0-d tensor"),
        (lambda: cr.tensor([1.0]).sum(keepdims=True, keepdim=False), TypeError, "not both"),
        (lambda: cr.softmax(cr.zeros(2, 2), 0, dim=1), TypeError, "either axis or dim"),
        (lambda: cr.tensor([1, 2]).requires_grad_(), TypeError, "only floating-point"),
        (lambda: cr.zeros(2, 2).argmax(dim=(0, 1)), ValueError, "argmax: give one axis"),
    ],
)
def test_misuse_gets_a_message_not_an_attribute_error(misuse, error, words):
    with pytest.raises(error, match=words):
        misuse()
