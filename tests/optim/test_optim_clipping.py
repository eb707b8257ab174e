"""clip_grad_norm_ / clip_grad_value_ against torch.nn.utils, and out-of-place updates."""

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.optim import clip_grad_norm_, clip_grad_value_

torch = pytest.importorskip("torch")

rng = np.random.default_rng(4)
GRADS = [rng.standard_normal((4, 5)), rng.standard_normal(5) * 3, rng.standard_normal((2, 3, 2))]


def both(grads=GRADS):
    ours = [cr.nn.Parameter(np.zeros(g.shape)) for g in grads]
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, q, g in zip(ours, theirs, grads):
        p.grad = cr.tensor(g.copy())
        q.grad = torch.tensor(g.copy())
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, math.inf, 1.0, 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 2.0, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ours, theirs = both()
    total = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(total, float)
    assert total == pytest.approx(ttotal.item(), rel=1e-13)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.data, q.grad.numpy(), rtol=1e-13, atol=1e-15)
    new_total = math.sqrt(sum(float((p.grad.data**2).sum()) for p in ours))
    if max_norm < total and norm_type == 2.0:
        assert new_total == pytest.approx(max_norm, rel=1e-5)


def test_clip_grad_norm_leaves_shared_gradient_arrays_alone():
    shared = np.ones(4) * 10
    a, b = cr.nn.Parameter(np.zeros(4)), cr.nn.Parameter(np.zeros(4))
    a.grad = cr.tensor(shared)
    b.grad = cr.Tensor(shared)  # the very same array
    original = b.grad.data
    total = clip_grad_norm_([a, b], 1.0)
    assert total == pytest.approx(math.sqrt(2 * 4 * 100))
    np.testing.assert_array_equal(original, np.full(4, 10.0))  # not written in place
    assert np.linalg.norm(np.concatenate([a.grad.data, b.grad.data])) == pytest.approx(
        1.0, rel=1e-5
    )


def test_clip_grad_norm_skips_missing_grads_and_takes_one_tensor():
    p = cr.nn.Parameter(np.zeros(3))
    assert clip_grad_norm_([p], 1.0) == 0.0
    p.grad = cr.tensor(np.array([3.0, 4.0, 0.0]))
    assert clip_grad_norm_(p, 10.0) == pytest.approx(5.0)
    np.testing.assert_array_equal(p.grad.data, [3.0, 4.0, 0.0])


def test_clip_grad_norm_nonfinite():
    ours, theirs = both([np.array([1.0, np.inf]), np.array([2.0])])
    with pytest.raises(RuntimeError, match="error_if_nonfinite"):
        clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    ours, theirs = both([np.array([1.0, np.nan]), np.array([2.0])])
    total = clip_grad_norm_(ours, 1.0)
    torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert math.isnan(total)
    for p, q in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad.data, q.grad.numpy())  # both all-nan


def test_clip_grad_norm_rejects_bad_arguments():
    ours, _ = both()
    with pytest.raises(ValueError, match="invalid max_norm -1"):
        clip_grad_norm_(ours, -1)
    with pytest.raises(ValueError, match=r"invalid norm_type 0\.0"):
        clip_grad_norm_(ours, 1.0, norm_type=0)


def test_clip_grad_value_matches_torch_out_of_place():
    ours, theirs = both()
    before = [p.grad.data for p in ours]
    copies = [g.copy() for g in before]
    clip_grad_value_(ours, 0.7)
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for p, q, old, copy in zip(ours, theirs, before, copies):
        np.testing.assert_array_equal(p.grad.data, q.grad.numpy())
        np.testing.assert_array_equal(old, copy)
    assert max(np.abs(p.grad.data).max() for p in ours) == 0.7
    with pytest.raises(ValueError, match="invalid clip_value -1"):
        clip_grad_value_(ours, -1)
