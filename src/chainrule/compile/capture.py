"""Capture: run a step eagerly once and write down every array operation it did, in order.

The recorder watches the real engine instead of re-implementing it. While it is active:

* a profile function (``sys.setprofile``, this thread only) sees each call of
  ``apply(prim, *inputs, **params)`` with its result, each backward walk
  (``run_backward``), and the calls that are replayed whole (``known_calls``); it also
  refuses, on the spot, a tensor's value being read into Python;
* the engine's anomaly slot receives every backward edge ``(t, i, g_i)`` as the walk
  makes it, in the walk's order — so the gradient sums are replayed in the same order.

Nothing on the eager hot path changes: the profile function exists only during capture.

The result is a *tape*: ``nodes`` (every array the step touched, each a :class:`Node`)
and ``code`` (what happened, in order: compute a node, set a ``.grad``, make a call).
Arrays that did not come from an operation are ``ext`` nodes; :mod:`.plan` decides what
they are (a parameter read at replay, a constant, a cast of an argument) by comparing
two captures.
"""

from __future__ import annotations

import sys
import threading
import weakref

import numpy as np

from chainrule.autograd import engine as _engine
from chainrule.autograd import primitive as _primitive
from chainrule.autograd.mode import state as _mode
from chainrule.compile import known_calls, refusals
from chainrule.tensor import Tensor


class Ref:
    """A node reference inside a params template (``labels=Ref(7)``)."""

    __slots__ = ("n",)

    def __init__(self, n):
        self.n = n

    def __eq__(self, other):
        return isinstance(other, Ref) and other.n == self.n

    def __hash__(self):
        return hash(self.n)

    def __repr__(self):
        return f"Ref({self.n})"


class TensorRef(Ref):
    """A node reference that stands for a Tensor (rebuilt as one at replay)."""

    __slots__ = ()

    def __repr__(self):
        return f"TensorRef({self.n})"


def template_refs(value):
    """The node indices of the :class:`Ref` objects inside a template, in order."""
    if isinstance(value, Ref):
        return [value.n]
    if isinstance(value, (tuple, list)):
        return [r for v in value for r in template_refs(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in template_refs(v)]
    return []


class Node:
    """One array of the step.

    ``kind`` and ``info``:

    * ``arg`` (k,): the k-th array argument of the step;
    * ``ext`` (tensor or None, where): an array from outside any op (a parameter, a
      constant, a copy of an argument, a random draw) — resolved by :mod:`.plan`;
    * ``fwd`` (prim, input refs, params template): ``prim.forward``;
    * ``vjp`` (prim, i, g, ans, input refs, params template): input i's VJP of a node;
    * ``add`` (a, b): a gradient sum, ``a + b`` in the order the walk added them;
    * ``seed`` (): the unit gradient ∂L/∂L = 1 of a backward root;
    * ``seedcopy`` (a,): a user-given backward gradient, copied in the root's dtype;
    * ``grad`` (tensor, before): ``tensor.grad`` as it is at that point of the replay
      (``before``: the gradient from before the step, which a guard requires to exist);
    * ``callout`` (call, key): an array made by a call replayed whole (a random draw).
    """

    __slots__ = ("array", "dtype", "info", "kind", "shape")

    def __init__(self, kind, info, array, keep=True):
        self.kind = kind
        self.info = info
        self.array = array if keep else None  # kept for ext nodes: compared across captures
        self.shape = tuple(array.shape)
        self.dtype = array.dtype

    def __repr__(self):
        return f"Node({self.kind}, {self.shape}, {self.dtype})"


class Recorder:
    """Records one eager run of a step (see the module docstring)."""

    def __init__(self, args):
        self.nodes: list[Node] = []
        self.code: list[tuple] = []
        self.node_of: dict[int, int] = {}  # id(array) -> node index
        self.late: dict[int, tuple] = {}  # id(array) -> (call, key): found after first use
        self.leaves: dict[int, Tensor] = {}  # leaf tensors seen as op inputs
        self.calls: list = []  # known_calls.Call objects, in order
        self.keep: list = []  # everything whose id is a key above stays alive
        self.thread = threading.get_ident()
        self._stack: list = []  # (frame, on_return) of calls whose return matters
        self._opaque = 0  # > 0 inside a call replayed whole: record nothing inside it
        self._backward = None  # the state of the backward walk in progress
        self.where: dict[int, tuple] = {}  # node -> (op name, user line), for messages
        self.args = args
        for k, a in enumerate(args):
            self.node_of.setdefault(id(a), self._new("arg", (k,), a))
        self._handlers = known_calls.handlers(self)
        self._refused = known_calls.refused_codes()
        self._apply_code = _primitive.apply.__code__
        self._backward_code = _engine.run_backward.__code__

    # --- switching on and off -------------------------------------------------------
    def __enter__(self):
        if _mode.anomaly is not None:
            raise refusals.unknown(
                "anomaly mode is on; it is a debugging mode of the eager engine, so "
                "compiled steps refuse to capture under it (turn it off, or run eagerly)"
            )
        self._prev_profile = sys.getprofile()
        _mode.anomaly = self
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        sys.setprofile(self._prev_profile)
        if _mode.anomaly is self:
            _mode.anomaly = None
        return False

    # --- nodes ------------------------------------------------------------------------
    def _new(self, kind, info, array, keep=True):
        self.nodes.append(Node(kind, info, array, keep))
        if keep:
            self.keep.append(array)
        return len(self.nodes) - 1

    def _computed(self, kind, info, array):
        """A node made by the step. Its array is not kept (capturing must not hold every
        activation); its id is forgotten when the array dies, so ids never collide."""
        n = self._new(kind, info, array, keep=kind == "seed")
        key = id(array)
        self.node_of[key] = n
        try:
            weakref.finalize(array, self.node_of.pop, key, None)
        except TypeError:  # not weak-referenceable (a NumPy scalar): hold it
            self.keep.append(array)
        self.code.append(("node", n))
        return n

    def value(self, x, where):
        """The node of a Tensor's (or raw array's) data, made an ``ext`` node if new."""
        if isinstance(x, Tensor):
            a = x.data
            if x._op is None:
                self.leaves.setdefault(id(x), x)
                self.keep.append(x)
        else:
            a = x
        n = self.node_of.get(id(a))
        if n is None:
            n = self._new("ext", (x if isinstance(x, Tensor) else None, where), a)
            self.node_of[id(a)] = n
            self.where[n] = where
        return n

    def template(self, value, where):
        """``params`` with every array replaced by a :class:`Ref` to its node."""
        if isinstance(value, Tensor):
            return TensorRef(self.value(value, where))
        if isinstance(value, np.ndarray):
            return Ref(self.value(value, where))
        if isinstance(value, tuple):
            return tuple(self.template(v, where) for v in value)
        if isinstance(value, list):
            return [self.template(v, where) for v in value]
        if isinstance(value, dict):
            return {k: self.template(v, where) for k, v in value.items()}
        return value

    # --- the profile function -------------------------------------------------------
    def _profile(self, frame, event, arg):
        if event == "call":
            code = frame.f_code
            if code is self._apply_code:
                if not self._opaque:
                    self._stack.append((frame, self._on_apply_return))
                return
            if code is self._backward_code:
                if not self._opaque:
                    self._on_backward_call(frame)
                    self._stack.append((frame, self._on_backward_return))
                return
            handler = self._handlers.get(code)
            if handler is not None and not self._opaque and self._backward is None:
                call = handler(frame)
                if call is not None:
                    self.calls.append(call)
                    if call.opaque:
                        self._opaque += 1
                    self._stack.append((frame, call.on_return))
                return
            what = self._refused.get(code)
            if what is not None and not self._opaque:
                kind, name = what
                if kind == "read":
                    raise refusals.value_read(name, frame.f_back)
                if kind == "hook":
                    raise refusals.hooks(f"{name} at {refusals.user_line(frame.f_back)}")
                raise refusals.in_place(name, frame.f_back)
        elif event == "return" and self._stack and self._stack[-1][0] is frame:
            _, on_return = self._stack.pop()
            on_return(frame, arg)

    # --- apply ------------------------------------------------------------------------
    def _on_apply_return(self, frame, out):
        if out is None:  # apply raised: the step fails eagerly, nothing to record
            return
        f = frame.f_locals
        prim, inputs, params = f["prim"], f["inputs"], f["params"]
        where = (prim.name, refusals.user_line(frame.f_back))
        refs = tuple(self.value(t, where) for t in inputs)
        tmpl = self.template(params, where) if params else {}
        n = self._computed("fwd", (prim, refs, tmpl), out.data)
        self.where[n] = where

    # --- backward ---------------------------------------------------------------------
    def _on_backward_call(self, frame):
        f = frame.f_locals
        if f["create_graph"]:
            raise refusals.create_graph(frame.f_back)
        roots, gradients = list(f["roots"]), list(f["gradients"])
        acc = {}
        for r, gr in zip(roots, gradients):
            if r._hooks:
                raise refusals.hooks("a hook on the tensor backward starts from")
            rn = self.value(r, ("backward", refusals.user_line(frame.f_back)))
            if gr is None:
                seed = _engine._unit_seed(r.data) if r.data.size == 1 else None
                if seed is None:  # the engine raises for non-scalar roots: let it
                    continue
                g = self._computed("seed", (rn,), seed)
            else:
                src = self.value(gr, ("backward gradient=", refusals.user_line(frame.f_back)))
                given = gr.data if isinstance(gr, Tensor) else np.asarray(gr)
                arr = given.astype(r.data.dtype, copy=True)
                g = self._computed("seedcopy", (src,), arr)
            acc[id(r)] = g if id(r) not in acc else self._add(acc[id(r)], g)
        grads_before = {k: t.grad for k, t in self.leaves.items()}
        self._backward = {
            "acc": acc,
            "seen": {id(r): r for r in roots},
            "edges_in": {},
            "grads_before": grads_before,
            "inputs": f["inputs"],
        }

    def _add(self, a, b):
        """The engine's ``prev + gi``: a new node (the sum itself is the engine's)."""
        x = self.nodes[a]
        shape = np.broadcast_shapes(x.shape, self.nodes[b].shape)
        self.nodes.append(Node("add", (a, b), np.empty(shape, x.dtype), keep=False))
        self.code.append(("node", len(self.nodes) - 1))
        return len(self.nodes) - 1

    def _alias(self, array, n):
        """``array`` (a gradient the engine stored or returned) holds node n's value."""
        key = id(array)
        self.node_of[key] = n
        try:
            weakref.finalize(array, self.node_of.pop, key, None)
        except TypeError:
            self.keep.append(array)

    def check_forward(self, prim, inputs, out):
        """The anomaly slot's forward check: apply is recorded by the profile instead."""

    def check_backward(self, t, i, gi):
        """One edge of the walk, called by the engine right before it adds ``gi``."""
        if threading.get_ident() != self.thread or self._backward is None:
            return
        bw = self._backward
        if t._hooks:
            raise refusals.hooks(f"a hook on the output of '{t._op.name}'")
        g = bw["acc"][id(t)]
        where = (t._op.name, "backward")
        ans = self.value(t, where)
        refs = tuple(self.value(p, where) for p in t._parents)
        tmpl = self.template(t._params, where) if t._params else {}
        n = self._computed("vjp", (t._op, i, g, ans, refs, tmpl), gi)
        p = t._parents[i]
        key = id(p)
        if p._op is None or p._retains_grad:  # gets a .grad: remembered (interior
            bw["seen"][key] = p  # tensors are not: the walk frees them as it goes)
            bw["edges_in"].setdefault(key, []).append(gi)
        prev = bw["acc"].get(key)
        bw["acc"][key] = n if prev is None else self._add(prev, n)

    def _on_backward_return(self, frame, found):
        bw, self._backward = self._backward, None
        if bw is None or found is None:  # the walk raised
            return
        inputs = bw["inputs"]
        if inputs is not None:  # grad(): the gradients are returned, nothing is stored
            for t, f in zip(inputs, found):
                if f is not None:
                    self._alias(f.data, bw["acc"][id(t)])
            return
        for key, t in bw["seen"].items():
            if not (t._op is None or t._retains_grad) or key not in bw["acc"]:
                continue
            if t._hooks:
                raise refusals.hooks("a hook on a leaf tensor (register_hook)")
            acc = bw["acc"][key]
            before = bw["grads_before"].get(key)
            if before is None:
                node = acc
                # the engine copies a gradient it does not own (a view, a shared array)
                edges = bw["edges_in"].get(key, ())
                copy = len(edges) == 1 and t.grad.data is not edges[0]
            else:
                old = self.node_of.get(id(before.data))
                if old is None:  # the gradient from before this step: read at replay
                    old = self._computed("grad", (t, True), before.data)
                node = self._add(old, acc)
                copy = False
            self.code.append(("setgrad", t, node, copy))
            self._alias(t.grad.data, node)

    # --- known calls ------------------------------------------------------------------
    def call_returned(self, call):
        """Bookkeeping after a known call: leave its opaque region, place it in the code."""
        if call.opaque:
            self._opaque -= 1
        self.code.append(("call", call))

    def grads_changed(self, params):
        """After a call that replaced ``.grad`` arrays: later reads see them live."""
        for p in params:
            if p.grad is not None:
                self._computed("grad", (p, False), p.grad.data)

    def release(self):
        """After the capture: drop every array a plan does not need (the activations and
        gradients of the step), so capturing holds little more memory than an eager step.
        Kept: arrays from outside the ops (compared between captures), the arguments and
        the unit seed."""
        for node in self.nodes:
            if node.kind not in ("ext", "arg", "seed"):
                node.array = None
        self.keep = [n.array for n in self.nodes if n.array is not None]
        self.node_of = {}
        self._backward = None

    def output(self, result):
        """The step's return value as a template of node references."""
        self.code.append(("end", self.template(result, ("the step's return value", ""))))
