"""diagnose(): each rule on synthetic monitor records and metrics, and on real runs."""

import json

import pytest

from chainrule.diagnostics import diagnose
from chainrule.diagnostics.run_data import from_records


def _records(n_layers=4, steps=8, act="tanh", units=16, **per_layer):
    """Monitor records; per_layer[key] is a list (per layer) of values or of callables(step)."""
    meta = {
        "type": "meta",
        "every": 10,
        "layers": [
            {
                "index": k,
                "name": f"layers.{2 * k}",
                "shape": [units if k < n_layers - 1 else 3, units],
                "activation": act if k < n_layers - 1 else "identity",
            }
            for k in range(n_layers)
        ],
    }
    base = {
        "grad_norm": [1.0] * n_layers,
        "delta_norm": [1.0] * n_layers,
        "weight_norm": [4.0] * n_layers,
        "update_ratio": [1e-3] * n_layers,
        "preact_std": [1.0] * n_layers,
        "saturated": [0.0 if act in ("tanh", "sigmoid") else None] * (n_layers - 1) + [None],
        "dead": [0.0 if act == "relu" else None] * (n_layers - 1) + [None],
        "identical_units": [False] * n_layers,
    }
    base.update(per_layer)
    recs = [meta]
    for j in range(steps):
        layers = []
        for k in range(n_layers):
            lay = {"index": k, "activation": meta["layers"][k]["activation"], "grad_is_none": False}
            for key, vals in base.items():
                v = vals[k]
                lay[key] = v(j) if callable(v) else v
            layers.append(lay)
        recs.append(
            {
                "type": "step",
                "step": 10 * j,
                "epoch": j // 2,
                "loss": 1.0 - 0.05 * j,
                "layers": layers,
            }
        )
    return recs


def _metrics(train, val=None):
    rows = []
    for k, t in enumerate(train):
        row = {"epoch": k + 1, "train_loss": t, "step": 20 * (k + 1)}
        if val is not None:
            row["val_loss"] = val[k]
        rows.append(row)
    return rows


FALLING = [2.0, 1.5, 1.1, 0.9, 0.8, 0.7]


def test_healthy_run_says_so():
    rep = diagnose(_records(), metrics=_metrics(FALLING))
    assert rep.healthy
    assert [f.kind for f in rep.findings] == ["healthy"]
    assert "loss 2 → 0.7" in rep.findings[0].evidence


def test_vanishing_gradients_by_error_signal():
    profile = [1e-6, 1e-4, 1e-2, 1.0]  # δ shrinks ×100 per layer towards the input
    rep = diagnose(_records(delta_norm=profile, grad_norm=profile), metrics=_metrics(FALLING))
    (f,) = [f for f in rep.findings if f.kind == "vanishing-gradients"]
    assert f.severity == "error"
    assert "at layer 1 is 1.0e-06 of layer 4's" in f.message
    assert "×0.01 per layer" in f.message
    assert "1: 1e-06" in f.evidence
    assert not rep.healthy


def test_mild_or_non_monotone_differences_are_not_vanishing():
    rep = diagnose(_records(delta_norm=[0.3, 1.0, 0.5, 1.0]), metrics=_metrics(FALLING))
    assert "vanishing-gradients" not in rep
    # a big ratio that is not a steady decay (one odd layer) is not called vanishing
    rep = diagnose(_records(delta_norm=[1e-3, 2.0, 1e-3, 1.0]), metrics=_metrics(FALLING))
    assert "vanishing-gradients" not in rep


def test_exploding_gradients():
    rep = diagnose(_records(delta_norm=[1e4, 1e2, 10.0, 1.0]), metrics=_metrics(FALLING))
    assert "exploding-gradients" in rep.kinds("warning")


def test_gradients_growing_over_time():
    grow = [lambda j: 10.0**j] * 4
    rep = diagnose(_records(grad_norm=grow, delta_norm=grow), metrics=_metrics(FALLING))
    f = next(f for f in rep.findings if f.kind == "exploding-gradients")
    assert "grew" in f.message


def test_saturation_levels():
    rep = diagnose(_records(saturated=[0.9, 0.6, 0.1, None]), metrics=_metrics(FALLING))
    f = next(f for f in rep.findings if f.kind == "saturation")
    assert f.severity == "warning" and f.layers == [1, 2, 3]
    assert "90%" in f.message and "±1" in f.message
    rep = diagnose(_records(saturated=[0.07, 0.0, 0.0, None]), metrics=_metrics(FALLING))
    f = next(f for f in rep.findings if f.kind == "saturation")
    assert f.severity == "info" and rep.healthy
    rep = diagnose(_records(saturated=[0.01, 0.0, 0.0, None]), metrics=_metrics(FALLING))
    assert "saturation" not in rep


def test_dead_units_read_from_the_epoch_window():
    recs = _records(act="relu", dead=[0.0, 0.7, 0.0, None])
    epoch = {
        "type": "epoch",
        "epoch": 0,
        "step": 70,
        "samples": 8,
        "loss": 0.5,
        "layers": [{"index": k, "dead": d} for k, d in enumerate([0.05, 0.75, 0.2, None])],
    }
    rep = diagnose([*recs, epoch], metrics=_metrics(FALLING))
    f = next(f for f in rep.findings if f.kind == "dead-units")
    assert f.severity == "warning" and f.layers == [2, 3]
    assert "2: 0.75 of 16" in f.evidence and "last epoch" in f.evidence


def test_symmetry_and_no_gradient():
    recs = _records(
        identical_units=[True, True, False, False],
        grad_norm=[0.0, 0.0, 1.0, 1.0],
        delta_norm=[0.0, 0.0, 1.0, 1.0],
    )
    rep = diagnose(recs, metrics=_metrics([1.39, 1.39, 1.39, 1.39]))
    assert rep.kinds("error") == {"symmetry", "no-gradient"}
    no_grad = next(f for f in rep.findings if f.kind == "no-gradient")
    assert no_grad.layers == [1, 2]
    assert "vanishing-gradients" not in rep  # zeros are not 'small'
    plateau = next(f for f in rep.findings if f.kind == "plateau")
    assert plateau.severity == "info"


def test_learning_rate_too_high_rising_and_oscillating():
    rep = diagnose(_records(), metrics=_metrics([1.0, 1.3, 1.8, 2.5]))
    f = next(f for f in rep.findings if f.kind == "lr-too-high")
    assert "went up" in f.message
    rep = diagnose(_records(), metrics=_metrics([2.0, 1.0, 1.6, 0.9, 1.7, 1.0, 1.8]))
    f = next(f for f in rep.findings if f.kind == "lr-too-high")
    assert "oscillates" in f.message
    rep = diagnose(_records(update_ratio=[0.5] * 4), metrics=_metrics(FALLING))
    f = next(f for f in rep.findings if f.kind == "lr-too-high")
    assert "50%" in f.message


def test_learning_rate_too_low():
    rep = diagnose(_records(update_ratio=[1e-7] * 4), metrics=_metrics([2.3, 2.299, 2.298, 2.297]))
    f = next(f for f in rep.findings if f.kind == "lr-too-low")
    assert f.severity == "warning" and "1.0e-07" in f.evidence


def test_overfitting():
    train = [1.0, 0.6, 0.4, 0.2, 0.1, 0.05]
    val = [1.0, 0.7, 0.6, 0.7, 0.8, 0.9]
    rep = diagnose(_records(), metrics=_metrics(train, val))
    f = next(f for f in rep.findings if f.kind == "overfitting")
    assert "lowest at epoch 3 (0.6)" in f.message and f.severity == "warning"
    rep = diagnose(_records(), metrics=_metrics(train, [1.0, 0.7, 0.6, 0.55, 0.5, 0.45]))
    assert "overfitting" not in rep


def test_non_finite_from_events_metrics_and_gradients():
    recs = _records()
    recs.append(
        {"type": "event", "kind": "non-finite-loss", "step": 33, "epoch": 1, "value": "nan"}
    )
    rep = diagnose(recs, metrics=_metrics([1.0, None]))
    f = next(f for f in rep.findings if f.kind == "non-finite")
    assert f.severity == "error" and "step 33 (epoch 2)" in f.evidence
    recs = _records(grad_norm=[None, 1.0, 1.0, 1.0])
    rep = diagnose(recs, metrics=_metrics(FALLING))
    f = next(f for f in rep.findings if f.kind == "non-finite")
    assert "layer 1" in f.evidence and "NaN/inf gradient" in f.evidence


def test_report_order_str_and_json():
    rep = diagnose(
        _records(saturated=[0.07, 0.0, 0.0, None], delta_norm=[1e-6, 1e-4, 1e-2, 1.0]),
        metrics=_metrics(FALLING),
    )
    sev = [f.severity for f in rep.findings]
    assert sev == sorted(sev, key=["error", "warning", "info", "ok"].index)
    text = str(rep)
    assert "[ERROR] vanishing-gradients" in text and "evidence:" in text and "suggestion:" in text
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["healthy"] is False
    assert {"kind", "severity", "message", "evidence", "suggestion"} <= set(d["findings"][0])


def test_records_without_steps_or_header_are_rejected():
    with pytest.raises(ValueError, match="no sampled steps"):
        from_records(_records()[:1])
    with pytest.raises(ValueError, match="no header"):
        from_records(_records()[1:])


def test_validation_rising_with_the_training_loss_is_not_overfitting():
    train = [1.3, 1.2, 2.5, 1.9, 2.0, 2.2]  # training got worse too: a learning-rate problem
    val = [1.4, 1.1, 0.6, 1.5, 1.9, 2.0]
    rep = diagnose(_records(), metrics=_metrics(train, val))
    assert "overfitting" not in rep
    assert "lr-too-high" in rep


def test_config_is_summarized_and_used_in_suggestions():
    data = from_records(
        _records(update_ratio=[0.5] * 4),
        _metrics(FALLING),
        config={"optimizer": "sgd", "lr": 3.0, "batch_size": 32},
    )
    rep = diagnose(data)
    assert "config: optimizer sgd, lr 3.0, batch_size 32" in rep.summary
    f = next(f for f in rep.findings if f.kind == "lr-too-high")
    assert "(this run: --lr 3; try --lr 0.3)" in f.suggestion


# --- findings agree with each other, with their numbers and with the run (issue 17) ---
def _classification(train_loss, acc):
    return [
        {"epoch": k + 1, "train_loss": t, "train_accuracy": a, "val_accuracy": a, "step": 20 * k}
        for k, (t, a) in enumerate(zip(train_loss, acc))
    ]


def test_a_run_near_chance_level_is_not_healthy():
    # 3 classes: chance level ln 3 = 1.10; a loss of 1.0 is 91 % of it (the deep ReLU run
    # at 29 % accuracy on digits was once called healthy)
    metrics = _classification([1.09, 1.05, 1.0], [0.35, 0.38, 0.41])
    rep = diagnose(_records(), metrics=metrics, config={"epochs": 3, "lr": 0.05})
    assert not rep.healthy and "healthy" not in rep
    f = next(f for f in rep.findings if f.kind == "underfit")
    assert f.severity == "warning" and "ln 3 = 1.1" in f.message and "91%" in f.message
    assert "--epochs 3; try --epochs 15" in f.suggestion  # still falling: train longer
    # learned: well below chance level -> healthy, and the evidence says how far below
    rep = diagnose(_records(), metrics=_classification([1.0, 0.5, 0.2], [0.6, 0.8, 0.95]))
    assert rep.healthy and "final training loss 18% of chance level" in rep.findings[0].evidence


def test_mild_vanishing_tells_what_its_weight_gradients_show():
    # δ shrinks towards layer 1, but the weight gradients do not: the message must not say
    # the first layers learn slowest when their ∂L/∂W is the larger (1.2e+00 of layer 10's)
    delta = [0.25, 0.4, 0.6, 1.0]
    rep = diagnose(
        _records(act="relu", delta_norm=delta, grad_norm=[1.2, 1.1, 1.0, 1.0]),
        metrics=_metrics(FALLING),
        config={"activation": "relu", "init": "he"},
    )
    f = next(f for f in rep.findings if f.kind == "vanishing-gradients")
    assert f.severity == "info"
    assert "learn slowest" not in f.message and "1.2x layer 4's" in f.message
    assert "still learn" in f.message
    # the run already uses ReLU + He: never propose it
    assert "ReLU with He" not in f.suggestion.split("—")[0] and "already uses" in f.suggestion
    rep = diagnose(
        _records(act="relu", delta_norm=delta, grad_norm=[0.2, 0.5, 0.8, 1.0]),
        metrics=_metrics(FALLING),
    )
    f = next(f for f in rep.findings if f.kind == "vanishing-gradients")
    assert "2.0e-01 of layer 4's, so the first layers learn slowest" in f.message
    assert f.suggestion.startswith("use ReLU with He initialization")  # config unknown


def test_suggestions_never_propose_what_the_run_already_uses():
    train = [1.0, 0.6, 0.4, 0.3, 0.2, 0.1]
    val = [1.0, 0.7, 0.6, 0.7, 0.8, 0.9]
    rep = diagnose(
        _records(),
        metrics=_metrics(train, val),
        config={"weight_decay": 0.0005, "dropout": 0.2, "early_stopping": 5},
    )
    f = next(f for f in rep.findings if f.kind == "overfitting")
    assert "--early-stopping" not in f.suggestion and "add weight decay" not in f.suggestion
    assert "add dropout" not in f.suggestion
    assert "stronger weight decay (this run: --weight-decay 0.0005; try --weight-decay 0.005)" in (
        f.suggestion
    )
    rep = diagnose(_records(), metrics=_metrics(train, val), config={})
    f = next(f for f in rep.findings if f.kind == "overfitting")
    assert "stop early (--early-stopping 5)" in f.suggestion and "add dropout" in f.suggestion


def test_an_in_memory_diagnosis_keeps_its_data_for_the_notebook_picture():
    rep = diagnose(_records(), metrics=_metrics(FALLING))
    assert rep.data is not None and len(rep.data.steps) == 8
    html = rep._repr_mimebundle_()["text/html"]
    assert "‖δ‖" in html and "<svg" in html  # the per-layer gradient profile is drawn
    assert "data" not in rep.to_dict()
