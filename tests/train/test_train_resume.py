"""Resuming from a checkpoint reproduces the uninterrupted run bit for bit."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import load_dataset
from chainrule.experiment import TrainConfig, run_training
from chainrule.train import Callback


class Interrupt(Exception):
    pass


class CrashAt(Callback):
    """Simulate a crash right after optimizer step ``step`` (0-based), or, for
    ``("epoch_end", e)``, at the end of epoch e before its checkpoint is written."""

    def __init__(self, step):
        self.step = step

    def on_batch_end(self, trainer, step, logs):
        if step == self.step:
            raise Interrupt

    def on_epoch_end(self, trainer, epoch, logs):
        if self.step == ("epoch_end", epoch):
            raise Interrupt


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


BASE = dict(layers=[24], epochs=3, batch_size=64, quiet=True, plots=False)


def _run(tmp_path, name, digits, crash=None, resume=None, **options):
    config = TrainConfig.from_dict({**BASE, **options, "out": str(tmp_path / name)})
    callbacks = [CrashAt(crash)] if crash is not None else []
    return run_training(config, callbacks=callbacks, splits=digits, resume=resume)


def _same_run(a, b, dir_a, dir_b):
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "step"):
        assert [e[key] for e in a["history"]] == [e[key] for e in b["history"]], key
    assert a["test_loss"] == b["test_loss"] and a["test_accuracy"] == b["test_accuracy"]
    wa = cr.load(dir_a / "last.safetensors")
    wb = cr.load(dir_b / "last.safetensors")
    for name in wa["model"]:
        np.testing.assert_array_equal(wa["model"][name], wb["model"][name], err_msg=name)
    for index, entry in wa["optimizer"]["state"].items():
        for k, v in entry.items():
            np.testing.assert_array_equal(v, wb["optimizer"]["state"][index][k])


# 1294 training rows / 64 = 21 steps per epoch (0-20, 21-41, 42-62)
@pytest.mark.parametrize(
    "options, crash, every, saved_at",
    [
        (dict(dropout=0.2), 30, 4, 28),  # mid-epoch; dropout draws from the global generator
        # saved after the last step of epoch 2, before that epoch's summary
        (dict(optimizer="adam", schedule="onecycle"), ("epoch_end", 1), 6, 42),
        (dict(schedule="plateau", plateau_patience=0, early_stopping=2), 25, 5, 25),
        (dict(schedule="cosine", warmup=1.0, l2=1e-3, clip_grad_norm=1.0), 50, 7, 49),
    ],
)
def test_resume_after_a_crash_matches_the_uninterrupted_run(
    tmp_path, digits, options, crash, every, saved_at
):
    full = _run(tmp_path, "full", digits, checkpoint_every=every, **options)
    with pytest.raises(Interrupt):
        _run(tmp_path, "cut", digits, crash=crash, checkpoint_every=every, **options)
    state = cr.load(tmp_path / "cut" / "last.safetensors")
    assert state["global_step"] == saved_at  # the last save before the crash
    resumed = _run(
        tmp_path,
        "cut",
        digits,
        checkpoint_every=every,
        resume=str(tmp_path / "cut" / "last.safetensors"),
        **options,
    )
    _same_run(full, resumed, tmp_path / "full", tmp_path / "cut")
    lines = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == len(full["history"])  # the log was rewritten, not duplicated


def test_resume_from_an_epoch_end_checkpoint(tmp_path, digits):
    full = _run(tmp_path, "full", digits, dropout=0.1)
    with pytest.raises(Interrupt):
        _run(tmp_path, "cut", digits, dropout=0.1, crash=22)  # saved at epoch 1's end only
    assert cr.load(tmp_path / "cut" / "last.safetensors")["global_step"] == 21
    resumed = _run(
        tmp_path, "cut", digits, dropout=0.1, resume=str(tmp_path / "cut" / "last.safetensors")
    )
    _same_run(full, resumed, tmp_path / "full", tmp_path / "cut")


def test_resume_into_a_different_architecture_names_the_mismatch(tmp_path, digits):
    _run(tmp_path, "a", digits, epochs=1)
    ckpt = str(tmp_path / "a" / "last.safetensors")
    with pytest.raises(
        ValueError,
        match=r"last\.safetensors: .*different architecture\): layers\.0\.weight has "
        r"shape \(24, 64\) in the checkpoint but \(32, 64\) in the model",
    ):
        _run(tmp_path, "b", digits, layers=[32], resume=ckpt)
    with pytest.raises(ValueError, match="missing from the checkpoint"):
        _run(tmp_path, "c", digits, layers=[24, 8], resume=ckpt)


def test_resume_with_another_batch_size_or_schedule_length_is_refused(tmp_path, digits):
    _run(tmp_path, "a", digits, epochs=1)
    ckpt = str(tmp_path / "a" / "last.safetensors")
    with pytest.raises(ValueError, match="batch_size=64"):
        _run(tmp_path, "b", digits, epochs=1, batch_size=32, resume=ckpt)
    with pytest.raises(ValueError, match="cosine schedule was planned for 1 epochs, not 3"):
        _run(tmp_path, "c", digits, epochs=3, resume=ckpt)
    extended = _run(tmp_path, "d", digits, epochs=3, schedule="constant", resume=ckpt)
    assert extended["epochs"] == 3  # a constant lr can be extended


def test_a_corrupted_checkpoint_leaves_the_model_untouched(tmp_path, digits):
    from chainrule.interop import CheckpointError
    from chainrule.train.state import FitState

    _run(tmp_path, "a", digits, epochs=1)
    path = tmp_path / "a" / "last.safetensors"
    state = cr.load(path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 50])
    with pytest.raises(CheckpointError):
        _run(tmp_path, "b", digits, resume=str(path))
    # a state that fails validation half way (optimizer layout) changes nothing either
    cr.manual_seed(0)
    model = cr.nn.MLP([64, 24, 10], dropout=0.2)  # the default config's architecture
    before = model.state_dict()
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    bad = dict(state)
    bad["optimizer"] = {"state": {}, "param_groups": [{"params": [0, 1]}]}
    trainer = FitState(model, opt, None, None)
    with pytest.raises(ValueError, match="optimizer mismatch"):
        trainer.load_state_dict(bad)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


# every choice of the schema runs end to end (one short epoch each)
@pytest.mark.parametrize(
    "options",
    [
        dict(optimizer="adam", decay_style="decoupled", lr=1e-2),
        dict(optimizer="adamw", lr=1e-2),
        dict(optimizer="rmsprop", lr=1e-2),
        dict(optimizer="adagrad"),
        dict(optimizer="sgd", nesterov=True, decay_style="lecture", weight_decay=1e-4),
        dict(schedule="step", step_size=1, warmup=0.5),
        dict(schedule="multistep", milestones=[1]),
        dict(schedule="exponential", gamma=0.5),
        dict(schedule="onecycle", warmup=0.3),
        dict(schedule="plateau"),
        dict(schedule="constant", warmup=0.5),
        dict(loss="mse", activation="tanh", init="xavier", lr=0.5),  # mse: small gradients
        dict(dtype="float64", activation="sigmoid", init="lecun", l1=1e-4, l2=1e-4),
        dict(activation="gelu", init="normal:0.05", clip_grad_value=0.5, val_split=0),
        dict(layers=[], standardize=False, init="default", threads=0),
    ],
)
def test_every_option_choice_trains(digits, options):
    config = TrainConfig.from_dict({**BASE, "epochs": 2, "batch_size": 32, **options, "out": None})
    results = run_training(config, splits=digits)
    assert results["epochs"] == 2 and results["test_accuracy"] > 0.3, results
    assert np.isfinite(results["train_loss"])
    if options.get("dtype") == "float64":
        assert results["n_parameters"] > 0


def test_regression_data_set(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    t = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=200)
    lines = ["a,b,c,target"] + [",".join(f"{v:.6f}" for v in (*x, y)) for x, y in zip(X, t)]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    base = {
        **BASE,
        "data": str(tmp_path / "r.csv"),
        "out": None,
        "optimizer": "adam",
        "lr": 1e-2,
        "epochs": 20,
        "batch_size": 16,
        "dropout": 0.0,
    }
    with pytest.raises(ValueError, match="regression task; use --loss mse"):
        run_training(TrainConfig.from_dict(base))
    results = run_training(TrainConfig.from_dict({**base, "loss": "mse"}))
    assert results["test_accuracy"] is None
    assert results["test_loss"] < 0.1 * np.var(t)


def test_run_training_refuses_a_folder_of_other_files(tmp_path, digits):
    out = tmp_path / "other"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    config = TrainConfig.from_dict({**BASE, "epochs": 1, "out": str(out)})
    with pytest.raises(ValueError, match="is not a chainrule run folder"):
        run_training(config, splits=digits)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    done = tmp_path / "done"
    run_training(TrainConfig.from_dict({**BASE, "epochs": 1, "out": str(done)}), splits=digits)
    with pytest.raises(ValueError, match="already holds a run; continue it with --resume"):
        run_training(TrainConfig.from_dict({**BASE, "epochs": 1, "out": str(done)}), splits=digits)
