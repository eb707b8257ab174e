"""Sweep specs: valid files parse into the right distributions; every invalid one fails
before any trial with a message that names the key path."""

import pytest

from chainrule.sweep import IntRange, Layers, Pruning, SweepSpec, Uniform, load_spec, spec_from_dict
from chainrule.sweep.space import Choice

GOOD = """
[sweep]
strategy = "random"
trials = 7
seed = 3
[sweep.pruning]
min_epochs = 2
eta = 3
[base]
data = "digits"
epochs = 20
[search]
lr = {loguniform = [1e-3, 0.3]}
momentum = {uniform = [0.0, 0.95]}
batch_size = {loguniform_int = [16, 256]}
epochs = {int = [5, 30]}
activation = ["relu", "tanh"]
layers = {n_layers = [1, 3], units = {loguniform_int = [32, 512]}}
"""


def test_a_full_spec_parses_into_distributions(spec_file):
    spec = load_spec(spec_file(GOOD))
    p = spec.search.params
    assert (
        isinstance(p["lr"], Uniform) and p["lr"].log and (p["lr"].low, p["lr"].high) == (1e-3, 0.3)
    )
    assert isinstance(p["momentum"], Uniform) and not p["momentum"].log
    assert isinstance(p["batch_size"], IntRange) and p["batch_size"].log
    assert isinstance(p["activation"], Choice) and p["activation"].values == ["relu", "tanh"]
    layers = p["layers"]
    assert isinstance(layers, Layers) and (layers.n_layers.low, layers.n_layers.high) == (1, 3)
    assert spec.trials == 7 and spec.seed == 3 and spec.mode == "max"
    assert spec.pruning == Pruning(min_epochs=2, eta=3.0)
    assert spec.max_epochs() == 30 and spec.pruning.rungs(30) == [2, 6, 18]
    assert spec_from_dict({"search": {"lr": [0.1]}, "sweep": {"metric": "val_loss"}}).mode == "min"
    # pruning on the loss while ranking by accuracy: each keeps its own direction
    mixed = spec_from_dict({"search": {"lr": [0.1]}, "sweep": {"pruning": {"metric": "val_loss"}}})
    assert (mixed.mode, mixed.prune_mode, mixed.prune_metric) == ("max", "min", "val_loss")


def test_fingerprint_ignores_the_trial_count_but_not_the_space(spec_file):
    a = load_spec(spec_file(GOOD))
    b = load_spec(spec_file(GOOD.replace("trials = 7", "trials = 70"), "b.toml"))
    c = load_spec(spec_file(GOOD.replace("0.95", "0.9"), "c.toml"))
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_grid_size_and_trial_cap():
    spec = SweepSpec(
        search={"lr": Uniform(0.01, 0.1, num=4), "activation": Choice(["relu", "tanh"])},
        strategy="grid",
    )
    assert spec.n_trials == 8
    assert SweepSpec(search=spec.search, strategy="grid", trials=5).n_trials == 5


BAD = [
    (
        "[search]\nlr = {loguniform = [0, 0.1]}",
        r"^sweep spec: search\.lr\.loguniform: bounds must be positive, got \[0, 0\.1\]$",
    ),
    ("[search]\nlr = {uniform = [0.3, 0.1]}", r"search\.lr\.uniform: empty range"),
    ("[search]\nepochs = {int = [9, 3]}", r"search\.epochs\.int: empty range"),
    ("[search]\nlr = []", r"search\.lr: empty choice"),
    ("[search]\nlrr = {uniform = [0.1, 0.2]}", r"search\.lrr: unknown chainrule train option"),
    ("[search]\nlr = {logunif = [0.1, 0.2]}", r"search\.lr\.logunif: unknown key"),
    ("[search]\nlr = 0.1", r"search\.lr: expected a list of choices .*fixed values go in \[base\]"),
    ('[search]\nlr = {uniform = ["a", 0.2]}', r"search\.lr\.uniform: bounds must be numbers"),
    (
        "[search]\nbatch_size = {uniform = [8, 64]}",
        r"search\.batch_size\.uniform: batch_size takes integers",
    ),
    ("[search]\nepochs = {int = [1.5, 4]}", r"search\.epochs\.int: bounds must be integers"),
    (
        '[search]\nactivation = ["relu", "relux"]',
        r"search\.activation\.choice\[1\]: invalid choice 'relux'",
    ),
    ('[search]\nbatch_size = [32, "big"]', r"search\.batch_size\.choice\[1\] must be an integer"),
    (
        "[search]\nmomentum = {uniform = [0.5, 1.0]}",
        r"search\.momentum\.uniform: momentum must be < 1",
    ),
    ("[search]\nlayers = {n_layers = [1, 3]}", r"search\.layers: a layer structure needs both"),
    (
        "[search]\nlayers = {n_layers = [1, 3], units = {uniform = [8, 9]}}",
        r"search\.layers\.units: must be an integer distribution",
    ),
    (
        "[search]\nlayers = {n_layers = [-1, 3], units = 8}",
        r"search\.layers\.n_layers: values must be integers >= 0",
    ),
    (
        "[search]\nlayers = {n_layers = 2, units = 8, deep = true}",
        r"search\.layers\.deep: unknown key",
    ),
    (
        '[search]\nlr = {uniform = [0.1, 0.2]}\n[sweep]\nstrategy = "grid"',
        r"search\.lr: grid search needs a finite set",
    ),
    (
        '[search]\nlr = [0.1]\n[sweep]\nstrategy = "bayes"',
        r"sweep\.strategy: invalid choice 'bayes'",
    ),
    ("[search]\nlr = [0.1]\n[sweep]\ntrials = 0", r"sweep\.trials: must be >= 1"),
    ('[search]\nlr = [0.1]\n[sweep]\ntrials = "ten"', r"sweep\.trials: must be an integer"),
    ('[search]\nlr = [0.1]\n[sweep]\nmetrics = "x"', r"sweep\.metrics: unknown key"),
    ('[search]\nlr = [0.1]\n[sweep]\nmetric = "f1"', r"sweep\.metric: invalid choice 'f1'"),
    (
        "[search]\nlr = [0.1]\n[sweep.pruning]\neta = 1",
        r"sweep\.pruning\.eta: must be a number > 1",
    ),
    (
        '[search]\nlr = [0.1]\n[sweep.pruning]\nmetric = "test_accuracy"',
        r"sweep\.pruning\.metric: pruning watches a per-epoch metric",
    ),
    (
        "[search]\nlr = [0.1]\n[base]\nval_split = 0",
        r"sweep\.metric: val_accuracy needs base\.val_split > 0",
    ),
    ("[search]\nlr = [0.1]\n[base]\nbatch_size = 0", r"^sweep spec: batch_size must be >= 1"),
    ("[search]\nlr = [0.1]\n[base]\nepoch = 3", r"^sweep spec: unknown base key 'epoch'"),
    ('[search]\nout = ["a"]', r"search\.out: not a sweep option: trials run quietly"),
    ('[search]\nlr = [0.1]\n[base]\nout = "runs/x"', r"base\.out: not a sweep option"),
    ("[search]\n", r"search: empty"),
    ("[serch]\nlr = [0.1]", r"unknown section 'serch'"),
    ("[search]\nlr = [0.1", r"invalid TOML"),
]


@pytest.mark.parametrize("text,message", BAD, ids=[m[:40] for _, m in BAD])
def test_invalid_specs_name_the_key_path(spec_file, text, message):
    with pytest.raises(ValueError, match=message):
        load_spec(spec_file(text))


def test_cross_option_rules_are_left_to_each_trial():
    # nesterov is only valid with sgd: a space mixing optimizers is fine, the bad trials fail
    spec = spec_from_dict({"search": {"optimizer": ["sgd", "adam"], "nesterov": [True, False]}})
    assert spec.search.params["nesterov"].values == [True, False]


def test_custom_objectives_may_search_any_name():
    spec = spec_from_dict(
        {
            "sweep": {"objective": "mod:fn", "metric": "score"},
            "search": {"whatever": {"uniform": [0, 1]}},
        }
    )
    assert spec.metric == "score"
    with pytest.raises(ValueError, match=r"sweep\.objective: expected 'module:function'"):
        spec_from_dict({"sweep": {"objective": "nocolon"}, "search": {"x": [1]}})


def test_missing_file_is_an_oserror(tmp_path):
    with pytest.raises(OSError, match="sweep spec not found"):
        load_spec(tmp_path / "nope.toml")


def test_the_example_specs_are_valid():
    root = __import__("pathlib").Path(__file__).resolve().parents[2] / "examples"
    digits = load_spec(root / "sweep_digits.toml")
    assert digits.strategy == "random" and digits.n_trials == 60
    assert digits.pruning.rungs(digits.max_epochs()) == [3, 9]
    mnist = load_spec(root / "sweep_mnist.toml")
    assert mnist.base["data"] == "mnist" and mnist.strategy == "tpe"
    # the lecture's list: lr, regularization, epochs, depth and widths, init, loss, activation
    for key in (
        "lr",
        "weight_decay",
        "epochs",
        "layers",
        "init",
        "loss",
        "activation",
        "optimizer",
        "momentum",
        "batch_size",
        "schedule",
    ):
        assert key in mnist.search.params, key
    assert mnist.pruning.rungs(mnist.max_epochs()) == [2, 6, 18]
