"""detect_anomaly: the first op that makes a NaN/inf is named, with the user's line."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.mode import state
from chainrule.diagnostics import AnomalyError, detect_anomaly

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _line_of(marker):
    """The line number in this file of the source line containing ``marker``."""
    with open(__file__, encoding="utf-8") as f:
        lines = f.read().splitlines()
    return next(k + 1 for k, line in enumerate(lines) if marker in line and "_line_of" not in line)


def test_forward_nan_names_the_op_and_the_user_line():
    x = cr.tensor([1.0, -1.0], requires_grad=True)
    with pytest.raises(FloatingPointError) as info, detect_anomaly():
        y = x.exp()
        z = y.log() - (x - 2.0).log()  # MARK-forward
        z.sum()
    err = info.value
    assert isinstance(err, AnomalyError)
    assert err.op == "log" and err.phase == "forward" and err.kind == "nan"
    line = _line_of("# MARK-forward")
    msg = str(err)
    assert "\n" not in msg
    assert msg.startswith("detect_anomaly: 'log' produced nan in the forward pass")
    assert f"test_diagnostics_anomaly.py:{line}" in msg
    assert "(x - 2.0).log()" in msg  # the source line itself is quoted


def test_inf_from_overflow_is_reported_as_inf():
    x = cr.tensor(np.array([1000.0]), requires_grad=True)
    with pytest.raises(AnomalyError) as info, detect_anomaly():
        x.exp()
    assert info.value.kind == "inf" and info.value.op == "exp"


def test_backward_nan_names_the_op_and_where_it_was_created():
    x = cr.tensor([0.0, 4.0], requires_grad=True)
    with detect_anomaly():
        y = (x.sqrt() * 3.0).sum()  # MARK-backward
        # forward is finite (sqrt(0) = 0); the VJP g / (2·sqrt(x)) divides by zero
        with pytest.raises(AnomalyError) as info:
            y.backward()
    err = info.value
    assert err.phase == "backward" and err.op == "sqrt" and err.kind == "inf"
    assert f"test_diagnostics_anomaly.py:{_line_of('# MARK-backward')}" in str(err)
    assert "in the gradient of its input 0" in str(err)


def test_backward_checks_create_graph_gradients_too():
    x = cr.tensor([0.0, 1.0], requires_grad=True)
    with detect_anomaly(), pytest.raises(AnomalyError) as info:
        (_g,) = cr.grad(x.sqrt().sum(), [x], create_graph=True)
    # with create_graph the VJP is itself recorded: its first non-finite op is named
    err = info.value
    assert err.phase == "backward" and err.kind == "inf"
    assert "while computing gradients" in str(err)


def test_a_nan_already_in_the_data_is_reported_at_the_first_op_using_it():
    data = cr.tensor([np.nan, 1.0])
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(AnomalyError) as info, detect_anomaly():
        (w * data).sum()
    msg = str(info.value)
    assert "input 1 of 'mul' already contained nan (a leaf tensor: the data)" in msg
    w.data[0] = np.inf  # as a diverging optimizer step would
    with pytest.raises(AnomalyError, match="input 0 of 'mul' already contained inf \\(a parameter"):
        with detect_anomaly():
            w * 2.0


def test_the_first_producer_is_reported_not_a_downstream_op():
    x = cr.tensor([-1.0], requires_grad=True)
    with pytest.raises(AnomalyError) as info, detect_anomaly():
        y = x.sqrt()  # the producer
        y * 2.0 + 1.0
    assert info.value.op == "sqrt"


def test_finite_work_passes_and_gradients_are_unchanged():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 3))
    x = cr.tensor(a, requires_grad=True)
    with detect_anomaly():
        (x.tanh() * x).sum().backward()
    expected = np.tanh(a) + a * (1 - np.tanh(a) ** 2)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)


def test_state_is_restored_after_errors_and_nesting():
    assert state.anomaly is None
    with pytest.raises(AnomalyError), detect_anomaly():
        outer = state.anomaly
        with detect_anomaly():
            assert state.anomaly is outer  # nested uses share the outer checker
        assert state.anomaly is outer
        cr.tensor([-1.0]).log()
    assert state.anomaly is None


def test_decorator_form():
    @detect_anomaly()
    def step(v):
        assert state.anomaly is not None
        return cr.tensor(v).log()

    with pytest.raises(AnomalyError):
        step([-1.0])
    assert state.anomaly is None
    assert step([1.0]).item() == 0.0


def test_without_anomaly_mode_nan_passes_silently():
    y = cr.tensor([-1.0]).log()
    assert np.isnan(y.item())


def test_created_at_entries_are_dropped_with_their_tensors():
    import gc

    with detect_anomaly():
        checker = state.anomaly
        x = cr.tensor([1.0, 2.0], requires_grad=True)
        for _ in range(50):
            (x * 2.0).sum()
        gc.collect()
        assert len(checker._created_at) < 10


def test_anomaly_errors_are_value_errors_for_the_cli():
    assert issubclass(AnomalyError, FloatingPointError) and issubclass(AnomalyError, ValueError)


def test_find_the_nan_example():
    import pathlib
    import runpy

    path = pathlib.Path(__file__).resolve().parents[2] / "examples/lecture_warnings/find_the_nan.py"
    err = runpy.run_path(str(path))["main"]()
    assert err.op == "log" and err.kind == "inf"
    assert "find_the_nan.py:" in str(err) and "probs.log()" in str(err)
