"""The update runner and the base class: threads, chunks, gradients left alone, zero_grad."""

import os

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.optim import optimizer as optimizer_module

ALL = [
    (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01, maximize=True)),
    (optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.1, decay="decoupled", weight_decay=0.1)),
    (optim.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.01, maximize=True)),
    (optim.AdamW, dict(lr=0.01)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.01)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, maximize=True)),
]
IDS = [f"{c.__name__}-{i}" for i, (c, _) in enumerate(ALL)]


def trajectory(cls, kwargs, shapes, steps=5, dtype=np.float32, layout=None):
    rng = np.random.default_rng(5)
    params = []
    for s in shapes:
        data = rng.standard_normal(s).astype(dtype)
        p = cr.nn.Parameter(data)
        if layout is not None:
            p.data = layout(p.data)
        params.append(p)
    opt = cls(params, **kwargs)
    for _ in range(steps):
        for p in params:
            p.grad = cr.tensor(np.sin(3 * np.asarray(p.data, dtype=np.float64)).astype(dtype))
        opt.step()
    return [np.ascontiguousarray(p.data) for p in params], opt


@pytest.fixture
def threads():
    old = optim.get_num_threads()
    yield optim.set_num_threads
    optim.set_num_threads(old)


@pytest.mark.parametrize("cls, kwargs", ALL, ids=IDS)
def test_threads_and_chunking_change_no_bit(cls, kwargs, threads, monkeypatch):
    shapes = [(700, 600), (700,), (3, 5)]  # 420k float32: several 256 KiB chunks
    monkeypatch.setattr(optimizer_module, "_WHOLE_BYTES", 1 << 19)  # so they are chunked
    threads(1)
    serial, _ = trajectory(cls, kwargs, shapes)
    threads(4)
    threaded, _ = trajectory(cls, kwargs, shapes)
    monkeypatch.setattr(optimizer_module, "_CHUNK_BYTES", 4096 + 12)  # ragged chunks
    threads(3)
    ragged, _ = trajectory(cls, kwargs, shapes)
    for a, b, c in zip(serial, threaded, ragged):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("cls, kwargs", ALL, ids=IDS)
def test_non_contiguous_parameters_update_like_contiguous_ones(cls, kwargs):
    shapes = [(6, 4), (5,)]
    plain, _ = trajectory(cls, kwargs, shapes, dtype=np.float64)
    fortran, opt = trajectory(cls, kwargs, shapes, dtype=np.float64, layout=np.asfortranarray)
    for a, b in zip(plain, fortran):
        np.testing.assert_array_equal(a, b)
    p = opt.param_groups[0]["params"][0]
    assert p.data.flags.f_contiguous and not p.data.flags.c_contiguous  # updated in place


@pytest.mark.parametrize("cls, kwargs", ALL, ids=IDS)
def test_gradients_are_never_written(cls, kwargs):
    """One gradient array shared by two parameters: both steps see it unchanged."""
    a, b = cr.nn.Parameter(np.ones(5)), cr.nn.Parameter(np.ones(5))
    shared = np.linspace(-1, 1, 5)
    a.grad, b.grad = cr.Tensor(shared), cr.Tensor(shared)
    opt = cls([a, b], **kwargs)
    for _ in range(3):
        opt.step()
    np.testing.assert_array_equal(shared, np.linspace(-1, 1, 5))
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.array_equal(a.data, np.ones(5))


def test_parameters_are_updated_in_place():
    p = cr.nn.Parameter(np.ones(4))
    array = p.data
    p.grad = cr.tensor(np.ones(4))
    optim.Adam([p], lr=0.1).step()
    assert p.data is array and not np.array_equal(array, np.ones(4))


def test_state_lives_in_the_optimizer_and_skips_params_without_grad():
    a, b = cr.nn.Parameter(np.ones(3)), cr.nn.Parameter(np.ones(3))
    a.grad = cr.tensor(np.ones(3))
    opt = optim.Adam([a, b], lr=0.1)
    opt.step()
    assert a in opt.state and b not in opt.state
    np.testing.assert_array_equal(b.data, np.ones(3))
    assert opt.state[a]["step"] == 1
    sgd = optim.SGD([a], lr=0.1)
    sgd.step()
    assert a not in sgd.state  # plain SGD keeps nothing, like torch


def test_zero_grad():
    a, b = cr.nn.Parameter(np.ones(3)), cr.nn.Parameter(np.ones(3))
    shared = np.ones(3)
    a.grad, b.grad = cr.Tensor(shared), cr.Tensor(shared)
    opt = optim.SGD([a, b], lr=0.1)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad.data, np.zeros(3))
    np.testing.assert_array_equal(shared, np.ones(3))  # a fresh array, not zeroed in place
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_step_with_closure_returns_its_loss():
    w = cr.nn.Parameter(np.array([3.0]))
    opt = optim.SGD([w], lr=0.25)
    calls = []

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        calls.append(1)
        return loss

    loss = opt.step(closure)
    assert loss.item() == 9.0 and calls == [1]
    np.testing.assert_array_equal(w.data, [3.0 - 0.25 * 6.0])


def test_training_with_the_engine_reduces_the_loss():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 5))
    y = (X @ rng.standard_normal(5) > 0).astype(np.int64)
    W, b = cr.nn.Parameter(np.zeros((2, 5))), cr.nn.Parameter(np.zeros(2))
    opt = optim.Adam([W, b], lr=0.1)
    losses = []
    for _ in range(50):
        opt.zero_grad()
        loss = cr.nn.functional.cross_entropy(cr.tensor(X) @ W.T + b, cr.tensor(y))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


def test_set_num_threads_validates():
    with pytest.raises(ValueError, match="invalid n 0"):
        optim.set_num_threads(0)
    assert optim.get_num_threads() >= 1


def test_repr_lists_groups():
    opt = optim.SGD([cr.nn.Parameter(np.ones(2))], lr=0.1, momentum=0.9)
    text = repr(opt)
    assert text.startswith("SGD (") and "momentum: 0.9" in text and "Parameter Group 0" in text


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_threaded_step_works_in_a_forked_child(threads):
    """A forked child inherits the pool object but not its threads; it must start anew."""
    import multiprocessing

    threads(2)
    p = cr.nn.Parameter(np.ones(600_000, dtype=np.float32))
    p.grad = cr.tensor(np.ones(600_000, dtype=np.float32))
    opt = optim.SGD([p], lr=0.5)
    opt.step()  # the parent's pool now exists

    def child(queue):
        opt.step()
        queue.put(float(p.data[-1]))

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=child, args=(queue,))
    proc.start()
    assert queue.get(timeout=60) == 0.0
    proc.join(60)
    assert proc.exitcode == 0
    np.testing.assert_array_equal(p.data[-3:], [0.5, 0.5, 0.5])  # the parent is untouched


def test_default_thread_count_follows_omp_num_threads_and_core_count(monkeypatch):
    from chainrule.optim import optimizer as opt_module

    monkeypatch.setattr(opt_module, "_num_threads", None)
    monkeypatch.setattr(opt_module.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert opt_module.get_num_threads() == 1  # 2 cores: one thread beside BLAS's
    monkeypatch.setattr(opt_module, "_num_threads", None)
    monkeypatch.setattr(
        opt_module.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False
    )
    assert opt_module.get_num_threads() == 4
    monkeypatch.setattr(opt_module, "_num_threads", None)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert opt_module.get_num_threads() == 3
    monkeypatch.setattr(opt_module, "_num_threads", None)
