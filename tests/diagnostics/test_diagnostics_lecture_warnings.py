"""The lecture's warnings, as runnable demonstrations (examples/lecture_warnings/*.py),
each with the diagnosis it must produce."""

import pathlib
import runpy

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples" / "lecture_warnings"


def _main(name):
    return runpy.run_path(str(EXAMPLES / f"{name}.py"))["main"]


def test_zero_init_gets_no_gradient_and_stays_symmetric(tmp_path):
    rep = _main("zero_init")(str(tmp_path), epochs=2)
    assert rep.kinds("error") == {"no-gradient", "symmetry"}
    no_grad = next(f for f in rep.findings if f.kind == "no-gradient")
    assert no_grad.layers == [1, 2]  # both hidden layers
    assert not rep.healthy


def test_constant_init_never_breaks_symmetry(tmp_path):
    rep = _main("constant_init")(str(tmp_path), epochs=2)
    assert rep.kinds("error") == {"symmetry"}
    sym = next(f for f in rep.findings if f.kind == "symmetry")
    assert sym.layers == [1, 2] and "32 identical units" in sym.evidence
    assert "no-gradient" not in rep  # the gradients are there, just identical


def test_deep_sigmoid_with_normal_init_vanishes_and_saturates(tmp_path):
    rep = _main("deep_sigmoid")(str(tmp_path), epochs=2)
    assert {"vanishing-gradients", "saturation"} <= rep.kinds("warning")
    van = next(f for f in rep.findings if f.kind == "vanishing-gradients")
    assert van.layers == [1, 11]


def test_deep_relu_with_he_init_is_healthy(tmp_path):
    rep = _main("deep_relu_he")(str(tmp_path), epochs=2)
    assert rep.healthy
    assert "healthy" in rep
    assert not rep.kinds("warning")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_oversized_init_saturates_tanh_and_explodes_relu(tmp_path):
    main = _main("oversized_init")
    rep = main(str(tmp_path / "tanh"), epochs=2)
    assert "saturation" in rep.kinds("warning")
    sat = next(f for f in rep.findings if f.kind == "saturation")
    assert "up to 100%" in sat.message or "up to 99%" in sat.message
    with np.errstate(all="ignore"):
        rep = main(str(tmp_path / "relu"), epochs=2, activation="relu", init="normal:1.0")
    assert {"exploding-activations", "non-finite"} <= rep.kinds("warning")
