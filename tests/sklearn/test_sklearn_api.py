"""The estimator contract beyond sklearn's checks: meta-estimators, partial_fit, warm
starts, reproducibility, dtypes, pickling, save/load, chainrule's own options and bad
input."""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone
from sklearn.datasets import load_iris, make_regression
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import chainrule as cr
from chainrule.sklearn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X).astype(np.float32), y


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(150, 4, noise=0.1, random_state=0)
    return StandardScaler().fit_transform(X), y / 100


def small(cls=MLPClassifier, **kw):
    params = dict(hidden_layer_sizes=(16,), max_iter=60, random_state=0, learning_rate_init=0.01)
    params.update(kw)
    return cls(**params)


# ---- meta-estimators ------------------------------------------------------------------
def test_pipeline_gridsearch_and_cross_val_score(iris):
    X, y = load_iris(return_X_y=True)
    pipe = Pipeline([("scale", StandardScaler()), ("mlp", small())])
    grid = GridSearchCV(
        pipe, {"mlp__alpha": [1e-4, 1e-1], "mlp__hidden_layer_sizes": [(8,), (16,)]}, cv=3
    )
    grid.fit(X, y)
    assert set(grid.best_params_) == {"mlp__alpha", "mlp__hidden_layer_sizes"}
    assert grid.best_score_ > 0.85
    assert grid.best_estimator_.named_steps["mlp"].hidden_layer_sizes in [(8,), (16,)]
    scores = cross_val_score(make_pipeline(StandardScaler(), small()), X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8
    r2 = cross_val_score(
        small(MLPRegressor, max_iter=200), *make_regression(90, 3, random_state=1), cv=3
    )
    assert r2.shape == (3,) and np.all(np.isfinite(r2))


def test_get_set_params_and_clone_keep_chainrule_options():
    est = MLPClassifier(dropout=0.2, l1=1e-3, dtype="float64", schedule="cosine")
    params = est.get_params()
    assert params["dropout"] == 0.2 and params["dtype"] == "float64" and params["alpha"] == 1e-4
    est.set_params(alpha=0.5, init="he")
    twin = clone(est)
    assert twin.get_params() == est.get_params() and twin is not est


# ---- fitted attributes ----------------------------------------------------------------
def test_fitted_attributes_have_sklearn_layout(iris):
    X, y = iris
    est = small(hidden_layer_sizes=(7, 5)).fit(X, y)
    assert [c.shape for c in est.coefs_] == [(4, 7), (7, 5), (5, 3)]
    assert [b.shape for b in est.intercepts_] == [(7,), (5,), (3,)]
    assert (est.n_layers_, est.n_outputs_, est.out_activation_) == (4, 3, "softmax")
    assert est.n_features_in_ == 4 and list(est.classes_) == [0, 1, 2]
    assert len(est.loss_curve_) == est.n_iter_ and est.t_ == est.n_iter_ * len(X)
    assert est.best_loss_ == min(est.loss_curve_)
    # coefs_ is a live view of the model's weights: editing it changes predictions
    before = est.predict_proba(X[:5])
    est.coefs_[-1][:] = 0
    est.intercepts_[-1][:] = 0
    np.testing.assert_allclose(est.predict_proba(X[:5]), 1 / 3, rtol=1e-6)
    assert not np.allclose(before, 1 / 3)
    with pytest.raises(AttributeError):
        MLPClassifier().coefs_


def test_string_labels_binary_and_predict_log_proba(iris):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    est = small().fit(X, names)
    assert list(est.classes_) == ["setosa", "versicolor", "virginica"]
    assert est.predict(X[:3]).dtype.kind == "U"
    p = est.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(est.predict_log_proba(X), np.log(p), rtol=1e-6)
    binary = small().fit(X, names == "virginica")
    assert binary.out_activation_ == "logistic" and binary.n_outputs_ == 1
    pb = binary.predict_proba(X)
    assert pb.shape == (len(X), 2)
    np.testing.assert_array_equal(binary.predict(X), binary.classes_[pb.argmax(axis=1)])


# ---- dtypes ---------------------------------------------------------------------------
def test_float32_stays_float32_end_to_end(iris):
    X, y = iris
    assert X.dtype == np.float32
    est = small().fit(X, y)
    assert all(c.dtype == np.float32 for c in est.coefs_ + est.intercepts_)
    assert est.predict_proba(X).dtype == np.float32
    assert est.predict_log_proba(X).dtype == np.float32
    reg = small(MLPRegressor).fit(X, X[:, 0] * 2.0)
    assert reg.predict(X).dtype == np.float32
    # float64 input is answered in float64 (sklearn's rule), from the same weights
    p64 = est.predict_proba(X.astype(np.float64))
    assert p64.dtype == np.float64
    np.testing.assert_allclose(p64, est.predict_proba(X), rtol=1e-5, atol=1e-7)


def test_dtype_float64_trains_in_float64(iris):
    X, y = iris
    est = small(dtype="float64").fit(X, y)
    assert all(c.dtype == np.float64 for c in est.coefs_)
    assert est._model.linears[0].weight.dtype == np.float64


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_float64_data_is_fitted_in_float64_as_in_sklearn(iris, cls):
    """The default dtype=None follows the data: float64 (or integer) data gives float64
    weights and predictions, like sklearn's own MLP fitted on the same data."""
    from sklearn import neural_network

    X, y = iris
    X64 = X.astype(np.float64)
    ours = small(cls, solver="lbfgs").fit(X64, y)
    theirs = getattr(neural_network, cls.__name__)(
        hidden_layer_sizes=(16,), max_iter=60, random_state=0, solver="lbfgs"
    ).fit(X64, y)
    for ours_w, theirs_w in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert ours_w.dtype == theirs_w.dtype == np.float64
    assert ours.predict(X64).dtype == theirs.predict(X64).dtype
    ints = small(cls).fit(np.round(X64 * 4).astype(np.int64), y)
    assert all(c.dtype == np.float64 for c in ints.coefs_)


def test_dtype_float32_option_on_float64_data(iris):
    X, y = iris
    X64 = X.astype(np.float64)
    est = small(dtype="float32").fit(X64, y)
    assert all(c.dtype == np.float32 for c in est.coefs_ + est.intercepts_)
    # predictions: float64 input with float32 weights is evaluated in float64 (sklearn's
    # product of dtypes); float32 input in float32
    assert est.predict_proba(X64).dtype == np.float64
    assert est.predict_proba(X).dtype == np.float32
    # a later partial_fit on float64 data keeps the float32 weights
    est.partial_fit(X64, y)
    assert all(c.dtype == np.float32 for c in est.coefs_)


def test_float64_data_beyond_float32_range_is_refused_by_name():
    X = np.array([[1e39, 0.0], [0.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match=r"X has values beyond the range of float32"):
        MLPRegressor(dtype="float32").fit(X, [0.0, 1.0, 2.0])


def test_warm_start_keeps_the_first_fits_dtype(iris):
    X, y = iris
    est = small(warm_start=True).fit(X, y)  # float32 data: float32 weights
    est.fit(X.astype(np.float64), y)
    assert all(c.dtype == np.float32 for c in est.coefs_)
    refit = small().fit(X, y).fit(X.astype(np.float64), y)  # no warm start: re-decided
    assert all(c.dtype == np.float64 for c in refit.coefs_)


@pytest.mark.parametrize("seed", [1, 13, 17, 21])
def test_lbfgs_with_float32_weights_is_not_silently_wrong(seed):
    """L-BFGS fits in float64 whatever the weights' dtype (its stopping test compares
    objective values that float32 rounds away). sklearn's Poisson-GLM equivalence with
    dtype="float32", on seeds where a float32 fit used to stop early without a warning
    (bench/sklearn_lbfgs_seeds.py counts all 100)."""
    from sklearn.linear_model import PoissonRegressor

    rng = np.random.default_rng(seed)
    X = np.linspace(0, 1, 100)
    y = rng.poisson(np.exp(X + 1))
    X = X.reshape(-1, 1)
    glm = PoissonRegressor(alpha=0, tol=1e-7).fit(X, y)
    mlp = MLPRegressor(
        loss="poisson",
        hidden_layer_sizes=(1,),
        activation="identity",
        alpha=0,
        solver="lbfgs",
        tol=1e-7,
        random_state=np.random.RandomState(seed + 1),
        dtype="float32",
    ).fit(X, y)
    assert all(c.dtype == np.float32 for c in mlp.coefs_)
    np.testing.assert_allclose(mlp.predict(X), glm.predict(X), rtol=1e-4)


# ---- reproducibility, warm start, partial_fit ------------------------------------------
def test_random_state_reproducible_and_global_rng_untouched(iris):
    X, y = iris
    cr.manual_seed(123)
    state = cr.backend.get_rng_state()
    a = small(dropout=0.1).fit(X, y)
    assert cr.backend.get_rng_state() == state  # fitting borrowed the generator, gave it back
    b = small(dropout=0.1).fit(X, y)
    np.testing.assert_array_equal(a.loss_curve_, b.loss_curve_)
    for ca, cb in zip(a.coefs_, b.coefs_, strict=True):
        np.testing.assert_array_equal(ca, cb)
    c = small(dropout=0.1, random_state=1).fit(X, y)
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])


def test_warm_start_continues_and_refit_restarts(iris):
    X, y = iris
    est = small(max_iter=5, warm_start=True).fit(X, y)
    first = list(est.loss_curve_)
    est.fit(X, y)
    assert len(est.loss_curve_) == 10 and est.loss_curve_[:5] == first
    assert est.loss_curve_[5] < first[0]  # started from the trained weights
    cold = small(max_iter=5).fit(X, y)
    cold.fit(X, y)
    assert cold.loss_curve_ == first  # warm_start=False: a fresh start, same random_state
    with pytest.raises(ValueError, match="same classes"):
        est.fit(X[y < 2], y[y < 2])


def test_partial_fit_classes_rule_and_progress(iris):
    X, y = iris
    est = small()
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        est.partial_fit(X, y)
    est.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    assert list(est.classes_) == [0, 1, 2] and est.n_outputs_ == 3
    losses = [est.loss_]
    for _ in range(15):
        est.partial_fit(X, y)
        losses.append(est.loss_)
    assert losses[-1] < losses[1]
    assert est.n_iter_ == 1 and len(est.loss_curve_) == 16  # sklearn's counters
    with pytest.raises(ValueError, match="not the same as on last call"):
        est.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="classes not in"):
        est.partial_fit(X, y + 5)
    with pytest.raises(ValueError, match="early_stopping"):
        small(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    reg = small(MLPRegressor)
    for _ in range(3):
        reg.partial_fit(X, X[:, 0])
    assert len(reg.loss_curve_) == 3 and reg.loss_curve_[-1] < reg.loss_curve_[0]


# ---- persistence ----------------------------------------------------------------------
def test_pickle_round_trip(iris):
    X, y = iris
    est = small().fit(X, y)
    twin = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(twin.predict_proba(X), est.predict_proba(X))
    twin.partial_fit(X, y)  # optimizer state travelled too
    assert twin._optimizer.state


@pytest.mark.parametrize("kind", ["classifier", "multilabel", "regressor"])
def test_save_load_round_trip(tmp_path, iris, kind):
    X, y = iris
    if kind == "classifier":
        est = small(solver="sgd").fit(X, np.array(["a", "b", "c"])[y])
    elif kind == "multilabel":
        est = small().fit(X, np.stack([y == 0, y == 2], axis=1).astype(int))
    else:
        est = small(MLPRegressor, loss="poisson").fit(X, np.exp(X[:, 0] / 2))
    path = tmp_path / "est.ckpt.npz"
    est.save(path)
    again = type(est).load(path)
    assert again.get_params() == est.get_params()
    assert [c.dtype for c in again.coefs_] == [c.dtype for c in est.coefs_]
    assert again.loss_curve_ == est.loss_curve_ and again.n_iter_ == est.n_iter_
    out = "predict_proba" if kind != "regressor" else "predict"
    np.testing.assert_array_equal(getattr(again, out)(X), getattr(est, out)(X))
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    if kind != "regressor":
        np.testing.assert_array_equal(again.classes_, est.classes_)
    again.partial_fit(X, again.predict(X))  # optimizer state came back too
    # the file is a chainrule checkpoint: nothing in it is pickled
    with np.load(path, allow_pickle=False) as archive:
        assert "__chainrule__" in archive.files
    with pytest.raises(ValueError, match=r"not a MLP(Regressor|Classifier)"):
        (MLPRegressor if kind != "regressor" else MLPClassifier).load(path)


def test_save_refuses_what_json_cannot_hold(tmp_path, iris):
    X, y = iris
    est = small(schedule=lambda epoch: 1.0).fit(X, y)
    with pytest.raises(ValueError, match="schedule"):
        est.save(tmp_path / "x.npz")
    with pytest.raises(NotFittedError):
        MLPClassifier().save(tmp_path / "y.npz")


def test_feature_names_in_with_a_dataframe(iris):
    pd = pytest.importorskip("pandas")
    X, y = iris
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    est = small().fit(df, y)
    assert list(est.feature_names_in_) == ["a", "b", "c", "d"]


# ---- chainrule's options --------------------------------------------------------------
def test_chainrule_options_change_training(iris):
    X, y = iris
    base = small().fit(X, y)
    l1 = small(l1=0.05).fit(X, y)
    assert np.abs(l1.coefs_[0]).sum() < np.abs(base.coefs_[0]).sum()
    decayed = small(weight_decay=0.1).fit(X, y)
    assert np.abs(decayed.coefs_[0]).sum() < np.abs(base.coefs_[0]).sum()
    he = small(init="he").fit(X, y)
    assert not np.allclose(he.loss_curve_[0], base.loss_curve_[0])
    cosine = small(schedule="cosine", max_iter=10, n_iter_no_change=100)
    cosine.fit(X, y)
    assert cosine._optimizer.param_groups[0]["lr"] == pytest.approx(
        0.01 * cr.optim.schedules.cosine(9, total_steps=10)
    )
    dropped = small(dropout=0.5).fit(X, y)
    # dropout is off at prediction time: predictions are deterministic
    np.testing.assert_array_equal(dropped.predict_proba(X), dropped.predict_proba(X))
    assert dropped.score(X, y) > 0.8
    elu = small(activation="elu").fit(X, y)
    assert elu.score(X, y) > 0.8


def test_verbose_prints_sklearn_lines(iris, capsys):
    X, y = iris
    small(max_iter=2, verbose=True).fit(X, y)
    out = capsys.readouterr().out
    assert "Iteration 1, loss = " in out and "Iteration 2, loss = " in out


# ---- bad input ------------------------------------------------------------------------
def test_bad_input_errors_use_sklearn_wording(iris):
    X, y = iris
    with pytest.raises(NotFittedError):
        MLPClassifier().predict(X)
    with pytest.raises(NotFittedError):
        MLPRegressor().predict(X)
    est = small(max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but MLPClassifier is expecting 4"):
        est.predict(X[:, :3])
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        small().fit(bad, y)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.predict(bad)
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        est.predict_proba(bad)
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        est.predict(X[0])
    with pytest.raises(ValueError, match="Input y contains NaN"):
        small(MLPRegressor).fit(X, np.full(len(X), np.nan))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        small().fit(X, y[:-1])
    with pytest.raises(ValueError, match="Unknown label type"):
        small().fit(X, X[:, 0] + 0.5)
    with pytest.raises(ValueError, match="negative"):
        small(MLPRegressor, loss="poisson").fit(X, X[:, 0])


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(alpha=-1), "The 'alpha' parameter of MLPClassifier must be a float"),
        (dict(hidden_layer_sizes=(4, 0)), "'hidden_layer_sizes'"),
        (dict(solver="newton"), "'solver'"),
        (dict(activation="softplus"), "'activation'"),
        (dict(batch_size=0), "'batch_size'"),
        (dict(max_iter=0), "'max_iter'"),
        (dict(dtype="float16"), "'dtype'"),
        (dict(dropout=1.0), "'dropout'"),
        (dict(schedule="warmup"), "'schedule'"),
        (dict(early_stopping=True, validation_fraction=0.005), "validation set is too small"),
    ],
)
def test_invalid_hyperparameters_raise_at_fit(iris, params, match):
    X, y = iris
    est = MLPClassifier(**params)  # __init__ only stores
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)


def test_batch_size_larger_than_data_warns_and_clips(iris):
    X, y = iris
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        small(batch_size=1000, max_iter=2).fit(X, y)
    assert any("It is going to be clipped" in str(w.message) for w in caught)


def test_clear_import_error_without_scikit_learn():
    import subprocess
    import sys

    code = "import sys; sys.modules['sklearn'] = None; import chainrule.sklearn"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "chainrule.sklearn needs scikit-learn" in proc.stderr
    assert "pip install 'chainrule[sklearn]'" in proc.stderr
    # and the rest of chainrule does not need it
    code = "import sys; sys.modules['sklearn'] = None; import chainrule; import chainrule.train"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_l2_decay_follows_the_current_alpha_across_partial_fit(iris):
    X, y = iris
    est = small(alpha=3.0, batch_size=50)
    est.partial_fit(X, y, classes=[0, 1, 2])
    (weights_group,) = [g for g in est._optimizer.param_groups if g["params"][0].ndim == 2]
    assert weights_group["weight_decay"] == pytest.approx(3.0 / 50)  # alpha / batch size
    est.set_params(alpha=0.0, weight_decay=0.01)
    est.partial_fit(X, y)
    assert weights_group["weight_decay"] == pytest.approx(0.01)
    (biases_group,) = [g for g in est._optimizer.param_groups if g["params"][0].ndim == 1]
    assert biases_group["weight_decay"] == 0.0


# ---- cr.compile -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cls, params, target",
    [
        (MLPClassifier, dict(), "labels"),
        (MLPClassifier, dict(solver="sgd", alpha=0.1, learning_rate="invscaling"), "labels"),
        (MLPClassifier, dict(early_stopping=True, dropout=0.2, l1=0.01), "binary"),
        (MLPClassifier, dict(), "multilabel"),
        (MLPRegressor, dict(loss="poisson", weight_decay=0.01), "positive"),
    ],
)
def test_compiled_training_step_is_bit_for_bit_the_eager_one(
    iris, cls, params, target, monkeypatch
):
    """compile=True (the default) replays the captured step: the same weights and loss
    curve as compile=False, with no fallback warning, and the step was replayed."""
    import chainrule.train.loop as loop

    steps = []

    def recording(fn, **kwargs):
        steps.append(loop_compile(fn, **kwargs))
        return steps[-1]

    loop_compile = loop.compile_step
    monkeypatch.setattr(loop, "compile_step", recording)
    X, y = iris
    X = X.astype(np.float64)
    targets = {
        "labels": y,
        "binary": y == 1,
        "multilabel": np.stack([y == 0, y == 2], axis=1).astype(int),
        "positive": np.exp(X[:, 0] / 2),
    }[target]
    fits = []
    for compiled in (False, True):
        est = small(cls, batch_size=32, max_iter=15, compile=compiled, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # a refused capture warns
            est.fit(X, targets)
            if not est.early_stopping:  # (partial_fit refuses early stopping, as sklearn)
                est.partial_fit(X, targets)
        fits.append(est)
    eager, compiled = fits
    assert steps and all(step.replays > 0 for step in steps)
    assert compiled.loss_curve_ == eager.loss_curve_
    for a, b in zip(eager.coefs_ + eager.intercepts_, compiled.coefs_ + compiled.intercepts_):
        np.testing.assert_array_equal(a, b)
