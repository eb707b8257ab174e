"""The expression parser: grammar, precedence, the values syntax, and errors with carets."""

import math

import numpy as np
import pytest

from chainrule.explain import ExpressionError, parse, parse_assignments
from chainrule.explain.evaluate import build
from chainrule.explain.parser import (
    Binary,
    Call,
    Num,
    Unary,
    Var,
    parse_expression,
    to_source,
    variables,
)


def value(source, **values):
    used = variables(parse(source))
    out, _, _ = build(source, {k: v for k, v in values.items() if k in used})
    return out.data.item() if out.size == 1 else out.data


# --------------------------------------------------------------------- precedence
@pytest.mark.parametrize(
    "source, expected",
    [
        ("-x**2", -9.0),  # -(x**2), as in Python
        ("(-x)**2", 9.0),
        ("x * 2**3**2", 3 * 512.0),  # right-associative
        ("x * (2**3)**2", 3 * 64.0),
        ("x**-1", 1 / 3),
        ("2*-x", -6.0),
        ("--x", 3.0),
        ("+x", 3.0),
        ("x - y - z", 3 - 5 - 7),  # left-associative
        ("x / y / z", 3 / 5 / 7),
        ("x + y * z", 3 + 5 * 7),
        ("(x + y) * z", (3 + 5) * 7),
        ("x * y ** 2", 3 * 25),
        ("-x * y", -15.0),
        ("x - -y", 8.0),
        ("1e-1 * x + .5 + 2.", 0.3 + 0.5 + 2.0),
    ],
)
def test_precedence_matches_python(source, expected):
    assert value(source, x=3, y=5, z=7) == pytest.approx(expected, rel=1e-12)


def test_unary_minus_binds_looser_than_power_in_the_tree():
    tree = parse_expression("-x**2")
    assert isinstance(tree, Unary) and tree.op == "-"
    assert isinstance(tree.operand, Binary) and tree.operand.op == "**"
    tree = parse_expression("2**3**2")
    assert isinstance(tree.right, Binary) and tree.right.op == "**"
    assert isinstance(tree.left, Num)


def test_columns_are_recorded():
    tree = parse_expression("x + foo_1 * 2")
    assert tree.col == 2 and isinstance(tree.left, Var) and tree.left.col == 0
    assert tree.right.col == 10 and tree.right.left.name == "foo_1"


@pytest.mark.parametrize(
    "source",
    [
        "-x**2",
        "(x + y) * z",
        "x - (y - z)",
        "x / (y * z)",
        "x**y**2",
        "(x**y)**2",
        "exp(-x) + max(x, y)",
        "-(x + y)",
    ],
)
def test_to_source_round_trips(source):
    again = to_source(parse_expression(source))
    assert value(again, x=3, y=5, z=7) == pytest.approx(value(source, x=3, y=5, z=7))


# --------------------------------------------------------------------- functions
def test_functions():
    v = dict(x=0.5, y=-2.0)
    assert value("exp(x)", **v) == pytest.approx(math.exp(0.5))
    assert value("log(x)", **v) == pytest.approx(math.log(0.5))
    assert value("sqrt(x)", **v) == pytest.approx(math.sqrt(0.5))
    assert value("abs(y)", **v) == 2.0
    assert value("tanh(x)", **v) == pytest.approx(math.tanh(0.5))
    assert value("sigmoid(x)", **v) == pytest.approx(1 / (1 + math.exp(-0.5)))
    assert value("relu(y) + relu(x)", **v) == 0.5
    assert value("max(x, y)", **v) == 0.5
    assert value("min(x, y)", **v) == -2.0


def test_vectors_and_matrices():
    w, x = [2.0, -3.0], [-1.0, -2.0]
    assert value("dot(w, x)", w=w, x=x) == pytest.approx(4.0)
    assert value("sum(w * x)", w=w, x=x) == pytest.approx(4.0)
    W = [[1.0, 2.0], [3.0, 4.0]]
    np.testing.assert_allclose(value("dot(W, x)", W=W, x=x), [-5.0, -11.0])
    assert value("max(w)", w=w) == 2.0 and value("min(w)", w=w) == -3.0
    _out, leaves, _ = build("sum(W)", {"W": W})
    assert leaves["W"].shape == (2, 2) and leaves["W"].dtype == np.float64
    assert leaves["W"].name == "W" and leaves["W"].requires_grad


def test_statements_name_intermediates():
    out, _leaves, statements = build("q = x + y; f = q * z", "x=-2,y=5,z=-4")
    assert out.item() == -12.0 and out.name == "f"
    assert out.parents[0].name == "q"
    assert [s.name for s in statements] == ["q", "f"]


def test_number_literals_are_float64_constants():
    out, _, _ = build("exp(2) * x", {"x": 1.0})
    assert out.dtype == np.float64
    assert out.item() == math.exp(2)  # not a float32 approximation of e²


# --------------------------------------------------------------------- --at values
def test_parse_assignments():
    got = parse_assignments("x=-2,y=5, w=[2,-3],W=[[1,2],[3,4]], e=1e-3, h=.5, n=-inf")
    assert got["x"] == -2.0 and got["y"] == 5.0
    assert got["w"] == [2.0, -3.0] and got["W"] == [[1.0, 2.0], [3.0, 4.0]]
    assert got["e"] == 1e-3 and got["h"] == 0.5 and got["n"] == -math.inf


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("x", "expected '=' after 'x'"),
        ("x=", "expected a number or '['"),
        ("x=[1,2", "expected ',' or ']'"),
        ("x=[]", "empty list"),
        ("x=1 y=2", "expected ',' between values"),
        ("x=1,x=2", "'x' is given twice"),
        ("=1", "expected a variable name"),
        ("", "--at is empty"),
    ],
)
def test_parse_assignments_errors(text, fragment):
    with pytest.raises(ValueError) as info:
        parse_assignments(text)
    assert fragment in str(info.value)


# --------------------------------------------------------------------- errors
def caret(e):
    """(expression line, column of the caret, message) of a two-line error."""
    lines = str(e).split("\n")
    assert len(lines) == 2, str(e)
    return lines[0], lines[1].index("^"), lines[1][lines[1].index("^") + 2 :]


@pytest.mark.parametrize(
    "source, col, fragment",
    [
        ("(x+*y)", 3, "found '*'"),
        ("x +", 3, "found the end of the expression"),
        ("(x + y", 6, "expected ')' to close the '(' at column 1"),
        ("x + y)", 5, "unmatched ')'"),
        ("x y", 2, "expected an operator"),
        ("3x", 1, "expected an operator"),
        ("x^2", 1, "use ** for powers"),
        ("W @ x", 2, "use dot(a, b)"),
        ("x $ y", 2, "unexpected character '$'"),
        ("foo(x)", 0, "unknown function 'foo'; known functions: abs, dot, exp"),
        ("exp(x, y)", 0, "exp() takes 1 argument, got 2"),
        ("dot(x)", 0, "dot() takes 2 arguments, got 1"),
        ("max(x, y, z)", 0, "max() takes 1 or 2 arguments, got 3"),
        ("sum()", 0, "sum() takes 1 argument, got 0"),
        ("()", 1, "empty parentheses"),
        ("[1, 2] * x", 0, "array literals go in --at"),
        ("exp = x; exp", 0, "'exp' is a function"),
        ("x + 1; y", 0, "only the last statement may be unnamed"),
        ("q = x; q = y; q", 7, "'q' is assigned twice"),
    ],
)
def test_syntax_errors_point_at_the_column(source, col, fragment):
    with pytest.raises(ExpressionError) as info:
        parse(source)
    e = info.value
    assert isinstance(e, ValueError)
    line, at, message = caret(e)
    assert line == source
    assert at == col == e.col
    assert fragment in message


def test_the_issue_example_error_reads_exactly():
    with pytest.raises(ValueError) as info:
        parse("(x+*y)")
    assert str(info.value) == (
        "(x+*y)\n   ^ expected a number, a variable, a function call or '(' here, found '*'"
    )


def test_empty_expression():
    with pytest.raises(ExpressionError, match="empty"):
        parse("   ")


def test_missing_value_names_the_variable():
    with pytest.raises(ValueError) as info:
        build("(x+y)*z", {"x": 1, "y": 2})
    msg = str(info.value)
    assert "no value for variable 'z'" in msg and "--at" in msg and "x, y" in msg


def test_unknown_variable_lists_the_known_ones():
    with pytest.raises(ValueError) as info:
        build("x + y", {"x": 1, "y": 2, "w": 3})
    assert "'w'" in str(info.value) and "variables are x, y" in str(info.value)


def test_value_errors():
    with pytest.raises(ValueError, match="rectangular"):
        build("sum(x)", {"x": [[1, 2], [3]]})
    with pytest.raises(ValueError, match="also given a value"):
        build("q = x + 1; q * 2", {"x": 1, "q": 2})
    with pytest.raises(ExpressionError, match="never used"):
        build("q = x + 1; x * 2", {"x": 1})
    with pytest.raises(ExpressionError, match="no variables"):
        build("2 * 3", {})


def test_shape_errors_point_at_the_call():
    with pytest.raises(ExpressionError) as info:
        build("1 + dot(w, x)", {"w": [1, 2], "x": [1, 2, 3]})
    _line, at, message = caret(info.value)
    assert at == 4 and "inner dimensions differ" in message


def test_parser_never_evaluates_python():
    with pytest.raises(ExpressionError):
        parse("__import__('os').system('true')")
    with pytest.raises(ExpressionError):
        parse("x.__class__")


def test_call_nodes():
    tree = parse_expression("max(x, exp(y))")
    assert isinstance(tree, Call) and tree.func == "max" and len(tree.args) == 2
    assert isinstance(tree.args[1], Call) and tree.args[1].func == "exp"
