"""Every primitive, driven by the op-spec table: forward against NumPy, first- and
second-order gradients against central finite differences in float64."""

import numpy as np
import pytest
from op_specs import SPECS

import chainrule as cr
from chainrule.autograd.primitive import PRIMITIVES

CASES = [(spec, shapes) for spec in SPECS for shapes in spec.shapes]
IDS = [f"{spec.name}-{'x'.join(map(str, shapes))}" for spec, shapes in CASES]


def _rng(spec, shapes):
    return np.random.default_rng(abs(hash((spec.name, shapes))) % 2**32)


@pytest.mark.parametrize(("spec", "shapes"), CASES, ids=IDS)
def test_forward_matches_numpy(spec, shapes):
    arrays = spec.inputs(_rng(spec, shapes), shapes)
    out = spec.fn(*[cr.tensor(a) for a in arrays])
    expected = spec.ref(*arrays)
    assert out.shape == np.shape(expected)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("spec", "shapes"), CASES, ids=IDS)
def test_first_order_gradient(spec, shapes):
    arrays = spec.inputs(_rng(spec, shapes), shapes)
    report = cr.gradcheck(spec.fn, [cr.tensor(a) for a in arrays], order=1, **spec.check)
    assert report.passed
    assert max(report.max_rel_error) < 1e-5


@pytest.mark.parametrize(("spec", "shapes"), CASES, ids=IDS)
def test_second_order_gradient(spec, shapes):
    arrays = spec.inputs(_rng(spec, shapes), shapes)
    report = cr.gradcheck(spec.fn, [cr.tensor(a) for a in arrays], order=2, **spec.check)
    assert report.passed


def _primitives_used(spec):
    shapes = spec.shapes[0]
    xs = [cr.tensor(a, requires_grad=True) for a in spec.inputs(np.random.default_rng(0), shapes)]
    out = spec.fn(*xs)
    used, stack = set(), [out]
    while stack:
        t = stack.pop()
        if t.op is not None:
            used.add(t.op.name)
            stack.extend(t.parents)
    return used


def test_every_registered_primitive_has_a_spec():
    # the engine's own set; an upper package's primitive (the estimators' sparse_linear,
    # registered when chainrule.sklearn is imported in this worker) is tested by its owner
    # (tests/sklearn/test_sklearn_sparse.py: gradients equal the dense layer's)
    builtin = {
        name
        for name, p in PRIMITIVES.items()
        if p.forward.__module__.startswith(("chainrule", "numpy"))
        and not p.forward.__module__.startswith("chainrule.sklearn")
    }
    covered = set()
    for spec in SPECS:
        covered |= set(spec.covers)
        assert set(spec.covers) <= _primitives_used(spec) | {"sum_to"}, spec.name
    missing = builtin - covered
    assert not missing, f"primitives without an op spec: {sorted(missing)}"


def test_gradcheck_catches_a_wrong_vjp():
    wrong = cr.defprimitive("wrong_square", lambda x: x * x, lambda F, g, ans, x: g * x)  # misses 2
    try:
        with pytest.raises(cr.GradcheckError):
            cr.gradcheck(lambda x: cr.apply(wrong, x), [cr.tensor(np.array([1.0, 2.0]))])
        report = cr.gradcheck(
            lambda x: cr.apply(wrong, x), [cr.tensor(np.array([1.0, 2.0]))], raise_exception=False
        )
        assert not report.passed
        assert report.max_rel_error[0] == pytest.approx(0.5)
    finally:
        PRIMITIVES.pop("wrong_square")


def test_gradcheck_projection_path_on_large_input():
    x = cr.tensor(np.random.default_rng(1).standard_normal((40, 30)))
    report = cr.gradcheck(lambda x: (x.tanh() ** 2).sum(axis=0), [x])
    assert report.method == ["projection"]
    assert report.passed


def test_gradcheck_warns_on_float32():
    with pytest.warns(UserWarning, match="float64"):
        cr.gradcheck(lambda x: x.exp(), [cr.tensor([1.0, 2.0])])
