"""GradientFlowMonitor: every recorded number against an independent NumPy computation."""

import json
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.diagnostics import GradientFlowMonitor, find_layers
from chainrule.diagnostics.layer_stats import SATURATION_THRESHOLD, identical_units, norm
from chainrule.train import fit


def _blobs(n=96, d=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, d)) * 2
    y = rng.integers(0, k, n)
    X = (centers[y] + rng.standard_normal((n, d))).astype(np.float32)
    return X, y


class ManualTrainer:
    """The agreed trainer attributes, driven by hand so the test sees every number."""

    def __init__(self, model, lr):
        self.model, self.lr = model, lr
        self.global_step, self.epoch, self.run_dir = 0, 0, None
        self.last_batch = self.last_loss = None


def _manual_run(model, monitor, X, y, steps, lr=0.1, batch=16):
    """Plain SGD with the callback protocol; returns per-step references."""
    tr = ManualTrainer(model, lr)
    params = list(model.parameters())
    refs = []
    monitor.on_train_begin(tr)
    monitor.on_epoch_begin(tr, 0)
    for step in range(steps):
        xb, yb = X[step * batch % len(X) :][:batch], y[step * batch % len(y) :][:batch]
        monitor.on_batch_begin(tr, step)
        loss = cr.nn.functional.cross_entropy(model(cr.tensor(xb)), yb)
        for p in params:
            p.grad = None
        loss.backward()
        tr.last_batch, tr.last_loss = (xb, yb), loss
        # references: pre-activations by hand, gradients and weights before the step
        h, pre = xb.astype(np.float64), []
        for info in find_layers(model):
            W, b = info.weight.data.astype(np.float64), info.bias.data.astype(np.float64)
            a = h @ W.T + b
            pre.append(a)
            h = {
                "tanh": np.tanh,
                "relu": lambda z: np.maximum(z, 0),
                "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
                "identity": lambda z: z,
            }[info.activation](a)
        ref = {
            "pre": pre,
            "grads": [info.weight.grad.data.copy() for info in find_layers(model)],
            "weights": [info.weight.data.copy() for info in find_layers(model)],
            "loss": float(loss.item()),
        }
        monitor.on_after_backward(tr)
        for p in params:
            p.data -= lr * p.grad.data
        tr.global_step = step + 1
        monitor.on_batch_end(tr, step, {"loss": loss.data, "size": len(yb)})
        refs.append(ref)
    tr.epoch = 1
    monitor.on_epoch_end(tr, 0, {})
    monitor.on_train_end(tr)
    return refs


def test_recorded_statistics_match_numpy():
    X, y = _blobs()
    cr.manual_seed(1)
    model = cr.nn.MLP([6, 8, 7, 3], activation="tanh", init="normal:1.5", dtype="float64")
    mon = GradientFlowMonitor(every=2)
    refs = _manual_run(model, mon, X, y, steps=5, lr=0.1)
    steps = [r for r in mon.records if r["type"] == "step"]
    assert [s["step"] for s in steps] == [0, 2, 4]
    for s in steps:
        ref = refs[s["step"]]
        assert s["loss"] == pytest.approx(ref["loss"], rel=1e-12)
        for k, lay in enumerate(s["layers"]):
            g, W, a = ref["grads"][k], ref["weights"][k], ref["pre"][k]
            assert lay["grad_norm"] == pytest.approx(np.linalg.norm(g), rel=1e-10)
            assert lay["weight_norm"] == pytest.approx(np.linalg.norm(W), rel=1e-10)
            # plain SGD: ΔW = -lr·g, so the update ratio is lr·‖g‖/‖W‖
            assert lay["update_ratio"] == pytest.approx(
                0.1 * np.linalg.norm(g) / np.linalg.norm(W), rel=1e-8
            )
            assert lay["preact_mean"] == pytest.approx(a.mean(), rel=1e-9, abs=1e-12)
            assert lay["preact_std"] == pytest.approx(a.std(), rel=1e-9)
            assert sum(lay["hist"]["counts"]) == a.size
            assert lay["hist"]["lo"] == pytest.approx(a.min()) and lay["hist"][
                "hi"
            ] == pytest.approx(a.max())
            if lay["activation"] == "tanh":
                expected = np.mean(np.abs(np.tanh(a)) > 0.99)
                assert lay["saturated"] == pytest.approx(expected)
            else:
                assert lay["saturated"] is None


def test_error_signal_delta_matches_torch():
    torch = pytest.importorskip("torch")
    X, y = _blobs(n=16)
    cr.manual_seed(2)
    model = cr.nn.MLP([6, 5, 3], activation="sigmoid", init="xavier", dtype="float64")
    W1, b1, W2, b2 = (torch.tensor(p.data.copy()) for p in model.parameters())
    xt = torch.tensor(X.astype(np.float64))
    a1 = (xt @ W1.T + b1).requires_grad_()
    a2 = torch.sigmoid(a1) @ W2.T + b2
    a2.retain_grad()
    torch.nn.functional.cross_entropy(a2, torch.tensor(y)).backward()
    mon = GradientFlowMonitor(every=1)
    _manual_run(model, mon, X, y, steps=1)
    layers = mon.records[1]["layers"]
    # δ_k = ∂L/∂a_k, the lecture's error signal, over the whole batch
    assert layers[0]["delta_norm"] == pytest.approx(a1.grad.norm().item(), rel=1e-10)
    assert layers[1]["delta_norm"] == pytest.approx(a2.grad.norm().item(), rel=1e-10)


def test_dead_units_over_the_window_and_per_batch():
    X, y = _blobs(n=64)
    cr.manual_seed(0)
    model = cr.nn.MLP([6, 10, 3], activation="relu", init="he", dtype="float64")
    lin = find_layers(model)[0].module
    lin.bias.data[:4] = -1e3  # four units can never fire
    lin.bias.data[4] = 1e3  # and one always does
    mon = GradientFlowMonitor(every=1)
    refs = _manual_run(model, mon, X, y, steps=4, lr=0.0)
    steps = [r for r in mon.records if r["type"] == "step"]
    for s, ref in zip(steps, refs):
        expected = np.mean(~(ref["pre"][0] > 0).any(axis=0))
        assert s["layers"][0]["dead"] == pytest.approx(expected)
    epoch = next(r for r in mon.records if r["type"] == "epoch")
    window = np.concatenate([r["pre"][0] for r in refs])
    assert epoch["layers"][0]["dead"] == pytest.approx(np.mean(~(window > 0).any(axis=0)))
    assert epoch["layers"][0]["dead"] >= 0.4
    assert steps[0]["layers"][1]["dead"] is None  # the output layer has no ReLU


def test_symmetry_flags_identical_rows_only():
    W = np.tile(np.array([[0.3, -0.2, 0.1]]), (4, 1))
    assert identical_units(W, np.zeros(4))
    W2 = W.copy()
    W2[2, 1] += 1e-3
    assert not identical_units(W2, np.zeros(4))
    assert not identical_units(W, np.array([0.0, 0.0, 0.0, 1.0]))
    assert not identical_units(W[:1], np.zeros(1))  # one unit: nothing to break


def test_norm_is_exact_and_survives_float32_overflow():
    a = np.random.default_rng(0).standard_normal((300, 40))
    assert norm(a) == pytest.approx(np.linalg.norm(a), rel=1e-12)
    assert norm(a.astype(np.float32)) == pytest.approx(np.linalg.norm(a), rel=1e-5)
    big = np.full(10, 1e30, dtype=np.float32)  # squares overflow float32
    with np.errstate(over="ignore"):
        assert norm(big) == pytest.approx(np.sqrt(10) * 1e30, rel=1e-6)
    assert math.isnan(norm(np.array([1.0, np.nan], dtype=np.float32)))
    assert norm(np.array([np.inf], dtype=np.float32)) == math.inf


def test_monitor_file_round_trips_and_restarts_for_a_fresh_run(tmp_path):
    X, y = _blobs()
    cr.manual_seed(0)
    model = cr.nn.MLP([6, 8, 3], activation="tanh", init="xavier")
    opt = cr.optim.SGD(model.parameters(), lr=0.05)
    mon = GradientFlowMonitor(every=3)
    fit(
        model,
        cr.nn.functional.cross_entropy,
        opt,
        (X, y),
        2,
        callbacks=[mon],
        run_dir=tmp_path,
        batch_size=16,
    )
    lines = (tmp_path / "monitor.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == json.loads(json.dumps(mon.records))
    kinds = [json.loads(line)["type"] for line in lines]
    # 12 batches: steps 0, 3, 6, 9 sampled; one summary per epoch
    assert kinds == ["meta", "step", "step", "epoch", "step", "step", "epoch"]
    # a second fresh run in the same folder replaces the file instead of appending
    mon2 = GradientFlowMonitor(every=100)
    fit(
        model,
        cr.nn.functional.cross_entropy,
        opt,
        (X, y),
        1,
        callbacks=[mon2],
        run_dir=tmp_path,
        batch_size=16,
    )
    kinds = [
        json.loads(line)["type"] for line in (tmp_path / "monitor.jsonl").read_text().splitlines()
    ]
    assert kinds == ["meta", "step", "epoch"]


def test_monitor_off_leaves_no_trace_and_on_removes_its_hooks():
    X, y = _blobs()
    cr.manual_seed(0)
    model = cr.nn.MLP([6, 8, 3], activation="relu", init="he")
    opt = cr.optim.SGD(model.parameters(), lr=0.05)
    lins = [info.module for info in find_layers(model)]
    fit(model, cr.nn.functional.cross_entropy, opt, (X, y), 1, batch_size=16)
    assert all(not m._forward_hooks for m in lins)
    seen = []

    class Spy(cr.train.Callback):
        def on_after_backward(self, trainer):
            seen.append(sum(len(m._forward_hooks) for m in lins))

    mon = GradientFlowMonitor(every=2)
    fit(
        model, cr.nn.functional.cross_entropy, opt, (X, y), 1, callbacks=[Spy(), mon], batch_size=16
    )
    # hooks exist only during the forward/backward of sampled batches (0, 2, 4)
    assert seen == [2, 0, 2, 0, 2, 0]
    assert all(not m._forward_hooks for m in lins)
    assert "forward" not in vars(lins[0])


def test_non_finite_loss_between_samples_is_recorded_once():
    X, y = _blobs()
    cr.manual_seed(0)
    model = cr.nn.MLP([6, 8, 3], activation="relu", init="he")
    opt = cr.optim.SGD(model.parameters(), lr=0.05)

    class Poison(cr.train.Callback):
        def on_batch_begin(self, trainer, step):
            if step == 3:
                find_layers(model)[1].weight.data[0, 0] = np.nan

    mon = GradientFlowMonitor(every=1000)
    with np.errstate(all="ignore"):
        fit(
            model,
            cr.nn.functional.cross_entropy,
            opt,
            (X, y),
            2,
            callbacks=[Poison(), mon],
            batch_size=16,
        )
    events = [r for r in mon.records if r["type"] == "event"]
    assert len(events) == 1 and events[0]["kind"] == "non-finite-loss"
    assert events[0]["step"] == 3 and events[0]["value"] == "nan"
    assert math.isfinite(mon.records[1]["loss"])  # step 0 was still fine


def test_sequential_and_custom_modules_are_supported():
    class Net(cr.nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = cr.nn.Linear(6, 5)
            self.act = cr.nn.Sigmoid()
            self.out = cr.nn.Linear(5, 3)

        def forward(self, x):
            return self.out(self.act(self.hidden(x)))

    layers = find_layers(Net())
    assert [(i.name, i.activation) for i in layers] == [("hidden", "sigmoid"), ("out", "identity")]
    seq = cr.nn.Sequential(cr.nn.Linear(6, 4), cr.nn.ReLU(), cr.nn.Dropout(0.1), cr.nn.Linear(4, 2))
    assert [i.activation for i in find_layers(seq)] == ["relu", "identity"]
    with pytest.raises(ValueError, match="no Linear layers"):
        find_layers(cr.nn.ReLU())


def test_every_must_be_positive():
    with pytest.raises(ValueError):
        GradientFlowMonitor(every=0)


def test_saturation_thresholds_are_the_documented_ones():
    # sigmoid: σ(a) > 0.99  ⇔  a > ln 99;  tanh: |tanh a| > 0.99  ⇔  |a| > atanh 0.99
    assert 1 / (1 + math.exp(-SATURATION_THRESHOLD["sigmoid"])) == pytest.approx(0.99)
    assert math.tanh(SATURATION_THRESHOLD["tanh"]) == pytest.approx(0.99)


def test_histogram_matches_numpy():
    from chainrule.diagnostics.layer_stats import histogram

    a = np.random.default_rng(3).standard_normal(4000).astype(np.float32)
    h = histogram(a)
    ref, _ = np.histogram(a, bins=len(h["counts"]), range=(h["lo"], h["hi"]))
    assert np.abs(np.array(h["counts"]) - ref).sum() <= 2  # edge rounding at most
    assert sum(h["counts"]) == a.size
    with_nan = np.array([1.0, np.nan, 3.0, np.inf])
    h = histogram(with_nan, bins=2)
    assert (h["lo"], h["hi"], h["counts"]) == (1.0, 3.0, [1, 1])


def test_layers_called_through_forward_are_measured_by_replaying_the_chain():
    class Direct(cr.nn.Module):
        """Calls .forward() directly, so forward hooks never fire."""

        def __init__(self):
            super().__init__()
            self.hidden = cr.nn.Linear(6, 5, dtype="float64")
            self.act = cr.nn.Tanh()
            self.out = cr.nn.Linear(5, 3, dtype="float64")

        def forward(self, x):
            return self.out.forward(self.act.forward(self.hidden.forward(x)))

    X, y = _blobs(n=16)
    cr.manual_seed(0)
    model = Direct()
    mon = GradientFlowMonitor(every=1)
    refs = _manual_run(model, mon, X, y, steps=1, lr=0.0)
    lay = mon.records[1]["layers"]
    assert lay[0]["preact_std"] == pytest.approx(refs[0]["pre"][0].std(), rel=1e-9)
    assert lay[1]["preact_mean"] == pytest.approx(refs[0]["pre"][1].mean(), rel=1e-9)
    assert lay[0]["delta_norm"] is None  # no hook: δ is not available this way


def test_a_resumed_run_replaces_the_steps_it_repeated():
    from chainrule.diagnostics.run_data import from_records

    meta = {"type": "meta", "layers": [{"index": 0, "shape": [2, 2], "activation": "identity"}]}

    def step(s):
        return {"type": "step", "step": s, "layers": [{"index": 0, "tag": s}]}

    recs = [meta, step(0), step(10), step(20), step(30), meta, step(20), step(30), step(40)]
    data = from_records(recs)
    assert [s["step"] for s in data.steps] == [0, 10, 20, 30, 40]
    assert data.steps[2] is recs[6]  # the re-run's record


def test_sampling_follows_the_global_step_across_a_resume():
    mon = GradientFlowMonitor(every=25)
    mon.layers = []
    sampled = []
    for step in range(40, 80):  # a run resumed at global step 40
        mon.on_batch_begin(None, step)
        sampled.append(mon._sampling)
        mon._uninstall()
    assert [40 + k for k, s in enumerate(sampled) if s] == [50, 75]


def test_preactivation_std_survives_a_large_mean():
    from chainrule.diagnostics.layer_stats import preactivation_stats

    rng = np.random.default_rng(0)
    a = (1e4 + 0.01 * rng.standard_normal((64, 32))).astype(np.float32)
    stats, _ = preactivation_stats(a, "tanh")
    assert stats["preact_std"] == pytest.approx(a.astype(np.float64).std(), rel=1e-3)
    assert stats["saturated"] == 1.0
