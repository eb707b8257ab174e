"""Calls a compiled step replays whole, and the tensor methods it refuses during capture.

Some work in a training step is not tensor math through ``apply``: the optimizer's update
(raw arrays, state, learning rate), ``zero_grad``, gradient clipping (a norm read into
Python and a branch on it), a scheduler's step, and random draws (``randn``, dropout's
mask). The recorder recognises these functions by their code objects, however they were
imported, and the replay calls the very same function again at the same point of the
step — so learning rates, step counters, momentum buffers and the random generator are
read *at replay*, in the same order as eagerly, never baked in.

A call is *opaque* when nothing inside it is recorded (the whole call is repeated);
dropout is not opaque: its multiply is recorded like any op, and only its random mask is
re-drawn at replay (by dropout itself, on a tensor of ones: ``1·m = m`` exactly).

The libraries are looked up in ``sys.modules`` rather than imported: ``compile`` sits on
the same layer as ``nn`` and ``optim`` and needs neither, and a module nobody imported
cannot be called inside a step.
"""

from __future__ import annotations

import functools
import sys

import numpy as np

from chainrule import backend
from chainrule.compile import refusals
from chainrule.tensor import Tensor


class Call:
    """One recognised call of the captured step.

    Attributes:
        kind: what it is ("optimizer.step", "zero_grad", "clip_grad_norm_", ...).
        key: what must be equal between two captures for them to be the same step.
        replay: a no-argument callable run at this point of the replay, or None when the
            call's effect is carried by nodes (random draws).
        opaque: nothing inside the call is recorded.
        label: how the generated source names it.
    """

    def __init__(self, kind, key, replay, opaque, label, on_return=None):
        self.kind, self.key, self.replay, self.opaque, self.label = (
            kind,
            key,
            replay,
            opaque,
            label,
        )
        self._on_return = on_return
        self.recorder = None
        self.obj = None  # the optimizer or scheduler the call belongs to
        self.text = None  # for random draws: the chainrule call the source shows

    def on_return(self, frame, result):
        rec = self.recorder
        if self._on_return is not None:
            self._on_return(self, frame, result)
        else:
            rec.call_returned(self)


def _subclass_overrides(base, name):
    """``base.name`` and every override of it in subclasses loaded so far."""
    out, todo = [getattr(base, name)], [base]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if name in sub.__dict__:
                out.append(sub.__dict__[name])
            todo.append(sub)
    return [f.__code__ for f in out if hasattr(f, "__code__")]


def handlers(rec):
    """``{code object: handler(frame) -> Call | None}`` for the recorder ``rec``."""
    table = {}

    def add(codes, make):
        def handler(frame):
            call = make(frame)
            if call is not None:
                call.recorder = rec
            return call

        for code in codes:
            table[code] = handler

    optim = sys.modules.get("chainrule.optim.optimizer")
    if optim is not None:
        add(_subclass_overrides(optim.Optimizer, "step"), _optimizer_step)
        add(_subclass_overrides(optim.Optimizer, "zero_grad"), _zero_grad)
    clipping = sys.modules.get("chainrule.optim.clipping")
    if clipping is not None:
        add([clipping.clip_grad_norm_.__code__], _clip("clip_grad_norm_", clipping.clip_grad_norm_))
        add(
            [clipping.clip_grad_value_.__code__],
            _clip("clip_grad_value_", clipping.clip_grad_value_),
        )
    sched = sys.modules.get("chainrule.optim.lr_scheduler")
    if sched is not None:
        add(_subclass_overrides(sched.LRScheduler, "step"), _scheduler_step)
    functional = sys.modules.get("chainrule.nn.functional")
    if functional is not None:
        add([functional.dropout.__code__], _dropout(functional.dropout))
        # cross_entropy's fused path is taken only when no label is ignore_index
        branch = functional._no_ignored_rows
        table[branch.__code__] = functools.partial(_branch_check, rec, branch)
    labels = sys.modules.get("chainrule.ops.labels")
    if labels is not None:
        table[labels.class_labels.__code__] = functools.partial(_label_check, rec)
    creation = sys.modules.get("chainrule.creation")
    if creation is not None:
        for name in ("randn", "rand"):
            fn = getattr(creation, name)
            add([fn.__code__], _draw(name, fn, like=False))
            fn = getattr(creation, name + "_like")
            add([fn.__code__], _draw(name + "_like", fn, like=True))
    return table


# ---------------------------------------------------------------- optimizer and schedules
def _optimizer_step(frame):
    f = frame.f_locals
    opt = f["self"]
    if f.get("closure") is not None:
        raise refusals.unknown(
            f"{type(opt).__name__}.step(closure) at {refusals.user_line(frame.f_back)}: a "
            "closure re-runs the model inside the optimizer, which is not captured; call "
            "step() without a closure inside a compiled step"
        )
    name = type(opt).__name__
    call = Call("optimizer.step", ("step", id(opt)), opt.step, True, f"{name}.step()")
    call.obj = opt
    return call


def _zero_grad(frame):
    f = frame.f_locals
    opt, set_to_none = f["self"], f.get("set_to_none", True)

    def returned(call, frame, result):
        call.recorder.call_returned(call)
        if not set_to_none:  # fresh zero arrays: later reads see them live
            call.recorder.grads_changed([p for g in opt.param_groups for p in g["params"]])

    replay = functools.partial(opt.zero_grad, set_to_none)
    label = f"{type(opt).__name__}.zero_grad({'' if set_to_none else 'set_to_none=False'})"
    call = Call("zero_grad", ("zero_grad", id(opt), set_to_none), replay, True, label, returned)
    call.obj = opt
    return call


def _scheduler_step(frame):
    f = frame.f_locals
    sched = f["self"]
    extra = {k: v for k, v in f.items() if k not in ("self", "__class__") and v is not None}
    if extra:
        raise refusals.unknown(
            f"{type(sched).__name__}.step({', '.join(extra)}=...) at "
            f"{refusals.user_line(frame.f_back)}: a scheduler stepped with a value inside "
            "the step would freeze that value; step it outside the compiled step"
        )
    return Call("scheduler.step", ("sched", id(sched)), sched.step, True, "scheduler.step()")


# ---------------------------------------------------------------- clipping
def _clip(name, fn):
    def make(frame):
        f = frame.f_locals
        parameters = f["parameters"]
        rest = [f[k] for k in fn.__code__.co_varnames[1 : fn.__code__.co_argcount]]
        given = None
        if isinstance(parameters, Tensor):
            given = [parameters]
        elif isinstance(parameters, (list, tuple)):
            given = list(parameters)

        def returned(call, frame, result):
            params = given if given is not None else frame.f_locals.get("params")
            if params is None:
                raise refusals.unknown(
                    f"{name}: pass the parameters as a list inside a compiled step "
                    "(a generator is used up by the first call)"
                )
            params = list(params)
            call.replay = functools.partial(fn, params, *rest)
            call.key = (name, tuple(id(p) for p in params), tuple(rest))
            call.recorder.call_returned(call)
            call.recorder.grads_changed(params)

        args = ", ".join(repr(r) for r in rest)
        return Call(name, None, None, True, f"{name}(parameters, {args})", returned)

    return make


# ---------------------------------------------------------------- checks
def _label_check(rec, frame):
    """``class_labels``: the label check of every classification loss. Its arguments are
    recorded and the check is made again at every replay, on that call's labels, so a
    label out of range raises as it does eagerly (a negative one would otherwise index
    from the end, silently). Returns None: nothing else about the call is recorded."""
    f = frame.f_locals
    code = frame.f_code
    names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    where = ("class labels", refusals.user_line(frame.f_back))
    args = {k: rec.template(f[k], where) for k in names}
    fn = sys.modules["chainrule.ops.labels"].class_labels
    rec.code.append(("check", fn, args))
    return None


def same_branch(predicate, expected, args):
    """The replayed form of a branch on values: ``predicate(**args)`` must give the answer
    it gave while capturing, or the replay stops (:class:`~.replay.Stale`) and the step is
    captured again — on the path this call's values take, as eager mode would."""
    if bool(predicate(**args)) is not expected:
        from chainrule.compile.replay import Stale  # replay imports this module

        raise Stale


def is_ignored_rows_check(entry):
    """Whether a ("check", ...) entry is ``cross_entropy``'s "no row is ignore_index"
    branch, answered True while capturing (see :func:`_branch_check`)."""
    _, fn, args = entry
    if fn is not same_branch or args["expected"] is not True:
        return False
    functional = sys.modules.get("chainrule.nn.functional")
    return functional is not None and args["predicate"] is functional._no_ignored_rows


# random draws, optimizer and scheduler steps change state a replay cannot take back
_SIDE_EFFECTS = {"optimizer.step", "scheduler.step", "dropout", "randn", "rand"}
_SIDE_EFFECTS |= {k + "_like" for k in ("randn", "rand")}


def _branch_check(rec, predicate, frame):
    """A library function whose answer decides a branch on values (``cross_entropy``'s
    "no row is ignore_index"). Its arguments and its answer now are recorded as a
    ("check", :func:`same_branch`, ...) entry, which the replay calls again.

    The check goes first in the replay when it reads only the step's inputs (the labels
    as passed), so that a replay that stops has not drawn random numbers or stepped an
    optimizer that the new capture would repeat; otherwise it stays in place, which is
    refused after such a call. Returns None: nothing else about the call is recorded."""
    f = frame.f_locals
    code = frame.f_code
    names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    line = refusals.user_line(frame.f_back)
    where = (predicate.__name__, line)
    values = {k: f[k] for k in names}
    args = {k: rec.template(v, where) for k, v in values.items()}
    # the profile function is not called for calls made from inside it: this is unrecorded
    expected = bool(predicate(**values))
    entry = ("check", same_branch, {"predicate": predicate, "expected": expected, "args": args})
    from chainrule.compile.capture import template_refs  # capture imports this module

    if all(rec.nodes[n].kind in ("arg", "ext") for n in template_refs(args)):
        at = 0  # after the checks already moved first, in their order
        while at < len(rec.code) and rec.code[at][0] == "check" and rec.code[at][1] is same_branch:
            at += 1
        rec.code.insert(at, entry)
        return None
    done = [c.label for c in rec.calls if c.kind in _SIDE_EFFECTS]
    if done:
        raise refusals.unknown(
            f"{predicate.__name__} at {line} branches on values computed inside the step, "
            f"after {done[0]}: a replay that finds the branch changed could not undo that "
            "call before capturing again. Pass the labels to the step as an argument, or "
            "compute them before any random draw or optimizer step"
        )
    rec.code.append(entry)
    return None


# ---------------------------------------------------------------- random draws
_ONES: dict = {}


def _ones(shape, dtype):
    key = (shape, np.dtype(dtype))
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) > 64:
            _ONES.clear()
        ones = _ONES[key] = np.ones(shape, dtype)
        ones.flags.writeable = False
    return ones


def _dropout(fn):
    def make(frame):
        f = frame.f_locals
        x, p, training = f["x"], f["p"], f["training"]

        def returned(call, frame, out):
            call.recorder.call_returned(call)
            if not isinstance(out, Tensor) or out is x or out._op is None:
                return
            parents = out._parents or ()
            mask = parents[1] if len(parents) == 2 else None
            if mask is None or mask._op is not None or mask.requires_grad:
                return
            shape, dtype = mask.data.shape, mask.data.dtype

            def draw():
                # dropout itself on ones: the same generator call in the same order
                return fn(Tensor(_ones(shape, dtype)), p, True).data

            call.key = ("dropout", p, training, shape, str(dtype))
            call.text = (
                f"cr.nn.functional.dropout(cr.ones({shape!r}, dtype=np.{dtype}), {p!r}).data"
            )
            call.recorder.late[id(mask.data)] = (call, draw)

        return Call("dropout", ("dropout", p, training), None, False, f"dropout(p={p})", returned)

    return make


def _draw(name, fn, like):
    def make(frame):
        f = frame.f_locals
        if like:
            t = f["t"]
            shape, dtype = tuple(t.shape), t.dtype
            stub = Tensor(np.empty(shape, dtype))
            args, kwargs = (stub,), {"dtype": f["dtype"], "requires_grad": f["requires_grad"]}
        else:
            args = tuple(f["shape"])
            kwargs = {"dtype": f["dtype"], "requires_grad": f["requires_grad"]}

        def draw():
            return fn(*args, **kwargs).data

        def returned(call, frame, out):
            rec = call.recorder
            rec.call_returned(call)
            if isinstance(out, Tensor):  # drawn here, so replayed here: the generator's order
                rec._computed("callout", (call, draw), out.data)

        key = (name, tuple(np.shape(a) for a in args), str(kwargs["dtype"]))
        call = Call(name, key, None, True, f"{name}(...)", returned)
        shape = tuple(args[0].shape) if like else args
        dt = np.dtype(kwargs["dtype"] or (args[0].dtype if like else backend.get_default_dtype()))
        base = name.removesuffix("_like")
        call.text = f"cr.{base}(*{shape!r}, dtype=np.{dt}).data"
        return call

    return make


# ---------------------------------------------------------------- refusals
_READS = {
    "item": ".item()",
    "__float__": "float(tensor)",
    "__int__": "int(tensor)",
    "__bool__": "bool(tensor) / if tensor",
    "__index__": "a tensor used as an index",
    "numpy": ".numpy()",
    "tolist": ".tolist()",
    "__array__": "numpy.asarray(tensor)",
    "__repr__": "printing a tensor",
    "__format__": "formatting a tensor",
}
_NOT_IN_PLACE = {"requires_grad_"}
_IN_PLACE_DUNDERS = {
    f"__i{op}__"
    for op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or")
} | {"__setitem__"}


def refused_codes():
    """``{code: (kind, name)}``: Tensor methods that read values ("read"), edit tensors in
    place ("inplace": ``zero_``, ``add_``, ``+=``, ...) or register hooks ("hook")."""
    out = {}
    for name, what in _READS.items():
        fn = getattr(Tensor, name, None)
        if fn is not None and hasattr(fn, "__code__"):
            out[fn.__code__] = ("read", what)
    for cls in Tensor.__mro__:
        for name, fn in vars(cls).items():
            if not hasattr(fn, "__code__"):
                continue
            in_place = name.endswith("_") and not name.startswith("_")
            if in_place or (name in _IN_PLACE_DUNDERS and name not in _NOT_IN_PLACE):
                out[fn.__code__] = ("inplace", f"Tensor.{name}")
    inplace = sys.modules.get("chainrule.ops.inplace")  # in-place ops called as functions
    for name, fn in vars(inplace).items() if inplace is not None else ():
        code = getattr(fn, "__code__", None)
        if code is not None and name.endswith("_") and not name.startswith("_"):
            out.setdefault(code, ("inplace", f"{name}"))
    hook = getattr(Tensor, "register_hook", None)
    if hook is not None:
        out[hook.__code__] = ("hook", "register_hook")
    return out
