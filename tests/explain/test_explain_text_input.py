"""``cr.explain("EXPR", at=...)``: the same narration as ``chainrule explain "EXPR" --at``."""

import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.explain import ExpressionError


def cli_text(capsys, *args):
    capsys.readouterr()
    assert main(["explain", *args]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    "source, at, cli_at",
    [
        ("(x+y)*z", {"x": -2, "y": 5, "z": -4}, ["x=-2,y=5,z=-4"]),
        ("(x+y)*z", "x=-2,y=5,z=-4", ["x=-2", "y=5,z=-4"]),
        ("q = x + y; f = q * z", {"x": -2.0, "y": 5.0, "z": -4.0}, ["x=-2,y=5,z=-4"]),
        (
            "sum(dot(W, x)**2)",
            {"W": [[0.1, 0.5], [-0.3, 0.8]], "x": np.array([[0.2], [0.4]])},
            ["W=[[0.1,0.5],[-0.3,0.8]],x=[[0.2],[0.4]]"],
        ),
        ("f = sigmoid(w0*x0 + b)", "w0=2, x0=-1, b=-3", ["w0=2, x0=-1, b=-3"]),
    ],
)
def test_the_same_narration_and_page_as_the_command_line(capsys, tmp_path, source, at, cli_at):
    expl = cr.explain(source, at=at)
    at_args = [a for value in cli_at for a in ("--at", value)]
    assert expl.text() == cli_text(capsys, source, *at_args)
    page = tmp_path / "cli.html"
    cli_text(capsys, source, *at_args, "--html", str(page), "--layout", "builtin", "-q")
    assert expl.html(layout="builtin") == page.read_text(encoding="utf-8")


def test_the_gradients_are_the_circuits():
    expl = cr.explain("(x+y)*z", at={"x": -2, "y": 5, "z": -4})
    assert {k: float(expl.gradients[k]) for k in "xyz"} == {"x": -4.0, "y": -4.0, "z": 3.0}
    assert float(expl.values[expl.output]) == -12.0


def test_precision_title_and_subtitle_pass_through(capsys):
    expl = cr.explain("x*y + x", at="x=3,y=-4", precision=2, title="T", subtitle="S")
    assert expl.precision == 2 and expl.title == "T" and expl.subtitle == "S"
    cli = cli_text(capsys, "x*y + x", "--at", "x=3,y=-4", "--precision", "2")
    assert expl.text().split("\n", 2)[2] == cli.split("\n", 2)[2]  # after title, subtitle


def test_a_tensor_still_works_and_keeps_its_grad_untouched():
    x = cr.tensor(3.0, requires_grad=True)
    y = x * x
    expl = cr.explain(y)
    assert float(expl.gradients["x0"]) == 6.0 and x.grad is None


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: cr.explain(cr.tensor(1.0, requires_grad=True) * 2, at="x=1"), TypeError, "at="),
        (lambda: cr.explain("(x+y)*z", at="x=1,y=2,z=3", name="L"), TypeError, "L = ..."),
        (lambda: cr.explain("x*y", at="x=1,y=2", gradient=[1.0]), TypeError, "gradient="),
        (lambda: cr.explain(3.0), TypeError, "a chainrule Tensor or an expression"),
        (lambda: cr.explain("(x+y)*z", at="x=1"), ValueError, "no value for variables 'y', 'z'"),
        (lambda: cr.explain("(x+y)*z"), ValueError, "no value for variables 'x', 'y', 'z'"),
        (lambda: cr.explain("x*y", at={"x": 1, "y": 2, "w": 3}), ValueError, "unknown variable"),
        (lambda: cr.explain("(x+", at="x=1"), ExpressionError, "expected"),
        (lambda: cr.explain("x*2", at="x=1", precision=0), ValueError, "precision"),
    ],
)
def test_bad_calls_name_the_problem(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()
