"""Lowered replays: NumPy calls, in place where an input dies, still bit-for-bit equal to
eager mode, never overwriting an array the step's caller can still see, and never
holding more memory than an eager step."""

import re
import sys
import tracemalloc

import numpy as np
import pytest
from compile_harness import assert_same, batches, bits, classifier

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.optim import SGD, Adam

SIZES = [8, 8, 8, 8, 5, 8, 5, 8]
liveness = sys.modules["chainrule.compile.liveness"]


def _mlp_step(sizes=(4, 6, 5, 3), activation="relu", reduction="mean", returns="loss"):
    model = nn.MLP(list(sizes), activation=activation)
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x, y):
        out = model(cr.as_tensor(x))
        loss = F.cross_entropy(out, y, reduction=reduction)
        total = loss if reduction != "none" else loss.sum()
        opt.zero_grad()
        total.backward()
        opt.step()
        return (loss, out) if returns == "both" else loss

    return model, opt, step


def test_an_mlp_step_is_lowered_and_relu_runs_in_place():
    step = cr.compile(_mlp_step()[2])
    for x, y in batches(4, 3, [8, 8, 8]):
        step(x, y)
    src = step.replay_source()
    assert re.search(r"v\d+ = np_matmul\(v\d+, v\d+\.T\)", src), src  # linear lowered
    # relu on the layer's output, which dies there: written into that array
    assert re.search(r"v\d+ = np_maximum\((v\d+), 0, out=\1\)", src), src
    assert re.search(r"= P\d+\(", src) is None, src  # no primitive is called
    # the cross-entropy VJP finishes the forward's softmax: no second exp
    assert src.count("np_exp(") == 1, src


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_pair_every_reduction(reduction, dtype):
    cr.set_default_dtype(dtype)
    assert_same(lambda: _mlp_step(reduction=reduction), batches(4, 3, SIZES, dtype=dtype))


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_lowered_activation_vjps(activation):
    build = classifier(sizes=(4, 7, 7, 3), activation=activation, opt=lambda p: Adam(p, 1e-2))
    assert_same(build, batches(4, 3, SIZES))


def test_returned_activations_are_fresh_arrays():
    """The logits a step returns must not be overwritten by the next replay."""
    step = cr.compile(_mlp_step(returns="both")[2])
    data = batches(4, 3, [8] * 6)
    kept = []
    for x, y in data:
        loss, out = step(x, y)
        kept.append((out, bits(out.data), loss, bits(loss.data)))
    assert step.replays >= 3
    for out, before, loss, loss_before in kept:
        assert bits(out.data) == before and bits(loss.data) == loss_before
    assert len({id(out.data) for out, *_ in kept}) == len(kept)


def test_gradients_stay_the_callers_after_the_next_step():
    """``p.grad`` arrays are fresh on every call, as eagerly: a kept gradient keeps its
    values when the next step runs."""
    model, _, step = _mlp_step()
    step = cr.compile(step)
    data = batches(4, 3, [8] * 6)
    kept = []
    for x, y in data:
        step(x, y)
        kept.append([(p.grad, bits(p.grad.data)) for p in model.parameters()])
    for grads in kept:
        for g, before in grads:
            assert bits(g.data) == before


def test_retained_interior_gradient_and_views_between_lowered_ops():
    """A retained interior gradient leaves the step; reshapes and transposes (views)
    sit between lowered ops."""

    def build():
        rng = np.random.default_rng(0)
        w1 = cr.tensor(rng.standard_normal((6, 4)).astype(np.float32) * 0.5, requires_grad=True)
        w2 = cr.tensor(rng.standard_normal((3, 6)).astype(np.float32) * 0.5, requires_grad=True)
        opt = SGD([w1, w2], lr=0.1)
        seen = []

        def step(x, y):
            h = F.linear(cr.as_tensor(x), w1).relu()
            h.retain_grad()
            flat = h.reshape(-1).reshape(h.shape).T.T  # views between lowered ops
            out = F.linear(flat * 2.0, w2)
            loss = F.cross_entropy(out, y)
            opt.zero_grad()
            loss.backward()
            seen.append((h.grad, bits(h.grad.data)))
            opt.step()
            return loss

        model = nn.Module()
        model.w1, model.w2 = w1, w2
        build.seen = seen
        return model, opt, step

    assert_same(build, batches(4, 3, SIZES))
    for g, before in build.seen:
        assert bits(g.data) == before


def test_tied_weights_gradient_sum():
    def build():
        rng = np.random.default_rng(0)
        w = cr.tensor(rng.standard_normal((4, 4)).astype(np.float32) * 0.5, requires_grad=True)
        head = nn.Linear(4, 3)
        opt = SGD([w, *head.parameters()], lr=0.1)

        def step(x, y):
            h = F.linear(F.linear(cr.as_tensor(x), w).tanh(), w).tanh()  # w twice
            loss = F.cross_entropy(head(h), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        model = nn.Module()
        model.w, model.head = w, head
        return model, opt, step

    assert_same(build, batches(4, 3, SIZES))


def test_a_replay_holds_no_more_memory_than_an_eager_step():
    """Between steps a replay holds nothing of its own, and during one no more than eager
    mode (tracemalloc, after the captures)."""
    layers = (64, 128, 128, 10)
    data = batches(64, 10, [256] * 4)

    def peak(compiled):
        tracemalloc.start()  # everything the run holds counts, the replay's own too
        try:
            step = _mlp_step(sizes=layers)[2]
            fn = cr.compile(step) if compiled else step
            for x, y in data[:3]:
                fn(x, y)
            tracemalloc.reset_peak()
            fn(*data[3])
            fn(*data[3])
            return tracemalloc.get_traced_memory()[1], fn
        finally:
            tracemalloc.stop()

    eager, _ = peak(False)
    compiled, fn = peak(True)
    assert fn.replays >= 2
    assert compiled <= eager, (compiled, eager)


def test_liveness_frees_an_array_after_its_last_reader():
    """Unit test of the analysis: an op that may return a view extends the life of the
    array it read; a stored gradient makes its aliases escape."""
    Node = type("Node", (), {})

    def node(kind):
        n = Node()
        n.kind = kind
        return n

    nodes = [node("fwd"), node("fwd"), node("fwd"), node("vjp")]
    code = [("node", 0), ("node", 1), ("node", 2), ("node", 3), ("setgrad", None, 3, False)]
    reads = {("node", 1): [0], ("node", 2): [1], ("node", 3): [2], code[4]: [3]}
    escaping, end = liveness.analyse(nodes, code, {0, 2}, lambda e: reads.get(e, []))
    assert end[0] == 2  # node 1 (not lowered) may be a view of 0, and 2 reads 1
    assert escaping == {2}  # node 3 (not lowered) may be a view of 2, and is stored
    escaping, end = liveness.analyse(nodes, code, {0, 3}, lambda e: reads.get(e, []))
    assert escaping == {3} and 3 not in end  # stored in .grad without a copy


def test_a_parameter_of_another_array_type_recaptures_without_lowering():
    """Lowered lines call NumPy itself: a parameter whose array is no longer a plain
    ndarray fails its guard, and the new capture calls the primitives instead."""

    class Marked(np.ndarray):
        pass

    model, _, step = _mlp_step()
    step = cr.compile(step)
    data = batches(4, 3, [8] * 6)
    for x, y in data[:3]:
        step(x, y)
    assert "np_matmul(" in step.replay_source()
    captures = step.captures
    first = next(iter(model.parameters()))
    first.data = first.data.view(Marked)
    for x, y in data[3:]:
        step(x, y)
    assert step.captures == captures + 2
    assert "np_matmul(" not in step.replay_source()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hand_written_layers_with_matmul(dtype):
    """``x @ W.T + b`` and a linear layer without bias (a matmul of a transpose): lowered
    matmuls, bit for bit."""
    cr.set_default_dtype(dtype)

    def build():
        rng = np.random.default_rng(3)
        w1 = cr.tensor(rng.standard_normal((7, 4)).astype(dtype) * 0.5, requires_grad=True)
        b1 = cr.tensor(np.zeros(7, dtype), requires_grad=True)
        w2 = cr.tensor(rng.standard_normal((3, 7)).astype(dtype) * 0.5, requires_grad=True)
        opt = Adam([w1, b1, w2], lr=1e-2)

        def step(x, y):
            h = (cr.as_tensor(x) @ w1.T + b1).tanh()
            loss = F.cross_entropy(F.linear(h, w2), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        model = nn.Module()
        model.w1, model.b1, model.w2 = w1, b1, w2
        return model, opt, step

    comp = assert_same(build, batches(4, 3, SIZES, dtype=dtype))
    assert comp[2].replay_source().count("np_matmul(") >= 4
