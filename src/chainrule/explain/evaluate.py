"""Evaluate a parsed expression by building a chainrule graph: what is explained is exactly
what the engine computes.

Every variable becomes a float64 leaf ``tensor(value, dtype=float64,
requires_grad=True)`` named after the variable; every number becomes a float64 constant;
every operator and function calls the chainrule op of the same meaning. Domain problems
(log of a negative number, division by zero) give nan/inf, silently: the narration
reports them.
"""

from __future__ import annotations

import numpy as np

from chainrule import ops
from chainrule.creation import tensor
from chainrule.explain.parser import (
    Assign,
    Binary,
    Call,
    ExpressionError,
    Num,
    Unary,
    Var,
    parse,
    parse_assignments,
    to_source,
    variables,
)

MAX_ELEMENTS = 10_000  # values typed on a command line are small; refuse accidents


def _binary(op, a, b):
    return {
        "+": ops.add,
        "-": ops.sub,
        "*": ops.mul,
        "/": ops.div,
        "**": ops.pow,
    }[op](a, b)


def _call(name, args):
    if name == "max":
        return ops.maximum(*args) if len(args) == 2 else ops.max(args[0])
    if name == "min":
        return ops.minimum(*args) if len(args) == 2 else ops.min(args[0])
    if name == "dot":
        return ops.matmul(*args)
    if name == "sum":
        return ops.sum(args[0])
    return getattr(ops, name)(args[0])  # exp log sqrt abs tanh sigmoid relu


def as_value(name, value):
    """A user-supplied value as a float64 array; nested lists must be rectangular."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise ValueError(
            f"the value of '{name}' is not a number or a rectangular list of numbers"
        ) from None
    if arr.size > MAX_ELEMENTS:
        raise ValueError(f"'{name}' has {arr.size} elements; explain is for small examples")
    if arr.ndim > 2:
        raise ValueError(f"'{name}' has {arr.ndim} dimensions; use scalars, vectors or matrices")
    return arr


def build(source, values):
    """Parse ``source``, make leaves from ``values`` and build the graph.

    ``values`` maps variable names to numbers / nested lists / arrays, or is a string in
    ``--at`` syntax (``"x=-2,y=5"``). Returns ``(output, leaves, statements)`` where
    ``leaves`` maps each variable name to its leaf tensor.
    """
    statements = parse(source)
    if isinstance(values, str):
        values = parse_assignments(values)
    values = dict(values or {})
    free = variables(statements)
    assigned = [st.name for st in statements if st.name is not None]

    clash = [n for n in assigned if n in values]
    if clash:
        raise ValueError(
            f"'{clash[0]}' is computed in the expression and also given a value; "
            "drop it from the values"
        )
    missing = [n for n in free if n not in values]
    if missing:
        s = "s" if len(missing) > 1 else ""
        given = ", ".join(values) or "none"
        raise ValueError(
            f"no value for variable{s} {', '.join(repr(m) for m in missing)}: "
            f"give {'them' if s else 'it'} with --at, e.g. --at "
            + ",".join(f"{m}=1.0" for m in missing)
            + f" (values given: {given})"
        )
    unknown = [n for n in values if n not in free]
    if unknown:
        raise ValueError(
            f"unknown variable{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(u) for u in unknown)} in the values: the expression's "
            f"variables are {', '.join(free) or 'none'}"
        )

    leaves = {}
    for name in free:
        t = tensor(as_value(name, values[name]), dtype=np.float64, requires_grad=True)
        t.name = name
        leaves[name] = t

    env = dict(leaves)
    out = None
    with np.errstate(all="ignore"):
        for st in statements:
            out = _eval(st.expr, env, source)
            if st.name is not None:
                if out.name is None and out._op is not None:
                    out.name = st.name
                elif out._op is None and not out.requires_grad and out.name is None:
                    out.name = st.name  # a named constant, e.g. c = 2
                env[st.name] = out
    used = _used_names(statements)
    for st in statements[:-1]:
        if st.name not in used:
            raise ExpressionError(f"'{st.name}' is computed but never used", source, st.col)
    if not out.requires_grad:
        raise ExpressionError(
            "the expression has no variables, so there is nothing to differentiate", source, 0
        )
    return out, leaves, statements


def _used_names(statements):
    """Every name read by some statement (free in that statement alone)."""
    out = set()
    for st in statements:
        out.update(variables([Assign(None, st.expr, st.col)]))
    return out


def _eval(node, env, source):
    if isinstance(node, Num):
        return tensor(node.value, dtype=np.float64)
    if isinstance(node, Var):
        if node.name not in env:  # an assigned name used before its assignment
            raise ExpressionError(f"'{node.name}' is used before it is assigned", source, node.col)
        return env[node.name]
    try:
        if isinstance(node, Unary):
            x = _eval(node.operand, env, source)
            return ops.neg(x) if node.op == "-" else x
        if isinstance(node, Binary):
            a = _eval(node.left, env, source)
            b = _eval(node.right, env, source)
            return _binary(node.op, a, b)
        if isinstance(node, Call):
            args = [_eval(a, env, source) for a in node.args]
            return _call(node.func, args)
    except ExpressionError:
        raise
    except ValueError as e:  # ShapeError and friends: point at the operator or call
        raise ExpressionError(f"in {to_source(node)}: {e}", source, node.col) from None
    raise TypeError(f"unknown syntax node {node!r}")
