"""In-place operations: ``x += y``, ``t[i] = v``, ``add_``, ``copy_``, ``fill_``, ``zero_`` ...

They change the tensor's data where it lies (views and ``detach()`` see the change, as in
PyTorch) and bump its version counter (:mod:`chainrule.autograd.versions`), so backward
refuses a gradient that would read the overwritten values. Three cases, PyTorch's rules:

* **a leaf that requires grad, grad mode on** (``w += 1`` on a parameter): refused — the
  change would not be part of any graph. Parameter updates go under ``with
  cr.no_grad():``, where ``w -= lr * w.grad`` changes ``w`` in place and ``w`` stays a
  leaf that requires grad (θ ← θ − α∇θL, the update of gradient descent);
* **nothing to record** (grad mode off, or neither the tensor nor the operand requires
  grad): the data is written in place, nothing else;
* **a tensor in a graph** (or an operand that requires grad): the op is recorded, and the
  tensor becomes its output; the value it had before moves to a new node that the ops
  recorded earlier still reach (the tensor is *rebased*).

The result must fit the tensor: same shape after broadcasting the operand, and a dtype
that casts to the tensor's without leaving its kind (a float result is not stored in an
int tensor).
"""

from __future__ import annotations

from chainrule.autograd import primitive, versions
from chainrule.autograd.mode import state
from chainrule.autograd.primitive import apply, defprimitive, tensor_function
from chainrule.backend import xp
from chainrule.errors import GraphError, ShapeError
from chainrule.ops.alignment import binary_operands
from chainrule.ops.arithmetic import add, div, mul, pow, sub
from chainrule.ops.cast import CLONE, astype, clone
from chainrule.ops.elementwise import clip
from chainrule.ops.operands import lift
from chainrule.ops.shape import _is_basic, _raw_index
from chainrule.tensor import Tensor


# ---------------------------------------------------------------- setitem
def _setitem(x, v, index):
    out = x.copy()
    out[index] = v
    return out


def _setitem_vjp_x(F, g, ans, x, v, index):
    keep = xp.ones(x.shape, dtype=g.dtype)  # 1 where x survives, 0 where v was written
    keep[index] = 0
    return g * keep


def _setitem_vjp_v(F, g, ans, x, v, index):
    return F.sum_to(g[index], v.shape)  # v was broadcast into the picked positions


SETITEM = defprimitive(
    "setitem",
    _setitem,
    _setitem_vjp_x,
    _setitem_vjp_v,
    saves=(),
    pattern="routes",
    symbol="[ ]=",
    formula="{0} with [{index}] = {1}",
    local=("1 outside the written positions, else 0", "1 at the written positions"),
    vjp=("{g} with 0 at the written positions", "Σ {g} at the written positions"),
    pattern_text=(
        "routes: the positions that were overwritten get no gradient",
        "routes: the written value gets the gradient of the positions it filled",
    ),
)


@tensor_function(SETITEM)
def setitem(x, index, value):
    """``x`` with ``x[index]`` replaced by ``value`` (a new tensor; ``t[index] = value``
    is the in-place form). ∂/∂x = 1 outside the written positions and 0 on them;
    ∂/∂value = 1 at the positions it fills (summed over broadcast copies)."""
    x = lift(x)
    v = lift(value, x)
    if v.dtype != x.dtype:
        v = astype(v, x.dtype) if v.requires_grad else Tensor(v.data.astype(x.dtype))
    index = _raw_index(index)
    if v.requires_grad and not _is_basic(index):
        picked = xp.arange(x.size).reshape(x.shape)[index].ravel()
        if xp.unique(picked).size != picked.size:
            raise ValueError(
                "setitem: the index writes some positions more than once, so which value "
                "lands there (and gets its gradient) is ambiguous; use unique indices"
            )
    return apply(SETITEM, x, v, index=index)


# ---------------------------------------------------------------- the machinery
def _refuse_leaf(t, op):
    name = f" '{t.name}'" if t.name else ""
    raise GraphError(
        f"{op}: a leaf tensor{name} that requires grad cannot be changed in place while "
        "the graph is recorded (the change would not be part of it); update parameters "
        "under `with cr.no_grad():` (w -= lr * w.grad), or compute a new tensor (w = w - ...)"
    )


def _writable(t, op):
    data = t.data
    if not getattr(data, "flags", None) or not data.flags.writeable:
        raise ValueError(
            f"{op}: this tensor is read-only (a shared constant or a broadcast view); "
            "change a copy (t.clone()) instead"
        )


def _records(t, operands):
    """Whether the change is recorded: grad mode on and a tensor involved requires grad."""
    if not state.enabled:
        return False
    if t.requires_grad:
        if t._op is None:
            return None  # a leaf that requires grad: refused by the caller
        return True
    return any(isinstance(o, Tensor) and o.requires_grad for o in operands)


def inplace(t, op, compute, write, operands=()):
    """Change ``t`` in place: ``write(data)`` writes raw arrays when nothing is recorded;
    ``compute(old)`` builds the recorded result from the node holding the old value."""
    records = _records(t, operands)
    if records is None:
        _refuse_leaf(t, op)
    _writable(t, op)
    if not records:
        try:
            write(t.data)
        except (TypeError, ValueError) as e:  # NumPy's casting and broadcasting errors
            raise _misfit(t, op, e) from None
        versions.bump(t)
        return t
    if t.data.base is not None:
        raise ValueError(
            f"{op}: this tensor shares its memory with another (a view or a slice) and is "
            "part of a recorded graph; changing it in place would change the other behind "
            "the graph's back: compute a new tensor instead (y = y + ...), or clone() first"
        )
    _rebase(t, op, compute)
    return t


def _misfit(t, op, e):
    return ValueError(
        f"{op}: the result does not fit in place into a tensor of shape {tuple(t.shape)} "
        f"and dtype {t.dtype} ({e})"
    )


def _rebase(t, op, compute):
    old = Tensor(t.data)  # takes over the value t has now, and its place in the graph
    old.requires_grad, old.name = t.requires_grad, t.name
    old._op, old._parents, old._params, old._seq = t._op, t._parents, t._params, t._seq
    record = t._inplace if t._inplace is not None else versions.InPlace()
    before = versions.InPlace()
    before.previous = record.previous
    old._inplace = before
    start = next(primitive._sequence)  # ops numbered after this are the in-place op's own
    res = compute(old)
    if _reads_old(res, old, start):
        # its VJP needs the values from before the change: let it read them from a copy,
        # while ``old`` keeps the memory that is about to change (so an op that saved
        # that memory is refused at backward, as in PyTorch)
        res = compute(clone(old))
    if res.shape != t.shape:
        raise ShapeError(
            f"{op}: a result of shape {tuple(res.shape)} does not fit in place into a tensor "
            f"of shape {tuple(t.shape)}"
        )
    if res.dtype != t.dtype:
        if res.dtype.kind != t.dtype.kind and t.dtype.kind not in "fc":
            raise TypeError(f"{op}: a {res.dtype} result cannot be stored in a {t.dtype} tensor")
        res = astype(res, t.dtype)
    t._inplace = record
    record.previous = old
    versions.bump(t)
    t.data[...] = res.data
    # t is the result copied into t's memory: a clone node over ``res``, so that ``res``
    # keeps its own output for its VJP however often t changes again
    t.requires_grad = True
    t._op, t._parents, t._params = CLONE, (res,), {}
    t._seq = next(primitive._sequence)  # after the stamp: t's own output is current


def _reads_old(res, old, start):
    """True if an op recorded by ``compute`` saved ``old`` for its VJP."""
    stack, seen = [res], set()
    while stack:
        node = stack.pop()
        if node._op is None or node._seq <= start or id(node) in seen:
            continue
        seen.add(id(node))
        saves = node._op.saves
        for i, p in enumerate(node._parents):
            if p is old and (saves is None or i in saves):
                return True
            stack.append(p)
    return False


# ---------------------------------------------------------------- the operations
_UFUNCS = {"add_": xp.add, "sub_": xp.subtract, "mul_": xp.multiply, "div_": xp.divide}
_OPS = {"add_": add, "sub_": sub, "mul_": mul, "div_": div}


def arithmetic_(t, op, other, alpha=None):
    """``t op= other`` for add_, sub_, mul_, div_ (``alpha`` scales ``other``, as in
    ``torch.add_``)."""
    if alpha is not None and op not in ("add_", "sub_"):
        raise TypeError(f"{op}: alpha is only for add_ and sub_")
    ufunc, fn = _UFUNCS[op], _OPS[op]

    def write(data):
        o = other.data if isinstance(other, Tensor) else other
        if alpha is not None:
            o = xp.multiply(o, alpha)
        ufunc(data, o, out=data, casting="same_kind")

    def compute(old):
        o = other if alpha is None else mul(lift(other, old), alpha)
        return fn(*binary_operands(op, old, o))

    return inplace(t, op, compute, write, (other,))


def pow_(t, exponent):
    def write(data):
        e = exponent.data if isinstance(exponent, Tensor) else exponent
        xp.power(data, e, out=data, casting="same_kind")

    return inplace(t, "pow_", lambda old: pow(old, exponent), write, (exponent,))


def clamp_(t, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clamp_: give at least one of min and max")

    def write(data):
        xp.clip(data, min, max, out=data)

    return inplace(t, "clamp_", lambda old: clip(old, min, max), write)


def setitem_(t, index, value):
    """``t[index] = value``."""
    raw_index = _raw_index(index)

    def write(data):
        data[raw_index] = value.data if isinstance(value, Tensor) else value

    return inplace(t, "setitem", lambda old: setitem(old, index, value), write, (value,))


def copy_(t, src):
    """Copy ``src`` (broadcast to ``t``'s shape, cast to its dtype) into ``t``."""

    def write(data):
        xp.copyto(data, src.data if isinstance(src, Tensor) else xp.asarray(src))

    def compute(old):
        s = lift(src, old)
        xp.broadcast_shapes(s.shape, old.shape)  # raises for a source that cannot fit
        return setitem(old, Ellipsis, s)

    return inplace(t, "copy_", compute, write, (src,))


def fill_(t, value):
    """Set every element of ``t`` to ``value`` (a number or a 0-d tensor)."""
    if isinstance(value, Tensor) and value.ndim:
        raise ValueError(f"fill_: the value must be a number or a 0-d tensor, got {value.shape}")

    def write(data):
        data[...] = value.data if isinstance(value, Tensor) else value

    return inplace(t, "fill_", lambda old: setitem(old, Ellipsis, value), write, (value,))
