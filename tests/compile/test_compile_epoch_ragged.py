"""fit(compile=True) and the epoch's last, smaller batch: in a run of fewer than 3 epochs
it is never replayed, so it runs eagerly instead of being captured; in longer runs it is
captured and replayed as before. Either way the run equals eager training bit for bit."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.compile import step as step_module
from chainrule.nn import functional as F
from chainrule.optim import SGD
from chainrule.train import loop


def train(compile, epochs, monkeypatch=None, resume=None):
    """75 examples in batches of 16: four full batches and one of 11 per epoch."""
    made = []
    if monkeypatch is not None:

        def spy(fn, **kwargs):
            made.append(step_module.compile(fn, **kwargs))
            return made[-1]

        monkeypatch.setattr(loop, "compile_step", spy)
    cr.manual_seed(5)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((75, 6)).astype(np.float32)
    y = rng.integers(0, 3, 75)
    model = nn.MLP([6, 10, 3])
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    fit_state = {}

    def keep_state(state, epoch, logs):
        if epoch == 0:
            fit_state["after_1"] = state.state_dict()

    history = cr.train.fit(
        model,
        F.cross_entropy,
        opt,
        (X, y),
        epochs=epochs,
        batch_size=16,
        compile=compile,
        callbacks=[cr.train.LambdaCallback(on_epoch_end=keep_state)],
        resume=resume,
    )
    rows = [{k: v for k, v in e.items() if k != "seconds"} for e in history]
    weights = [p.data.tobytes() for p in model.parameters()]
    return rows, weights, made, fit_state


@pytest.mark.parametrize("epochs", [1, 2])
def test_short_run_runs_the_ragged_batch_eagerly(monkeypatch, epochs):
    rows, weights, (step,), _ = train(True, epochs, monkeypatch)
    # only the full batches' signature is captured (twice) and then replayed
    assert step.captures == 2
    assert step.replays == 4 * epochs - 2
    assert (rows, weights) == train(False, epochs)[:2]


def test_longer_run_captures_and_replays_the_ragged_batch(monkeypatch):
    rows, weights, (step,), _ = train(True, 3, monkeypatch)
    assert step.captures == 4  # both signatures, twice each
    assert step.replays == (4 * 3 - 2) + 1  # the small batch replays in epoch 3
    assert (rows, weights) == train(False, 3)[:2]


def test_resumed_run_counts_the_epochs_left(monkeypatch):
    """Resumed after epoch 1 of 3, two epochs are left: the small batch runs eagerly."""
    state = train(False, 3)[3]["after_1"]
    rows, weights, (step,), _ = train(True, 3, monkeypatch, resume=state)
    assert step.captures == 2 and step.replays == 4 * 2 - 2
    assert (rows, weights) == train(False, 3, resume=state)[:2]
