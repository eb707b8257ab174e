"""The state schema and its URL form; the data the page builds; exports that reproduce."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule.data import load_csv
from chainrule.experiment import TrainConfig, read_config, run_training
from chainrule.playground import data as page_data
from chainrule.playground import explain, export
from chainrule.playground.session import Session
from chainrule.playground.state import (
    DATASETS,
    DEFAULTS,
    FEATURES,
    GROUPS,
    INITS,
    OPTIMIZERS,
    from_query,
    to_query,
    validate,
)

states = st.fixed_dictionaries(
    {
        "data": st.sampled_from([d for d in DATASETS if d != "csv"]),
        "n": st.integers(20, 2000),
        "noise": st.floats(0, 1),
        "test": st.floats(0.05, 0.9),
        "seed": st.integers(0, 2**31 - 1),
        "features": st.lists(st.sampled_from(FEATURES), min_size=1, unique=True),
        "layers": st.lists(st.integers(1, 16), max_size=6),
        "init": st.sampled_from(INITS),
        "opt": st.sampled_from(list(OPTIMIZERS)),
        "lr": st.floats(1e-6, 100),
        "batch": st.integers(1, 2000),
        "l2": st.floats(0, 10),
        "hide": st.lists(st.sampled_from(GROUPS), unique=True),
    }
)


@settings(max_examples=60, deadline=None)
@given(states)
def test_a_state_survives_its_url(values):
    state = validate(values)
    assert from_query(to_query(state)) == state
    assert from_query(f"http://127.0.0.1:1/?{to_query(state)}&token=x") == state


def test_defaults_make_an_empty_query():
    assert to_query(validate({})) == "" and validate({}) == DEFAULTS


@pytest.mark.parametrize(
    "values, message",
    [
        ({"lr": "fast"}, "playground: lr must be a number, got 'fast'"),
        ({"lr": 0}, "playground: lr must be in [1e-06, 100], got 0"),
        ({"act": "swish"}, "playground: act: invalid choice 'swish'; choose from: tanh,"),
        ({"layers": "4,x"}, "playground: layers must be layer widths such as 4,4, got '4,x'"),
        ({"layers": "4,4,4,4,4,4,4"}, "playground: layers: at most 6 hidden layers, got 7"),
        ({"layers": "40"}, "playground: layers: widths must be 1..16, got 40"),
        ({"features": ""}, "playground: features: choose at least one input feature"),
        ({"features": "x3"}, "playground: features: invalid choice 'x3'"),
        ({"batch": 2.5}, "playground: batch must be an integer, got 2.5"),
        ({"speling": 1}, "playground: unknown setting 'speling'"),
        ({"data": "csv"}, "playground: data 'csv' needs an uploaded file (upload=ID)"),
    ],
)
def test_bad_settings_are_refused_by_name(values, message):
    with pytest.raises(ValueError) as e:
        validate(values)
    assert str(e.value).startswith(message)


def test_regression_sets_train_with_mse():
    assert validate({"data": "plane", "loss": "cross-entropy"})["loss"] == "mse"


def test_the_exported_csv_reads_back_as_the_pages_split(tmp_path):
    state = validate({"data": "spirals", "features": "x1,x2^2,x1*x2,sin(x2)", "test": 0.35})
    data = page_data.build(state)
    path = tmp_path / "spirals.csv"
    path.write_text(page_data.csv_text(data))
    back = load_csv(path, test_fraction=state["test"])
    for name in ("X_train", "y_train", "X_test", "y_test"):
        assert np.array_equal(getattr(back, name), getattr(data.splits, name)), name
    P = data.points[data.train]
    np.testing.assert_array_equal(back.X_train[:, 0], P[:, 0].astype(np.float32))  # x₁
    np.testing.assert_array_equal(back.X_train[:, 3], np.sin(P[:, 1]).astype(np.float32))


@pytest.mark.parametrize(
    "values",
    [
        {"data": "xor", "layers": [4], "act": "relu", "init": "he", "lr": 0.1, "seed": 3},
        {"data": "gaussians", "layers": [5, 5], "opt": "nesterov", "l1": 0.001, "wd": 0.001},
        {"data": "blobs", "loss": "mse", "opt": "adam", "lr": 0.01, "l2": 0.01, "init": "uniform"},
    ],
)
def test_training_the_export_gives_the_pages_numbers(values, tmp_path):
    session = Session(validate(values))
    try:
        session.advance(2 * len(session.trainer.loader) + 3)  # two epochs and a bit
        out = export.export(session)
    finally:
        session.close()
    assert out["epoch"] == 2 and out["expected"] == session.gate.epochs[-1]
    for kind in ("csv", "toml", "python"):
        (tmp_path / out["names"][kind]).write_text(out[kind])
    cwd = os.getcwd()
    os.chdir(tmp_path)  # the config names its CSV relative to where it is run
    try:
        config = TrainConfig.from_dict(read_config(out["names"]["toml"]), source="export")
        results = run_training(config)
    finally:
        os.chdir(cwd)
    assert results["test_loss"] == out["expected"]["test_loss"]
    assert results["train_loss"] == out["expected"]["train_loss"]
    assert results["steps"] == out["expected"]["step"]
    assert export.lesson_from_config(tmp_path / out["names"]["toml"]) == session.state
    step = out["step"]  # one step as the NumPy cr.compile replays: runnable Python
    compile(step, out["names"]["step"], "exec")
    assert "def train_step(" in step and "delta_" in step


def test_the_exported_script_prints_the_pages_numbers(tmp_path):
    session = Session(validate({"data": "moons", "layers": [3], "opt": "momentum", "wd": 0.01}))
    try:
        session.advance(len(session.trainer.loader))
        out = export.export(session)
    finally:
        session.close()
    for kind in ("csv", "python"):
        (tmp_path / out["names"][kind]).write_text(out[kind])
    r = subprocess.run(
        [sys.executable, out["names"]["python"]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    expected = out["expected"]
    assert r.stdout.strip() == (
        f"train loss {expected['train_loss']:.6f}, test loss {expected['test_loss']:.6f}"
    )


def test_a_train_config_opens_as_a_lesson(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(
        'data = "moons"\nlayers = [6, 3]\noptimizer = "sgd"\nnesterov = true\n'
        'lr = 0.2\ninit = "normal:0.5"\nactivation = "relu"\n'
    )
    lesson = export.lesson_from_config(path)
    assert lesson["data"] == "moons" and lesson["layers"] == [6, 3] and lesson["opt"] == "nesterov"
    assert lesson["init"] == "normal" and lesson["scale"] == 0.5 and lesson["act"] == "relu"


def test_the_hardest_example_is_the_one_with_the_largest_loss():
    session = Session(validate({"data": "circles", "layers": [3], "seed": 4}))
    try:
        session.advance(30)
        k = explain.hardest_example(session)
        n = len(session.prepared.train[1])
        losses = [explain.explain_unit(session, 2, 0, i)["loss"] for i in range(n)]
    finally:
        session.close()
    assert k == int(np.argmax(losses))


def test_every_schema_key_reaches_the_page():
    from chainrule.playground.state import schema_json

    schema = schema_json()
    assert set(schema["keys"]) == set(DEFAULTS)
    json.dumps(schema)


def test_the_regression_surfaces():
    from chainrule.data.synthetic import GAUSSIAN_BUMPS, make_gaussian_surface, make_plane

    X, y = make_plane(300, noise=0.0, seed=1)
    assert X.dtype == np.float32 and y.dtype == np.float32 and X.shape == (300, 2)
    assert np.abs(X).max() <= 1.0
    np.testing.assert_allclose(y, (X[:, 0].astype(np.float64) + X[:, 1]) / 2, atol=1e-6)
    X2, y2 = make_plane(300, noise=0.0, seed=1)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    Xn, yn = make_plane(300, noise=0.2, seed=1)
    assert np.array_equal(Xn, X) and 0.1 < np.std(yn - y) < 0.3  # noise on the target only
    X, y = make_gaussian_surface(2000, noise=0.0, seed=0)
    for cx, cy, h in GAUSSIAN_BUMPS:  # near each centre the surface is about its height
        near = np.hypot(X[:, 0] - cx, X[:, 1] - cy) < 0.05
        assert near.any() and np.allclose(y[near], h, atol=0.05)
    with pytest.raises(ValueError, match="n_samples"):
        make_plane(0)
    with pytest.raises(ValueError, match="noise"):
        make_gaussian_surface(10, noise=-1)
