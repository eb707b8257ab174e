"""Property tests (Hypothesis): on any text at all, the expression parser, the ``--at``
reader, the evaluator and ``chainrule explain`` answer with their own one-line error,
never with another exception or a traceback."""

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chainrule.cli import main
from chainrule.explain import ExpressionError, explain_expression, parse, parse_assignments
from chainrule.explain.parser import FUNCTIONS, variables

# text near the grammar reaches far deeper into the parser than uniform Unicode does
PIECES = [*"xyzw()[],;=+-*/ .0123456789e", "**", "1e308", "nan", "inf", *FUNCTIONS]
near_grammar = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)
any_text = st.one_of(st.text(max_size=60), near_grammar)
SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
DEEP = [
    "(" * 3000 + "x" + ")" * 3000,
    "-" * 5000 + "x",
    "x" + "**x" * 3000,
    "x" + "+x" * 3000,
    "exp(" * 2000 + "x" + ")" * 2000,
]


def _assert_one_line(err, text):
    assert isinstance(err, ExpressionError)
    assert err.message and "\n" not in err.message
    if err.col is not None:
        assert 0 <= err.col <= len(text)


@SETTINGS
@given(any_text)
@example("max(x, y) * z")
@example("q = x + y; f = q * z")
@example("")
@example("x = ; ;")
def test_parse_answers_with_a_tree_or_its_own_one_line_error(text):
    try:
        statements = parse(text)
    except ExpressionError as e:
        _assert_one_line(e, text)
    else:
        assert statements and all(s.expr is not None for s in statements)


@pytest.mark.parametrize("text", DEEP, ids=lambda t: t[:8] + "…")
def test_deep_nesting_and_long_chains_are_refused_in_one_line(text):
    with pytest.raises(ExpressionError) as info:
        parse(text)
    _assert_one_line(info.value, text)
    assert "deep" in info.value.message


@SETTINGS
@given(any_text)
@example("x=" + "[" * 3000 + "1" + "]" * 3000)
@example("x=[1,[2]]")
def test_the_at_reader_answers_with_values_or_its_own_error(text):
    try:
        values = parse_assignments(text)
    except ExpressionError as e:
        _assert_one_line(e, text)
    else:
        assert isinstance(values, dict) and values


@SETTINGS
@given(near_grammar, st.sampled_from([-2.0, 0.0, 0.5, 3.0]))
@example("max(x, y) * z", 2.0)
@example("log(x) / x", 0.0)
@example("dot(x, y)", 1.0)
def test_explaining_any_expression_gives_a_narration_or_a_user_error(text, value):
    try:
        names = variables(parse(text))
    except ExpressionError as e:
        _assert_one_line(e, text)
        return
    values = {name: value for name in names}
    try:
        with np.errstate(all="ignore"):
            expl = explain_expression(text, values)
    except ExpressionError as e:
        _assert_one_line(e, text)
    except ValueError as e:  # the evaluator's own errors (no variables, shapes): one line
        assert str(e) and "\n" not in str(e)
    else:
        assert expl.text()


@SETTINGS
@given(text=any_text)
@example(text="max(x, y) * z")
@example(text="(" * 3000 + "x" + ")" * 3000)
@example(text="x\ny")
def test_the_command_prints_its_own_error_and_exits_2(text, capsys):
    if text.startswith("-"):
        text = " " + text  # a leading '-' would be an option for argparse, not ours
    rc = main(["explain", text, "--at", "x=1", "-q"])
    err = capsys.readouterr().err
    assert rc in (0, 2), err
    assert "Traceback" not in err
    if rc == 2:
        lines = err.rstrip("\n").split("\n")
        one_line = len(lines) == 1 and lines[0].startswith("chainrule explain: error: ")
        caret = (
            len(lines) == 2 and lines[0] in text.split("\n") and lines[1].lstrip(" ")[:2] == "^ "
        )
        assert one_line or caret, err
