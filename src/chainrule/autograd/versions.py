"""Version counters: how backward knows that a tensor it needs was changed in place.

A VJP reads the values its op saw in the forward pass (``mul`` needs both inputs,
``exp`` its output). An in-place change made afterwards (``x += 1``, ``w.copy_(v)``,
``t[0] = 5``) would make it read the new values and return a wrong gradient without a
word, so every in-place change is *stamped*:

* the tensor's version counter goes up by one (``t._version``, as in PyTorch);
* the change gets a stamp from the same clock that numbers recorded ops (``Tensor._seq``),
  both on the tensor and on the memory it wrote into (views and ``detach()`` share memory,
  so a change through one of them is a change of the others too).

At backward, an op recorded at number ``n`` checks each tensor it saved (its
``Primitive.saves``): a stamp later than ``n`` means the tensor changed after the op read
it, and backward stops with an error that names the op and the tensor, as PyTorch does.
Nothing is stamped until something changes in place, so ordinary training pays nothing
but one dict check per node.

A recorded in-place op (grad mode on, the tensor in a graph) also *rebases* the tensor:
the Python object becomes the result of the in-place op, and a new node takes over the
value it had before (:attr:`InPlace.previous`). Ops recorded before the change still
refer to the object; the engine follows ``previous`` back to the value they used.
"""

from __future__ import annotations

import contextlib
import weakref

from chainrule.autograd import primitive
from chainrule.errors import GraphError

# id(the array that owns the memory) -> stamp of its last in-place change; empty until the
# first in-place change, which is the engine's fast path (one dict truth test per node)
CHANGED_MEMORY: dict[int, int] = {}


class InPlace:
    """The in-place history of one tensor (``Tensor._inplace``; None until the first)."""

    __slots__ = ("previous", "stamp", "version")

    def __init__(self):
        self.version = 0  # how many in-place changes (PyTorch's ``_version``)
        self.stamp = 0  # the clock when the last one happened
        self.previous = None  # the node that holds the value before a recorded change


def _owner(a):
    """The array that owns ``a``'s memory (``a`` itself unless it is a view)."""
    base = getattr(a, "base", None)
    while base is not None and hasattr(base, "shape"):
        a, base = base, getattr(base, "base", None)
    return a


def bump(t):
    """Record an in-place change of ``t`` (its data has been or is about to be written)."""
    record = t._inplace
    if record is None:
        record = t._inplace = InPlace()
    stamp = next(primitive._sequence)
    record.version += 1
    record.stamp = stamp
    owner = _owner(t.data)
    key = id(owner)
    if key not in CHANGED_MEMORY:
        # forget it with the array; an array type without weak references keeps its entry
        with contextlib.suppress(TypeError):
            weakref.finalize(owner, CHANGED_MEMORY.pop, key, None)
    CHANGED_MEMORY[key] = stamp
    return stamp


def version(t):
    """How many in-place changes ``t`` has had."""
    return 0 if t._inplace is None else t._inplace.version


def changed_at(t):
    """The stamp of the last in-place change of ``t`` or of the memory it uses (0: none)."""
    own = 0 if t._inplace is None else t._inplace.stamp
    return max(own, CHANGED_MEMORY.get(id(_owner(t.data)), 0))


def as_it_was(p, seq):
    """The node that held ``p``'s value when the op numbered ``seq`` was recorded."""
    while p._seq > seq and p._inplace is not None and p._inplace.previous is not None:
        p = p._inplace.previous
    return p


def check_saved(t, prim, parents):
    """Raise if a tensor that ``t``'s op saved for its VJP changed after the op ran."""
    seq = t._seq
    saves = prim.saves
    indices = range(len(parents)) if saves is None else [i for i in saves if i != "ans"]
    for i in indices:
        p = parents[i]
        if changed_at(p) > seq:
            _refuse(prim, f"input {i}", p)
    if (saves is None or "ans" in saves) and changed_at(t) > seq:
        _refuse(prim, "the output", t)


def _refuse(prim, which, tensor):
    made_by = f"the output of '{tensor._op.name}'" if tensor._op is not None else "a leaf"
    name = f"'{tensor.name}', " if tensor.name else ""
    raise GraphError(
        f"backward: {which} of '{prim.name}' ({name}{made_by}, shape {tuple(tensor.shape)}, "
        f"{tensor.dtype}) was modified by an in-place operation after '{prim.name}' saved "
        f"it to compute its gradient (it is now at version {version(tensor)}); change it "
        "only after backward(), or change a copy (t.clone()) instead"
    )
