"""fit(..., compile=True) trains exactly as fit(...) does: same history, same weights,
same optimizer state — with a per-step schedule, clipping, an L2 penalty, dropout,
validation data, and a dataset whose size is not a multiple of the batch."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.optim import SGD, Adam, lr_scheduler
from chainrule.train import GradientClipping


def run(compile, opt="sgd", dropout=0.2):
    cr.manual_seed(7)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((75, 6)).astype(np.float32)  # 75 = 4 batches of 16 + 11
    y = rng.integers(0, 4, 75)
    model = nn.MLP([6, 12, 4], activation="relu", dropout=dropout)
    if opt == "sgd":
        optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    else:
        optimizer = Adam(model.parameters(), lr=1e-2)
    sched = lr_scheduler.CosineAnnealingLR(optimizer, T_max=20)
    history = cr.train.fit(
        model,
        F.cross_entropy,
        optimizer,
        (X, y),
        epochs=4,
        val_data=(X[:20], y[:20]),
        callbacks=[GradientClipping(max_norm=0.5)],
        scheduler=sched,
        scheduler_interval="step",
        penalty=lambda m: nn.l2_penalty(m, 1e-3),
        batch_size=16,
        compile=compile,
    )
    weights = [p.data.tobytes() for p in model.parameters()]
    buffers = [
        v.tobytes() for st in optimizer.state.values() for v in st.values() if hasattr(v, "tobytes")
    ]
    rows = [{k: v for k, v in e.items() if k != "seconds"} for e in history]
    return rows, weights, buffers


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_fit_compiled_is_fit(opt):
    assert run(False, opt) == run(True, opt)


def test_fit_compile_replays():
    from chainrule.compile import step as step_module

    made = []
    original = step_module.CompiledStep.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(self)

    step_module.CompiledStep.__init__ = spy
    try:
        run(True, dropout=0.0)
    finally:
        step_module.CompiledStep.__init__ = original
    (step,) = made
    assert step.captures == 4 and step.replays == 4 * 5 - 4  # 2 shapes x 2 captures


def test_fit_falls_back_to_eager_when_the_step_is_refused():
    """A loss that gathers one-hot rows with raw NumPy (an array the replay could not
    rebuild) is refused; fit warns once and trains eagerly, with the same result."""
    eye = np.eye(4, dtype=np.float32)

    def onehot_mse(logits, labels):
        return F.mse_loss(F.softmax(logits, dim=-1), eye[labels])

    def go(compile):
        cr.manual_seed(1)
        rng = np.random.default_rng(0)
        X = rng.standard_normal((40, 6)).astype(np.float32)
        y = rng.integers(0, 4, 40)
        model = nn.MLP([6, 8, 4])
        opt = SGD(model.parameters(), lr=0.5)
        h = cr.train.fit(model, onehot_mse, opt, (X, y), epochs=2, batch_size=16, compile=compile)
        return [e["train_loss"] for e in h], [p.data.tobytes() for p in model.parameters()]

    with pytest.warns(RuntimeWarning, match="changes between calls.*running this step eagerly"):
        compiled = go(True)
    assert compiled == go(False)
