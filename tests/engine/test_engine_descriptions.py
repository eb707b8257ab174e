"""Every primitive carries its own description, and explain reads it from the registry."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn
from chainrule.autograd.primitive import DIFF, PRIMITIVES, apply, defprimitive, tensor_function
from chainrule.explain import explain

NN_PRIMITIVES = ("erf", "gelu", "elu", "log_sigmoid", "binary_cross_entropy")


def _registered_by(prim):
    """The module that registered ``prim``: where its VJPs are written."""
    vjps = prim.vjps
    first = vjps.fn if not isinstance(vjps, (list, tuple)) else next(v for v in vjps if v)
    return first.__module__


# chainrule's own primitives (tests elsewhere register primitives of their own)
BUILT_IN = sorted(n for n, p in PRIMITIVES.items() if _registered_by(p).startswith("chainrule."))


def _inputs(prim):
    """The input positions that take a gradient (``where``'s condition does not)."""
    vjps = prim.vjps
    if not isinstance(vjps, (list, tuple)):  # variadic: one VJP serves every position
        return [0]
    return [i for i, v in enumerate(vjps) if v is not None]


def test_the_nn_primitives_are_registered():
    assert set(NN_PRIMITIVES) <= set(BUILT_IN)
    assert {"add", "mul", "maximum", "linear", "cross_entropy", "concatenate"} <= set(BUILT_IN)


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_primitive_has_a_description(name):
    prim = PRIMITIVES[name]
    d = prim.description
    assert d.symbol, f"{name}: no symbol"
    assert d.formula, f"{name}: no forward formula"
    for i in _inputs(prim):
        assert d.at("local", i) or d.at("vjp", i), f"{name}: input {i} has no derivative text"
    if d.elementwise:  # an elementwise op's local derivative is written per input
        for i in _inputs(prim):
            assert d.at("local", i), f"{name}: elementwise, but no local derivative for {i}"
    assert prim.pattern is not None or d.sentence or d.elementwise or d.at("local", 0), name


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_primitive_has_its_tensor_function_in_diff(name):
    prim = PRIMITIVES[name]
    assert callable(prim.function), f"{name}: no tensor_function registered"
    assert getattr(DIFF, name) is prim.function


def test_explain_narrates_an_nn_primitive_from_its_registration():
    x = cr.tensor(0.5, dtype=np.float64, requires_grad=True)
    x.name = "x"
    text = explain(cr.nn.functional.erf(x)).text()
    assert "erf(x) = erf(0.5) = 0.5205" in text
    assert "2/√π · e^(−x²)" in text
    # the printed local derivative is the engine's: 2/√π e^(-1/4)
    assert f"{2 / np.sqrt(np.pi) * np.exp(-0.25):.4g}" in text


def test_a_users_primitive_explains_with_its_own_description():
    cube = defprimitive(
        "test_cube_described",
        lambda x: x**3,
        lambda F, g, ans, x: g * 3 * x * x,
        symbol="³",
        formula="{0}³",
        local="3·{0}²",
        domain="never",
        elementwise=True,
        substitute=True,
    )

    @tensor_function(cube)
    def tensor_cube(t):
        return apply(cube, t)

    x = cr.tensor(2.0, dtype=np.float64, requires_grad=True)
    x.name = "x"
    text = explain(tensor_cube(x)).text()
    assert "f = x³ = 2³ = 8" in text
    assert "local  ∂f/∂x = 3·x² = 12" in text
    assert "chain  ∂f/∂x = ∂f/∂f · ∂f/∂x = 1 · 12 = 12" in text
    assert DIFF.test_cube_described is tensor_cube


def test_an_undescribed_users_primitive_still_explains_in_generic_words():
    square = defprimitive("test_square_bare", lambda x: x * x, lambda F, g, ans, x: 2 * g * x)
    x = cr.tensor(3.0, dtype=np.float64, requires_grad=True)
    x.name = "x"
    text = explain(apply(square, x)).text()
    assert "f = test_square_bare(x)" in text
    assert "∂f/∂x = 1 · 6 = 6" in text


def test_an_unknown_description_field_is_named():
    with pytest.raises(TypeError, match="unknown description field 'formla'"):
        defprimitive("test_typo", lambda x: x, lambda F, g, ans, x: g, formla="{0}")
    assert "test_typo" not in PRIMITIVES
