"""fit / evaluate: the loop against PyTorch, the callback protocol, and each built-in callback."""

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import ArrayDataset, DataLoader
from chainrule.train import (
    Callback,
    EarlyStopping,
    GradientClipping,
    LambdaCallback,
    LRSchedulerCallback,
    MetricsLogger,
    ModelCheckpoint,
    NaNGuard,
    ProgressBar,
    evaluate,
    fit,
)

F = cr.nn.functional


def _blobs(n=96, d=4, k=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, size=n)
    centers = rng.normal(scale=3.0, size=(k, d))
    X = (centers[y] + rng.normal(size=(n, d))).astype(dtype)
    return X, y.astype(np.int64)


def _model(seed=0, sizes=(4, 16, 3), dtype="float64", dropout=0.0):
    cr.manual_seed(seed)
    return cr.nn.MLP(list(sizes), init="he", dtype=dtype, dropout=dropout)


def test_fit_follows_pytorch_step_for_step():
    torch = pytest.importorskip("torch")
    X, y = _blobs()
    model = _model()
    init = model.state_dict()
    opt = cr.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    loader = DataLoader(ArrayDataset(X, y), batch_size=10, shuffle=False)
    history = fit(model, F.cross_entropy, opt, loader, epochs=3)

    net = torch.nn.Sequential(
        torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)
    ).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(init["layers.0.weight"]))
        net[0].bias.copy_(torch.tensor(init["layers.0.bias"]))
        net[2].weight.copy_(torch.tensor(init["layers.2.weight"]))
        net[2].bias.copy_(torch.tensor(init["layers.2.bias"]))
    topt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    losses = []
    for _ in range(3):
        total, n = 0.0, 0
        for i in range(0, len(X), 10):
            xb, yb = torch.tensor(X[i : i + 10]), torch.tensor(y[i : i + 10])
            loss = torch.nn.functional.cross_entropy(net(xb), yb)
            topt.zero_grad()
            loss.backward()
            topt.step()
            total += loss.item() * len(yb)
            n += len(yb)
        losses.append(total / n)
    final = model.state_dict()
    np.testing.assert_allclose(final["layers.0.weight"], net[0].weight.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(final["layers.2.bias"], net[2].bias.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(history["train_loss"], losses, rtol=1e-10)


def test_history_has_the_documented_fields_and_learns():
    X, y = _blobs()
    model = _model()
    opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = fit(
        model, F.cross_entropy, opt, (X, y), epochs=5, val_data=(X[:30], y[:30]), batch_size=16
    )
    assert len(history) == 5
    for i, e in enumerate(history):
        assert set(e) == {
            "epoch",
            "train_loss",
            "train_accuracy",
            "val_loss",
            "val_accuracy",
            "lr",
            "seconds",
            "step",
        }
        assert e["epoch"] == i + 1 and e["step"] == (i + 1) * 6
    assert history["train_loss"][-1] < history["train_loss"][0] / 3
    assert history.last["train_accuracy"] > 0.9
    assert history.best("val_loss")["val_loss"] == min(history["val_loss"])


def test_train_accuracy_is_argmax_agreement_and_loss_is_example_weighted():
    X, y = _blobs(n=25)
    model = _model()
    opt = cr.optim.SGD(model.parameters(), lr=0.0)  # lr 0: metrics of a fixed model
    history = fit(
        model, F.cross_entropy, opt, DataLoader(ArrayDataset(X, y), batch_size=10), epochs=1
    )
    logits = model(cr.tensor(X)).data
    per_example = F.cross_entropy(cr.tensor(logits), y, reduction="none").data
    assert history[0]["train_accuracy"] == pytest.approx(np.mean(logits.argmax(1) == y))
    assert history[0]["train_loss"] == pytest.approx(per_example.mean(), rel=1e-12)
    result = evaluate(model, F.cross_entropy, (X, y), batch_size=7)
    assert result["loss"] == pytest.approx(per_example.mean(), rel=1e-12)
    assert result["accuracy"] == pytest.approx(np.mean(logits.argmax(1) == y))
    assert result["n"] == 25


def test_evaluate_uses_eval_mode_and_restores_the_mode():
    X, y = _blobs(n=20)
    model = _model(dropout=0.5)
    model.train()
    a = evaluate(model, F.cross_entropy, (X, y))
    b = evaluate(model, F.cross_entropy, (X, y))
    assert a == b  # no dropout randomness in eval mode
    assert model.training
    model.eval()
    evaluate(model, F.cross_entropy, (X, y))
    assert not model.training


def test_regression_targets_give_no_accuracy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    t = X @ np.array([1.0, -2.0, 0.5])
    model = _model(sizes=(3, 8, 1))
    opt = cr.optim.Adam(model.parameters(), lr=1e-2)

    def mse(out, target):
        return F.mse_loss(out, target.reshape(out.shape))

    history = fit(model, mse, opt, (X, t), epochs=3, val_data=(X, t), batch_size=8)
    assert history.last["train_accuracy"] is None and history.last["val_accuracy"] is None
    assert history.last["train_loss"] < history[0]["train_loss"]


def test_penalty_is_trained_on_but_not_logged():
    X, y = _blobs(n=20)
    model = _model()
    opt = cr.optim.SGD(model.parameters(), lr=0.0)
    plain = fit(model, F.cross_entropy, opt, (X, y), epochs=1, batch_size=20)
    seen = {}

    def record(trainer):
        seen["grad"] = trainer.model.layers[0].weight.grad.data.copy()

    fit(
        model,
        F.cross_entropy,
        opt,
        (X, y),
        epochs=1,
        batch_size=20,
        penalty=lambda m: cr.nn.l2_penalty(m, 10.0),
        callbacks=[LambdaCallback(on_after_backward=record)],
    )
    model.zero_grad()
    F.cross_entropy(model(cr.tensor(X)), y).backward()
    W = model.layers[0].weight
    np.testing.assert_allclose(seen["grad"], W.grad.data + 10.0 * W.data, rtol=1e-10)
    again = fit(
        model,
        F.cross_entropy,
        opt,
        (X, y),
        epochs=1,
        batch_size=20,
        penalty=lambda m: cr.nn.l2_penalty(m, 10.0),
    )
    assert again[0]["train_loss"] == pytest.approx(plain[0]["train_loss"])


class Recorder(Callback):
    def __init__(self):
        self.events = []

    def on_train_begin(self, trainer):
        self.events.append(("train_begin", trainer.epoch, trainer.global_step))

    def on_epoch_begin(self, trainer, epoch):
        self.events.append(("epoch_begin", epoch))

    def on_batch_begin(self, trainer, step):
        self.events.append(("batch_begin", step))
        self.before = trainer.model.layers[0].weight.data.copy()

    def on_after_backward(self, trainer):
        W = trainer.model.layers[0].weight
        assert W.grad is not None
        np.testing.assert_array_equal(W.data, self.before)  # not yet stepped
        x, y = trainer.last_batch
        assert len(x) == len(y) and trainer.last_loss.shape == ()
        self.events.append(("after_backward", trainer.global_step))

    def on_batch_end(self, trainer, step, logs):
        assert not np.array_equal(trainer.model.layers[0].weight.data, self.before)
        assert trainer.global_step == step + 1
        self.events.append(("batch_end", step, logs["size"]))

    def on_epoch_end(self, trainer, epoch, logs):
        assert trainer.history.last is not None and trainer.history.last["epoch"] == epoch + 1
        self.events.append(("epoch_end", epoch))

    def on_train_end(self, trainer):
        self.events.append(("train_end", trainer.epoch, trainer.global_step))


def test_callback_protocol_order_and_trainer_state():
    X, y = _blobs(n=25)
    model = _model()
    rec = Recorder()
    fit(
        model,
        F.cross_entropy,
        cr.optim.SGD(model.parameters(), lr=0.1),
        (X, y),
        epochs=2,
        batch_size=10,
        callbacks=[rec],
    )
    expected = [("train_begin", 0, 0)]
    step = 0
    for epoch in range(2):
        expected.append(("epoch_begin", epoch))
        for size in (10, 10, 5):
            expected += [("batch_begin", step), ("after_backward", step), ("batch_end", step, size)]
            step += 1
        expected.append(("epoch_end", epoch))
    expected.append(("train_end", 2, 6))
    assert rec.events == expected


def test_stop_training_mid_epoch_skips_the_epoch_summary():
    X, y = _blobs(n=50)
    model = _model()

    def stop(trainer, step, logs):
        if step == 6:
            trainer.stop_training = True

    history = fit(
        model,
        F.cross_entropy,
        cr.optim.SGD(model.parameters(), lr=0.1),
        (X, y),
        epochs=5,
        batch_size=10,
        callbacks=[LambdaCallback(on_batch_end=stop)],
    )
    assert len(history) == 1  # epoch 1 (steps 0-4) finished, epoch 2 stopped at step 6


def test_nan_guard_stops_and_names_epoch_and_step():
    X, y = _blobs(n=40)
    calls = []

    def diverging_loss(out, target):  # the 3rd step's loss is nan
        calls.append(1)
        loss = F.cross_entropy(out, target)
        return loss * float("nan") if len(calls) == 3 else loss

    model = _model()
    history = fit(
        model,
        diverging_loss,
        cr.optim.SGD(model.parameters(), lr=0.1),
        DataLoader(ArrayDataset(X, y), batch_size=10),
        epochs=3,
        callbacks=[NaNGuard()],
    )
    assert len(history) == 0 and len(calls) == 3  # stopped right there
    assert history.stop_reason.startswith("loss became nan")
    assert "epoch 1, step 3 of 4 (global step 3)" in history.stop_reason
    # what the finished epochs cannot show: the steps taken and the unfinished epoch
    assert history.steps == 3 and history.epochs_run == 1 and history.seconds > 0


def test_early_stopping_stops_and_restores_the_best_weights():
    X, y = _blobs(n=60)
    Xv, yv = _blobs(n=30, seed=1)
    model = _model()
    saved = {}

    class Snapshot(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            saved[epoch + 1] = trainer.model.state_dict()

    # a noisy lr keeps the validation loss bouncing, so it plateaus quickly
    stopper = EarlyStopping(patience=2, min_delta=0.5)
    history = fit(
        model,
        F.cross_entropy,
        cr.optim.SGD(model.parameters(), lr=0.5),
        (X, y),
        epochs=30,
        val_data=(Xv, yv),
        batch_size=10,
        callbacks=[stopper, Snapshot()],
    )
    assert stopper.stopped_epoch == len(history) < 30
    assert stopper.wait == 2
    best = stopper.best_epoch
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, saved[best][name])


def test_gradient_clipping_caps_the_global_norm_before_the_step():
    X, y = _blobs(n=20)
    model = _model()
    norms = []

    def measure(trainer):
        g = [p.grad.data for p in trainer.model.parameters()]
        norms.append(float(np.sqrt(sum((a * a).sum() for a in g))))

    clip = GradientClipping(max_norm=0.01)
    fit(
        model,
        F.cross_entropy,
        cr.optim.SGD(model.parameters(), lr=0.1),
        (X, y),
        epochs=1,
        batch_size=10,
        callbacks=[clip, LambdaCallback(on_after_backward=measure)],
    )
    assert clip.last_norm > 0.01
    assert max(norms) == pytest.approx(0.01, rel=1e-4)


def test_lr_scheduler_per_step_and_per_epoch_and_plateau():
    X, y = _blobs(n=40)
    lrs = []
    record = LambdaCallback(on_batch_begin=lambda t, s: lrs.append(t.lr))
    model = _model()
    opt = cr.optim.SGD(model.parameters(), lr=1.0)
    sched = cr.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    fit(
        model,
        F.cross_entropy,
        opt,
        (X, y),
        epochs=2,
        batch_size=10,
        scheduler=sched,
        scheduler_interval="step",
        callbacks=[record],
    )
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]

    lrs.clear()
    model = _model()
    opt = cr.optim.SGD(model.parameters(), lr=1.0)
    sched = cr.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    history = fit(
        model,
        F.cross_entropy,
        opt,
        (X, y),
        epochs=2,
        batch_size=20,
        scheduler=sched,
        callbacks=[record],
    )
    assert lrs == [1.0, 1.0, 0.5, 0.5]
    assert history["lr"] == [1.0, 0.5]

    model = _model()
    opt = cr.optim.SGD(model.parameters(), lr=1.0)
    sched = cr.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=0)
    values = iter([5.0, 4.0, 4.5, 4.6])
    fake = LambdaCallback(on_epoch_end=lambda t, e, logs: logs.update(val_loss=next(values)))
    # a validation loss that gets worse twice: the lr drops twice (patience 0)
    fit(
        model,
        F.cross_entropy,
        opt,
        (X, y),
        epochs=4,
        batch_size=40,
        callbacks=[fake, LRSchedulerCallback(sched)],
    )
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)


def test_fit_steps_the_schedule_right_after_the_optimizer_and_on_metric_per_epoch():
    """The textbook order: optimizer.step(), then scheduler.step(), before any callback
    sees the step; a plateau scheduler (needs_metric) gets the validation loss."""
    X, y = _blobs(n=40)
    events, seen = [], []

    class Spy(cr.optim.lr_scheduler.StepLR):
        def step(self, *args):
            events.append("scheduler")
            super().step(*args)

    model = _model()
    opt = cr.optim.SGD(model.parameters(), lr=1.0)
    real_step = opt.step
    opt.step = lambda: (events.append("optimizer"), real_step())
    sched = Spy(opt, step_size=100)
    events.clear()  # a scheduler takes its first step when it is made, as torch's do
    record = LambdaCallback(on_batch_end=lambda t, s, logs: events.append("callback"))
    state_seen = []
    fit(
        model,
        F.cross_entropy,
        opt,
        (X, y),
        epochs=1,
        batch_size=20,
        scheduler=sched,
        scheduler_interval="step",
        callbacks=[record, LambdaCallback(on_train_begin=state_seen.append)],
    )
    assert events == ["optimizer", "scheduler", "callback"] * 2
    assert state_seen[0].scheduler is sched  # what checkpoints save
    with pytest.raises(ValueError, match="scheduler_interval must be 'step' or 'epoch'"):
        fit(model, F.cross_entropy, opt, (X, y), 1, scheduler=sched, scheduler_interval="batch")

    seen.clear()

    class Plateau(cr.optim.lr_scheduler.ReduceLROnPlateau):
        def step(self, metrics):
            seen.append(metrics)
            super().step(metrics)

    opt = cr.optim.SGD(model.parameters(), lr=1.0)
    history = fit(
        model,
        F.cross_entropy,
        opt,
        (X, y),
        epochs=2,
        batch_size=20,
        val_data=(X, y),
        scheduler=Plateau(opt, patience=0),
        scheduler_interval="step",  # a metric scheduler steps per epoch regardless
    )
    assert seen == history["val_loss"]


def test_old_names_still_work_with_a_deprecation_warning():
    import chainrule.train as T
    from chainrule import experiment

    for old, new in (
        ("Trainer", T.FitState),
        ("LRScheduler", T.LRSchedulerCallback),
        ("TrainConfig", experiment.TrainConfig),
        ("run_training", experiment.run_training),
        ("build_model", experiment.build_model),
        ("prepare_data", experiment.prepare_run_data),
    ):
        with pytest.warns(DeprecationWarning, match=f"chainrule.train.{old} is deprecated"):
            assert getattr(T, old) is new
    with pytest.raises(AttributeError):
        T.no_such_name


def test_callback_list_skips_methods_a_callback_does_not_override():
    from chainrule.train import CallbackList

    class EpochOnly(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            pass

    cbs = CallbackList([EpochOnly(), ProgressBar(3, bar=False)])
    assert cbs.on_batch_end.__name__ == "<lambda>"  # the shared no-op: nothing per step
    assert cbs.on_epoch_end.__name__ == "call_all"


def test_metrics_logger_and_checkpoint_files(tmp_path):
    X, y = _blobs(n=30)
    model = _model()
    ckpt = ModelCheckpoint(tmp_path, every_steps=2)
    fit(
        model,
        F.cross_entropy,
        cr.optim.SGD(model.parameters(), lr=0.1),
        (X, y),
        epochs=3,
        val_data=(X, y),
        batch_size=10,
        callbacks=[MetricsLogger(tmp_path / "metrics.jsonl"), ckpt],
    )
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in lines] == [1, 2, 3]
    state = cr.load(tmp_path / "last.safetensors")
    assert state["epoch"] == 3 and state["global_step"] == 9
    best = cr.load(tmp_path / "best.safetensors")
    best_epoch = min(lines, key=lambda e: e["val_loss"])["epoch"]
    assert best["epoch"] == best_epoch
    np.testing.assert_array_equal(
        state["model"]["layers.0.weight"], model.state_dict()["layers.0.weight"]
    )


def test_progress_lines_when_not_a_terminal(capsys):
    X, y = _blobs(n=20)
    model = _model()
    fit(
        model,
        F.cross_entropy,
        cr.optim.SGD(model.parameters(), lr=0.1),
        (X, y),
        epochs=2,
        val_data=(X, y),
        batch_size=10,
        callbacks=[ProgressBar(2)],
    )
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert out[0].startswith("epoch 1/2  loss ") and "val_acc" in out[0] and "lr 0.1" in out[0]


def test_progress_bar_with_tqdm(capsys):
    pytest.importorskip("tqdm")
    X, y = _blobs(n=20)
    model = _model()
    fit(
        model,
        F.cross_entropy,
        cr.optim.SGD(model.parameters(), lr=0.1),
        (X, y),
        epochs=2,
        val_data=(X, y),
        batch_size=10,
        callbacks=[ProgressBar(2, bar=True)],
    )
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "2/2 [" in err
    assert "val_acc=" in err and "ex/s=" in err
