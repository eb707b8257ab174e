"""Plan: two captures of the same step become one replayable program.

A step is captured on two calls with the same input shapes. The two tapes must agree op
for op — otherwise Python control flow took a different path, and the step is refused
with the first difference named. Comparing them also says what each array from outside
the ops (an ``ext`` node) is:

* the same Tensor object both times — a parameter or another long-lived tensor: its
  ``.data`` is read at replay (so in-place optimizer updates and reassigned ``.data``
  are seen);
* re-drawn by a known random call (dropout's mask): drawn again at replay;
* the same view (a slice) of one of the step's arguments on both calls: sliced again;
* equal, bit for bit, to one of the step's arguments cast to its dtype (``cr.tensor(x)``,
  a float64 batch fed to a float32 model): cast again at replay;
* equal, bit for bit, on both calls: a constant (an ``arange`` of the batch size);
* anything else changes between calls without coming from the arguments: refused.
"""

from __future__ import annotations

import numpy as np

from chainrule.compile import refusals
from chainrule.compile.capture import Ref


class Program:
    """What the replay runs: the second capture's nodes (``ext`` ones resolved to
    ``leaf``, ``derived``, ``const`` or ``callout``) and code, plus what to guard."""

    def __init__(self, nodes, code, n_args, leaves, optimizers, numpy_args=True):
        self.nodes = nodes
        self.code = code
        self.n_args = n_args
        self.leaves = leaves  # persistent tensors read at replay, in first-use order
        self.optimizers = optimizers  # optimizers whose calls are replayed
        self.numpy_args = numpy_args  # every array argument was a NumPy array


class _Resolved:
    """A resolved ``ext`` node: same fields as a capture Node."""

    __slots__ = ("array", "dtype", "info", "kind", "shape")

    def __init__(self, node, kind, info):
        self.kind, self.info = kind, info
        self.array, self.shape, self.dtype = None, node.shape, node.dtype


def _same_bits(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _derived_arg(a1, a2, r1, r2):
    """The index of an argument that ``a`` equals (cast to a's dtype) on both calls."""
    for k, (x1, x2) in enumerate(zip(r1.args, r2.args)):
        if x2.shape != a2.shape or x1.shape != a1.shape:
            continue
        try:
            if _same_bits(a2, x2.astype(a2.dtype)) and _same_bits(a1, x1.astype(a1.dtype)):
                return k
        except (TypeError, ValueError):
            continue
    return None


def _address(a):
    return a.__array_interface__["data"][0]


def _view_of_arg(a1, a2, r1, r2):
    """``(k, offset, strides)`` when ``a`` is the same view (``x[:half]``, ``y[sl]``) of
    contiguous argument k on both calls."""
    for k, (x1, x2) in enumerate(zip(r1.args, r2.args)):
        if not (x1.flags.c_contiguous and x2.flags.c_contiguous) or x2.dtype != a2.dtype:
            continue
        if not (np.shares_memory(a1, x1) and np.shares_memory(a2, x2)):
            continue
        off1, off2 = _address(a1) - _address(x1), _address(a2) - _address(x2)
        if off1 == off2 and a1.strides == a2.strides and 0 <= off2 < max(x2.nbytes, 1):
            return k, off2, a2.strides
    return None


def _where(rec, n):
    if n in rec.where:
        name, line = rec.where[n]
        return f"'{name}'" + (f" at {line}" if line else "")
    if not 0 <= n < len(rec.nodes):
        return "the end of the step"
    node = rec.nodes[n]
    if node.kind == "vjp":
        return f"the backward of '{node.info[0].name}'"
    return {
        "add": "a gradient sum",
        "grad": "a read of .grad",
        "seed": "the start of backward",
        "callout": "a random draw",
    }.get(node.kind, node.kind)


class StepsDiffer(refusals.CaptureError):
    """Two captures of one signature did not agree (tried again a few times first)."""


def _first_difference(rec1, rec2):
    for n, (x, y) in enumerate(zip(rec1.nodes, rec2.nodes)):
        if not _same_node(x, y):
            return n
    return min(len(rec1.nodes), len(rec2.nodes)) - 1


def _differ(rec1, rec2, n1, n2, what):
    return StepsDiffer(
        "cr.compile: "
        f"the step ran differently on two calls with the same input shapes ({what}: "
        f"{_where(rec1, n1)} the first time, {_where(rec2, n2)} the second); Python "
        "control flow that depends on values, or state changed between the calls, is not "
        "captured. Move that logic out of the step, or run it without compile"
    )


def _same_template(a, b):
    if isinstance(a, Ref) or isinstance(b, Ref):
        return type(a) is type(b) and a == b
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same_template, a, b))
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(_same_template(a[k], b[k]) for k in a)
        )
    try:
        return bool(type(a) is type(b) and a == b)
    except (TypeError, ValueError):
        return a is b


def _same_node(x, y):
    if x.kind != y.kind or x.shape != y.shape or x.dtype != y.dtype:
        return False
    if x.kind in ("fwd", "vjp"):
        return x.info[0] is y.info[0] and _same_template(x.info[1:], y.info[1:])
    if x.kind == "grad":
        return x.info[0] is y.info[0]
    if x.kind == "ext":
        return True  # resolved below
    if x.kind == "callout":
        return x.info[0].kind == y.info[0].kind and x.info[0].key == y.info[0].key
    return x.info == y.info


def plan(rec1, rec2) -> Program:
    """Check that two captures are the same step and resolve what came from outside."""
    if len(rec1.nodes) != len(rec2.nodes) or len(rec1.code) != len(rec2.code):
        n = _first_difference(rec1, rec2)
        raise _differ(rec1, rec2, n, n, "a different sequence of operations")
    for n, (x, y) in enumerate(zip(rec1.nodes, rec2.nodes)):
        if not _same_node(x, y):
            raise _differ(rec1, rec2, n, n, "a different operation")
    code = []
    for c1, c2 in zip(rec1.code, rec2.code):
        if c1[0] != c2[0]:
            raise StepsDiffer("cr.compile: the step ran differently on two calls")
        if c1[0] == "call":
            if c1[1].kind != c2[1].kind or c1[1].key != c2[1].key:
                raise StepsDiffer(
                    "cr.compile: "
                    f"the step ran differently on two calls: {c1[1].label} the first time, "
                    f"{c2[1].label} the second"
                )
        elif c1[0] == "setgrad":
            if c1[1] is not c2[1]:
                continue  # .grad of a tensor made inside the step: nobody sees it later
        elif c1[0] == "end":
            if not _same_template(c1[1], c2[1]):
                raise refusals.unknown("the step returned differently shaped results")
        elif c1 != c2:
            raise StepsDiffer("cr.compile: the step ran differently on two calls")
        code.append(c2)

    nodes = list(rec2.nodes)
    leaves = {}
    for n, (x, y) in enumerate(zip(rec1.nodes, rec2.nodes)):
        if y.kind == "grad":
            leaves.setdefault(id(y.info[0]), y.info[0])
        if y.kind != "ext":
            continue
        t1, t2 = x.info[0], y.info[0]
        late1, late2 = rec1.late.get(id(x.array)), rec2.late.get(id(y.array))
        if late1 is not None and late2 is not None:
            nodes[n] = _Resolved(y, "callout", late2)
        elif t2 is not None and t1 is t2:
            nodes[n] = _Resolved(y, "leaf", (t2,))
            leaves.setdefault(id(t2), t2)
        elif (view := _view_of_arg(x.array, y.array, rec1, rec2)) is not None:
            nodes[n] = _Resolved(y, "view", view)
        elif (k := _derived_arg(x.array, y.array, rec1, rec2)) is not None:
            nodes[n] = _Resolved(y, "derived", (k, y.dtype))
        elif _same_bits(x.array, y.array):
            const = y.array.copy()
            const.flags.writeable = False
            nodes[n] = _Resolved(y, "const", (const,))
        else:
            raise refusals.unknown(
                f"an array used by {_where(rec2, n)} changes between calls but does not "
                "come from the step's arguments, its parameters or chainrule's random "
                "draws (a NumPy array computed in the step, or a tensor rebuilt each call "
                "from outside data); pass it to the step as an argument, or compute it "
                "with chainrule ops from the arguments"
            )
    # the arguments of the second call were needed to compare the captures, not after:
    # what the replay needs of them is their array type
    numpy_args = all(type(n.array) is np.ndarray for n in nodes if n.kind == "arg")
    for n in nodes:
        if n.kind == "arg":
            n.array = None
    optimizers = {}
    for c in code:
        if c[0] == "call" and c[1].kind in ("optimizer.step", "zero_grad"):
            opt = (
                c[1].replay.__self__ if c[1].kind == "optimizer.step" else c[1].replay.func.__self__
            )
            optimizers.setdefault(id(opt), opt)
    return Program(
        nodes, code, len(rec2.args), list(leaves.values()), list(optimizers.values()), numpy_args
    )


def dtype_name(dtype) -> str:
    return np.dtype(dtype).name
