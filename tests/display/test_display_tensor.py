"""A tensor's notebook display: tables of values and gradient when small, a summary of
numbers that equal NumPy's when large (10⁶ elements included)."""

import html
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from chainrule.display import mimebundle
from chainrule.display.tensor import number, stats, tensor_bundle


def cells(fragment, cls):
    """The text of every table cell of class ``cls`` in an HTML fragment."""
    return [html.unescape(c) for c in re.findall(rf'<td class="cell {cls}">(.*?)</td>', fragment)]


def test_small_tensor_shows_every_value_and_gradient():
    x = cr.tensor([[1.0, -2.5, 3.0], [0.25, 5.0, -6.0]], dtype="float64", requires_grad=True)
    (x * x).sum().backward()
    bundle = tensor_bundle(x)
    assert bundle["text/plain"].startswith(repr(x))
    assert "grad: " + repr(x.grad) in bundle["text/plain"]
    page = bundle["text/html"]
    assert cells(page, "val") == [number(v) for v in x.numpy().ravel()]
    assert cells(page, "grad") == [number(v) for v in (2 * x.numpy()).ravel()]
    assert "−2.5" in cells(page, "val") and "−12" in cells(page, "grad")
    assert "shape (2, 3) · dtype float64 · requires_grad" in page


def test_small_tensor_without_grad_has_no_gradient_pane_and_names_its_op():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = a.exp()
    page = tensor_bundle(b)["text/html"]
    assert cells(page, "grad") == []
    assert "op exp" in page
    assert cells(page, "val") == [number(np.exp(1.0)), number(np.exp(2.0))]


def test_scalar_integer_boolean_and_3d_tensors():
    assert cells(tensor_bundle(cr.tensor(3.5))["text/html"], "val") == ["3.5"]
    ints = tensor_bundle(cr.tensor(np.arange(4, dtype=np.int64)))["text/html"]
    assert cells(ints, "val") == ["0", "1", "2", "3"] and "dtype int64" in ints
    flags = tensor_bundle(cr.tensor(np.array([True, False])))["text/html"]
    assert cells(flags, "val") == ["True", "False"]
    cube = tensor_bundle(cr.tensor(np.arange(12.0).reshape(2, 2, 3)))["text/html"]
    assert "[0, :, :]" in cube and "[1, :, :]" in cube
    assert cells(cube, "val") == [number(v) for v in range(12)]


def test_a_million_elements_are_summarised_with_numpy_s_numbers():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(1000, 1000)).astype(np.float32)
    data[:10] = 0.0  # 1% exact zeros
    x = cr.tensor(data, requires_grad=True)
    x.grad = cr.tensor(np.full_like(data, 0.5))
    bundle = tensor_bundle(x)
    text, page = bundle["text/plain"], bundle["text/html"]
    ref = data.astype(np.float64)
    for label, value in (
        ("min", ref.min()),
        ("mean", ref.mean()),
        ("max", ref.max()),
        ("‖·‖₂", np.linalg.norm(ref)),
    ):
        assert f"{label} {number(value)}" in text
        assert f'<th class="row">{label}</th><td class="value">{number(value)}</td>' in page
    assert "elements 1,000,000" in text and "zeros 1.0%" in text
    assert f"grad ‖·‖₂ {number(0.5 * 1000)}" in text  # ‖0.5·1‖ over 10⁶ entries
    assert "shape (1000, 1000) · dtype float32 · requires_grad" in page
    assert '<td class="cell' not in page  # no table of a million cells
    assert len(page) < 5000


def test_summary_counts_nan_and_inf_and_skips_them_in_the_statistics():
    data = np.arange(200.0)
    data[3], data[4], data[5] = np.nan, np.inf, -np.inf
    s = stats(data)
    finite = data[np.isfinite(data)]
    assert (s["nan"], s["inf"]) == (1, 2)
    assert s["min"] == finite.min() and s["max"] == finite.max()
    assert s["mean"] == pytest.approx(finite.mean())
    assert "nan / inf" in tensor_bundle(cr.tensor(data))["text/html"]


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=20),
        elements=st.floats(-1e6, 1e6),
    )
)
def test_stats_equal_numpy(a):
    s = stats(a)
    assert s["size"] == a.size
    assert s["min"] == a.min() and s["max"] == a.max()
    assert s["mean"] == pytest.approx(a.mean(), rel=1e-9, abs=1e-9)
    assert s["norm"] == pytest.approx(np.linalg.norm(a), rel=1e-9, abs=1e-9)
    assert s["zeros"] == pytest.approx(np.mean(a == 0))


def test_empty_tensor():
    s = stats(np.zeros((0, 3)))
    assert s["size"] == 0 and s["min"] is None
    assert "elements" in tensor_bundle(cr.tensor(np.zeros((0, 30))))["text/plain"]


def test_include_and_exclude_keep_text_plain():
    x = cr.tensor([1.0, 2.0])
    assert set(mimebundle(x, include={"text/html"})) == {"text/plain", "text/html"}
    assert set(mimebundle(x, exclude={"text/html"})) == {"text/plain"}
    assert set(mimebundle(x, exclude={"text/plain"})) == {"text/plain", "text/html"}


def test_mimebundle_names_what_it_cannot_display():
    with pytest.raises(TypeError, match="cannot display a dict"):
        mimebundle({})
