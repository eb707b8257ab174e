"""check_model_gradients: passes correct models, catches a wrong VJP, restores the model."""

import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.diagnostics import check_model_gradients
from chainrule.diagnostics.model_gradcheck import verdict

CE = cr.nn.functional.cross_entropy


def _data(n=3, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, k, n)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "leaky_relu"])
def test_correct_models_pass_with_small_errors(activation):
    x, y = _data()
    cr.manual_seed(0)
    model = cr.nn.MLP([4, 6, 5, 3], activation=activation, init="xavier", dtype="float64")
    rep = check_model_gradients(model, CE, x, y)
    assert rep.passed
    assert [p.name for p in rep.params] == [n for n, _ in model.named_parameters()]
    assert all(p.checked == int(np.prod(p.shape)) for p in rep.params)
    assert rep.max_rel_error < 1e-6


# a sigmoid whose VJP forgets the factor (1 - σ): the kind of bug gradcheck exists for
_BAD = cr.defprimitive(
    "bad_sigmoid_for_gradcheck_test",
    lambda x: 1 / (1 + np.exp(-x)),
    lambda F, g, ans, x: g * ans,
)


class BadSigmoid(cr.nn.Module):
    def forward(self, x):
        return cr.apply(_BAD, x)


def test_a_wrong_vjp_is_reported_wrong_for_the_parameters_below_it():
    x, y = _data()
    cr.manual_seed(0)
    model = cr.nn.Sequential(
        cr.nn.Linear(4, 5, dtype="float64"), BadSigmoid(), cr.nn.Linear(5, 3, dtype="float64")
    )
    rep = check_model_gradients(model, CE, x, y)
    assert not rep.passed
    by_name = {p.name: p for p in rep.params}
    assert by_name["0.weight"].verdict == "WRONG" and by_name["0.bias"].verdict == "WRONG"
    # the layer above the bug is unaffected
    assert by_name["2.weight"].verdict == "good" and by_name["2.bias"].verdict == "good"
    assert "result: FAILED" in str(rep)


def test_float32_model_is_checked_in_float64_and_restored():
    x, y = _data()
    cr.manual_seed(0)
    model = cr.nn.MLP([4, 5, 3], activation="tanh", init="xavier")  # float32
    before = [p.data.copy() for p in model.parameters()]
    with pytest.warns(UserWarning, match="float32; checking in float64"):
        rep = check_model_gradients(model, CE, x.astype(np.float32), y)
    assert rep.passed and rep.max_rel_error < 1e-6  # float64 accuracy, not float32's
    assert rep.converted_from == "float32"
    for p, b in zip(model.parameters(), before):
        assert p.dtype == np.float32 and p.grad is None
        np.testing.assert_array_equal(p.data, b)


def test_float64_model_does_not_warn():
    x, y = _data()
    model = cr.nn.MLP([4, 5, 3], activation="tanh", dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_model_gradients(model, CE, x, y)


def test_analytic_gradients_agree_with_torch():
    torch = pytest.importorskip("torch")
    x, y = _data()
    cr.manual_seed(3)
    model = cr.nn.MLP([4, 5, 3], activation="tanh", init="xavier", dtype="float64")
    W1, b1, W2, b2 = (torch.tensor(p.data.copy(), requires_grad=True) for p in model.parameters())
    out = torch.tanh(torch.tensor(x) @ W1.T + b1) @ W2.T + b2
    torch.nn.functional.cross_entropy(out, torch.tensor(y)).backward()
    rep = check_model_gradients(model, CE, x, y)
    for p, t in zip(rep.params, (W1, b1, W2, b2)):
        assert p.grad_norm == pytest.approx(t.grad.norm().item(), rel=1e-12)


def test_large_parameters_are_sampled_and_kinks_noted():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 30)), rng.integers(0, 2, 4)
    cr.manual_seed(0)
    model = cr.nn.MLP([30, 20, 2], activation="relu", init="he", dtype="float64")
    model.layers[0].bias.data[0] = -(x @ model.layers[0].weight.data[0])[0]  # a_0 = 0 exactly
    rep = check_model_gradients(model, CE, x, y, max_entries=50)
    assert rep.params[0].checked == 50 and rep.params[1].checked == 20
    assert rep.kinks >= 1 and "kinks" in str(rep)


def test_verdict_reading():
    assert verdict(0.5) == "WRONG" and verdict(float("nan")) == "WRONG"
    assert verdict(1e-3) == "suspicious" and verdict(1e-3, kinks=True) == "kink?"
    assert verdict(1e-5) == "ok" and verdict(1e-9) == "good"


# --- settings that would check nothing or divide by zero are usage errors (issue 17) ---
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--max-entries", "0"], "max-entries: must be an integer ≥ 1"),
        (["--eps", "0"], "eps: the finite-difference step must be a number > 0, got 0.0"),
        (["--eps", "nan"], "got nan"),
        (["--eps", "inf"], "got inf"),
        # argparse took "-1e-6" for an option ("expected one argument"): now the value
        (["--eps", "-1e-6"], "must be a number > 0, got -1e-06"),
        (["--seed", "-3"], "--seed must be ≥ 0, got -3"),
    ],
)
def test_gradcheck_invalid_settings_are_usage_errors(argv, message, capsys):
    assert main(["gradcheck", *argv]) == 2  # not 1 ("a gradient is wrong"), not 0 (PASSED)
    out, err = capsys.readouterr()
    assert "PASSED" not in out and "FAILED" not in out
    assert err.count("\n") == 1 and err.startswith("chainrule gradcheck: error: ")
    assert message in err


def test_check_model_gradients_rejects_a_step_it_cannot_divide_by():
    model = cr.nn.MLP([3, 4, 2], activation="tanh", dtype="float64")
    x, y = np.ones((2, 3)), np.array([0, 1])
    for eps in (0.0, -1e-6, float("nan"), "1e-6"):
        with pytest.raises(ValueError, match="eps: the finite-difference step"):
            check_model_gradients(model, cr.nn.functional.cross_entropy, x, y, eps=eps)
    with pytest.raises(ValueError, match="max-entries"):
        check_model_gradients(model, cr.nn.functional.cross_entropy, x, y, max_entries=0)
