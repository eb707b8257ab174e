"""Replay: a program becomes one straight-line Python function of NumPy calls.

Each captured operation becomes one line that calls the very function eager mode called —
the primitive's raw forward, the VJP of input ``i`` in the ``RAW`` namespace, ``a + b``
for a gradient sum in the walk's order, the optimizer's own ``step``. So a replay does
the same floating-point operations in the same order as eager mode, bit for bit, and
skips everything else eager mode does per op: Tensor wrapping, operand lifting and
checks, the graph, the heap walk and its bookkeeping.

Arrays are dropped (``del``) right after their last use, so memory is freed at least as
early as the eager backward walk frees its graph: a replay's peak is at most eager's.

The function starts with guards: every parameter still has its captured shape, dtype
and ``requires_grad``; every module found from the step still has the same children,
parameters, training mode and no forward hooks; every optimizer has the same parameter
groups. A failed guard raises :class:`Stale`, and the step is captured again.
"""

from __future__ import annotations

import numpy as np

from chainrule.autograd.primitive import RAW
from chainrule.compile.capture import Ref, TensorRef
from chainrule.compile.optimizer_step import fast_step
from chainrule.tensor import Tensor


class Stale(Exception):
    """A guard failed: what was captured no longer describes the step."""


def _grad_data(t):
    g = t.grad
    if g is None:
        raise Stale
    return g.data


class _Emitter:
    def __init__(self, program):
        self.p = program
        self.ns = {"F": RAW, "Tensor": Tensor, "asarray": np.asarray, "Stale": Stale}
        self.ns["ndarray"] = np.ndarray
        self.ns["_grad"] = _grad_data
        self.lines: list[str] = []
        self.made: set[int] = set()
        self.names: dict[int, str] = {}  # id(object) -> namespace name

    def obj(self, value, prefix):
        """A namespace name bound to ``value`` (one name per object)."""
        key = id(value)
        name = self.names.get(key)
        if name is None:
            name = f"{prefix}{len(self.names)}"
            self.names[key] = name
            self.ns[name] = value
        return name

    def ref(self, n):
        """``v{n}``, emitting its source line first if it is read from outside."""
        if n not in self.made:
            self.made.add(n)
            node = self.p.nodes[n]
            kind = node.kind
            if kind == "arg":
                self.lines.append(f"v{n} = args[{node.info[0]}]")
            elif kind == "leaf":
                self.lines.append(f"v{n} = {self.obj(node.info[0], 'L')}.data")
            elif kind == "derived":
                k, dtype = node.info
                self.lines.append(f"v{n} = args[{k}].astype({self.obj(dtype, 'K')})")
            elif kind == "view":
                k, offset, strides = node.info
                shape, dtype = self.obj(node.shape, "K"), self.obj(node.dtype, "K")
                self.lines.append(
                    f"v{n} = ndarray({shape}, {dtype}, buffer=args[{k}], offset={offset}, "
                    f"strides={strides!r})"
                )
            elif kind == "const":
                self.lines.append(f"v{n} = {self.obj(node.info[0], 'K')}")
            elif kind == "callout":
                self.lines.append(f"v{n} = {self.obj(node.info[1], 'D')}()")
            else:
                raise AssertionError(f"node {n} ({kind}) used before it is computed")
        return f"v{n}"

    def expr(self, value):
        if isinstance(value, TensorRef):
            node = self.p.nodes[value.n]
            if node.kind == "leaf":
                return self.obj(node.info[0], "L")
            return f"Tensor({self.ref(value.n)})"
        if isinstance(value, Ref):
            return self.ref(value.n)
        if isinstance(value, tuple):
            inner = ", ".join(self.expr(v) for v in value)
            return f"({inner},)" if value else "()"
        if isinstance(value, list):
            return "[" + ", ".join(self.expr(v) for v in value) + "]"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k!r}: {self.expr(v)}" for k, v in value.items()) + "}"
        if value is None or isinstance(value, (bool, int, str)):
            return repr(value)
        return self.obj(value, "K")

    def kwargs(self, tmpl):
        return "".join(f", {k}={self.expr(v)}" for k, v in tmpl.items())

    def compute(self, n):
        node = self.p.nodes[n]
        kind, info = node.kind, node.info
        if kind == "fwd":
            prim, refs, tmpl = info
            args = ", ".join(self.ref(r) for r in refs)
            call = f"{self.obj(prim.forward, 'P')}({args}{self.kwargs(tmpl)})"
            if not node.shape:  # apply turns NumPy's 0-d scalars back into arrays
                call = f"asarray({call})"
            self.lines.append(f"v{n} = {call}")
        elif kind == "vjp":
            prim, i, g, ans, refs, tmpl = info
            args = ", ".join(self.ref(r) for r in refs)
            fn = self.obj(prim.vjps[i], "J")
            self.lines.append(
                f"v{n} = {fn}(F, {self.ref(g)}, {self.ref(ans)}, {args}{self.kwargs(tmpl)})"
            )
        elif kind == "add":
            a, b = info
            self.lines.append(f"v{n} = {self.ref(a)} + {self.ref(b)}")
        elif kind == "seed":
            seed = node.array  # the engine's shared read-only ∂L/∂L = 1
            self.lines.append(f"v{n} = {self.obj(seed, 'K')}")
        elif kind == "seedcopy":
            dtype = self.obj(node.dtype, "K")
            self.lines.append(f"v{n} = asarray({self.ref(info[0])}).astype({dtype}, copy=True)")
        elif kind == "grad":
            self.lines.append(f"v{n} = _grad({self.obj(info[0], 'L')})")
        elif kind == "callout":
            self.lines.append(f"v{n} = {self.obj(info[1], 'D')}()")
        else:
            raise AssertionError(f"cannot compute a node of kind {kind}")
        self.made.add(n)


def _uses(entry, nodes):
    """Node indices an entry reads."""
    kind = entry[0]
    if kind == "node":
        node = nodes[entry[1]]
        if node.kind == "fwd":
            return list(node.info[1]) + _template_refs(node.info[2])
        if node.kind == "vjp":
            return [node.info[2], node.info[3], *node.info[4], *_template_refs(node.info[5])]
        if node.kind in ("add", "seedcopy"):
            return list(node.info[:2]) if node.kind == "add" else [node.info[0]]
        return []
    if kind == "setgrad":
        return [entry[2]]
    if kind == "check":
        return _template_refs(entry[2])
    if kind == "end":
        return _template_refs(entry[1])
    return []


def _template_refs(value):
    if isinstance(value, Ref):
        return [value.n]
    if isinstance(value, (tuple, list)):
        return [r for v in value for r in _template_refs(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _template_refs(v)]
    return []


def build(program, guards):
    """``(source, namespace)`` of ``replay(args)`` for ``program``; ``guards`` is a list
    of ``(expression, {name: object})`` pairs that must all hold."""
    em = _Emitter(program)
    nodes = program.nodes
    last = {}
    for k, entry in enumerate(program.code):
        for n in _uses(entry, nodes):
            last[n] = k
    head = ["def replay(args):"]
    conditions = []
    for expr, objs in guards:
        for name, value in objs.items():
            expr = expr.replace("{" + name + "}", em.obj(value, "G"))
        conditions.append(expr)
    for k in range(0, len(conditions), 8):
        chunk = " and ".join(conditions[k : k + 8])
        head.append(f"    if not ({chunk}):\n        raise Stale")
    for k, entry in enumerate(program.code):
        kind = entry[0]
        if kind == "node":
            em.compute(entry[1])
        elif kind == "setgrad":
            _, t, n, copy = entry
            value = f"{em.ref(n)}.copy()" if copy else em.ref(n)
            em.lines.append(f"{em.obj(t, 'L')}.grad = Tensor({value})")
        elif kind == "call":
            call = entry[1]
            replay = call.replay
            if call.kind == "optimizer.step":
                replay = fast_step(call.obj) or replay
            if replay is not None:
                em.lines.append(f"{em.obj(replay, 'C')}()")
        elif kind == "check":  # a validation eager mode makes: made again on this call
            _, fn, args = entry
            kw = ", ".join(f"{k}={em.expr(v)}" for k, v in args.items())
            em.lines.append(f"{em.obj(fn, 'C')}({kw})")
        elif kind == "end":
            em.lines.append(f"return {em.expr(entry[1])}")
            continue
        dead = sorted(n for n, at in last.items() if at == k and n in em.made)
        if dead:
            em.lines.append("del " + ", ".join(f"v{n}" for n in dead))
    body = head + ["    " + line for line in em.lines]
    return "\n".join(body) + "\n", em.ns


def compile_replay(program, guards):
    """The replay function itself (and its source, for debugging)."""
    source, ns = build(program, guards)
    exec(compile(source, "<cr.compile replay>", "exec"), ns)
    return ns["replay"], source
