"""The benchmark compares equal work: chainrule's training step, the hand-written NumPy
delta rule and PyTorch's step must move the same weights to the same place."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "common.py"


@pytest.fixture(scope="module")
def common():
    spec = importlib.util.spec_from_file_location("bench_common", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _arrays(params):
    return [np.asarray(p.data if hasattr(p, "data") else p) for p in params]


def _run(common, peer, layers, n, steps):
    x, y = common.batch(layers, n, seed=3)
    step = common.make_step(peer, layers, x, y, common.init_weights(layers, seed=4))
    for _ in range(steps):
        step()
    if peer == "torch":
        return [p.detach().numpy() for p in step.params]
    return _arrays(step.params)


@pytest.mark.parametrize("layers", [(64, 64, 10), (20, 16, 12, 5)])
def test_chainrule_step_equals_hand_written_delta_rule(common, layers):
    ours = _run(common, "chainrule", layers, 32, steps=4)
    hand = _run(common, "numpy", layers, 32, steps=4)
    start = [a for wb in common.init_weights(layers, seed=4) for a in wb]
    assert len(ours) == len(hand) == len(start)
    for a, b, s in zip(ours, hand, start):
        assert a.dtype == np.float32
        assert not np.allclose(a, s)  # the step did move the weights
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_chainrule_step_equals_pytorch(common):
    pytest.importorskip("torch")
    layers = (64, 64, 10)
    ours = _run(common, "chainrule", layers, 32, steps=4)
    theirs = _run(common, "torch", layers, 32, steps=4)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_epoch_trainers_agree(common):
    layers = (12, 8, 3)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((70, 12), dtype=np.float32)
    y = rng.integers(0, 3, 70)
    order = rng.permutation(70)
    preds = {}
    for peer in ("chainrule", "numpy"):
        train = common.EPOCH_MAKERS[peer](layers, common.init_weights(layers, seed=6))
        train(x, y, order, 16)  # 4 full batches and a last one of 6
        preds[peer] = train.predict(x)
    np.testing.assert_array_equal(preds["chainrule"], preds["numpy"])
