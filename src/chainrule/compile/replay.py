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
from chainrule.compile import known_calls, lowering
from chainrule.compile.capture import Ref, TensorRef, template_refs
from chainrule.compile.liveness import analyse
from chainrule.compile.optimizer_step import fast_step, zero_grad_lines
from chainrule.ops.labels import class_labels
from chainrule.ops.linalg import _ones as _shared_ones
from chainrule.tensor import Tensor


class Stale(Exception):
    """A guard failed: what was captured no longer describes the step."""


class BranchChanged(Stale):
    """A branch on the step's inputs (``cross_entropy``'s "no row is ignore_index") would
    go the other way, found before the replay did anything: a capture of the same
    signature on the other path may replay this call instead."""


def _first_branch(**kwargs):
    """:func:`.known_calls.same_branch` for a check the replay makes first."""
    try:
        known_calls.same_branch(**kwargs)
    except Stale:
        raise BranchChanged from None


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
        self.ns.update({f"np_{name}": getattr(np, name) for name in lowering.UFUNCS})
        self.ns["_grad"] = _grad_data
        self.lines: list[str] = []
        self.made: set[int] = set()
        self.names: dict[int, str] = {}  # id(object) -> namespace name
        self.tops: set[int] = set()  # labels nodes whose largest value is computed
        self.in_range: dict[int, int] = {}  # labels node -> C: checked 0 <= y < C above

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

    # --- lowered kernels (see .lowering and .liveness) --------------------------------
    def plan_lowering(self, uses, lower=True):
        """Choose the nodes computed by lowered kernels, and which arrays they may take
        over (``liveness.analyse``)."""
        nodes, self.kernel, self.pairs = self.p.nodes, {}, {}
        numpy_only = lower and (
            all(type(t.data) is np.ndarray for t in self.p.leaves) and self.p.numpy_args
        )
        self.numpy_only = numpy_only
        if numpy_only:  # lowered lines call NumPy itself; CuPy steps keep the calls
            self.pairs = lowering.cross_entropy_pairs(nodes)
        self.paired = {v: f for f, v in self.pairs.items()}
        for entry in self.p.code if numpy_only else ():
            if entry[0] != "node":
                continue
            n = entry[1]
            node = nodes[n]
            if n in self.pairs or n in self.paired:
                self.kernel[n] = "cross_entropy"
                continue
            if not node.shape or not isinstance(node.dtype, np.dtype):
                continue  # 0-d results are NumPy scalars without out=: keep the call
            if node.kind == "fwd":
                k, tmpl = lowering.FORWARD.get(node.info[0].name), node.info[2]
            elif node.kind == "vjp":
                k, tmpl = lowering.VJP.get((node.info[0].name, node.info[1])), node.info[5]
            elif node.kind == "add":
                k, tmpl = lowering.GRADIENT_SUM, {}
            else:
                continue
            if k is not None and not tmpl and k.applies(node, [nodes[r] for r in _reads(node)]):
                self.kernel[n] = k
        self._all_uses = uses
        escaping, self.end = analyse(nodes, self.p.code, set(self.kernel), self.uses)
        self.fresh = escaping
        # nodes whose array a lowered kernel made and nobody else sees: a later in-place
        # kernel may write into it at its last use
        self.owned: set[int] = set()
        self.keep: dict[int, tuple] = {}  # cross-entropy vjp node -> (e, s)
        self.locals = 0

    def uses(self, entry):
        """The nodes a code entry reads: for a lowered kernel, those its lines read."""
        if entry[0] != "node" or entry[1] not in self.kernel:
            return self._all_uses(entry)
        node = self.p.nodes[entry[1]]
        kernel = self.kernel[entry[1]]
        if kernel == "cross_entropy":  # the forward reads x and labels, the VJP g, labels
            labels = template_refs(node.info[2 if node.kind == "fwd" else 5])
            return [node.info[1][0] if node.kind == "fwd" else node.info[2], *labels]
        refs = _reads(node)
        return refs if kernel.reads is None else [refs[i] for i in kernel.reads]

    def local(self, prefix):
        """A fresh name for a kernel's temporary (the kernel deletes it after use)."""
        self.locals += 1
        return f"{prefix}_{self.locals}"

    def label_top(self, n):
        """The name of labels node n's largest value seen as unsigned, computed once."""
        name = f"top{n}"
        if n not in self.tops:
            self.tops.add(n)
            labels = self.ref(n)
            self.lines.append(f"{name} = {lowering.label_max(self, labels, self.p.nodes[n].dtype)}")
        return name

    def ones(self, n, dtype):
        """The engine's shared read-only vector of ones (what ``linear``'s VJP uses)."""
        return self.obj(_shared_ones(n, dtype), "K")

    def rows(self, n, width=1):
        """A read-only ``[0, width, 2·width, …]`` of ``n`` int64s: the row indices of an
        ``(n, C)`` array, or (``width=C``) where its rows start once it is flattened."""
        key = ("rows", n, width)
        if key not in self.names:
            rows = np.arange(n, dtype=np.int64) * width
            rows.flags.writeable = False
            self.names[key] = name = f"K{len(self.names)}"
            self.ns[name] = rows
        return self.names[key]

    def shape_of(self, i):
        return self.cur[i].shape

    def _destination(self, n, k, ins, inplace):
        """The array node n's result is written into: that of an input the kernel may
        overwrite and that dies here (in place), or None (a fresh array)."""
        if n in self.fresh:
            return None  # it leaves the step: a fresh array, as eagerly
        node = self.p.nodes[n]
        self.owned.add(n)
        for pos in inplace:
            m = ins[pos]
            src = self.p.nodes[m]
            same = (src.shape, src.dtype) == (node.shape, node.dtype)
            if m in self.owned and self.end[m] == k and same:
                self.owned.discard(m)
                return f"v{m}"
        return None

    def lowered(self, n, k):
        """Write node n with its lowered kernel (at code entry k)."""
        node, nodes = self.p.nodes[n], self.p.nodes
        self.out = node
        o = f"v{n}"
        if n in self.pairs or n in self.paired:
            self._cross_entropy(n, k, o)
        else:
            kernel = self.kernel[n]
            refs = _reads(node)
            params = node.info[2] if node.kind == "fwd" else {}  # lowered: no params
            self.cur = [nodes[r] for r in refs]
            names = [self.ref(r) for r in refs]
            dst = self._destination(n, k, refs, kernel.inplace)
            self.lines += kernel.emit(self, o, dst, names, params)
        self.made.add(n)

    def _cross_entropy(self, n, k, o):
        node = self.p.nodes[n]
        if n in self.pairs:  # the forward: keeps e and s for the VJP
            v = self.pairs[n]
            (x,) = node.info[1]
            self.cur = [self.p.nodes[x]]
            ref = node.info[2]["labels"]
            rows, classes = self.cur[0].shape
            # labels already checked to lie in 0..C-1 pick their entries by flat index
            # (not uint64 ones: uint64 + the int64 row starts would give float64)
            checked = self.in_range.get(ref.n)
            flat = checked is not None and checked <= classes
            flat = flat and self.p.nodes[ref.n].dtype != np.uint64
            keep = self.keep[v] = (f"e{n}", f"s{n}", f"i{n}" if flat else None)
            labels = self.expr(ref)
            reduction = node.info[2].get("reduction", "mean")
            self.lines += lowering.cross_entropy_forward(
                self, o, self.ref(x), labels, reduction, keep, rows
            )
        else:  # the VJP: finishes δ in e, which becomes its array
            _, _, g, _, refs, params = node.info
            keep = self.keep.pop(n)
            if n not in self.fresh:
                self.owned.add(n)
            labels = self.expr(params["labels"])
            reduction = params.get("reduction", "mean")
            rows = self.p.nodes[refs[0]].shape[0]
            seed = self.p.nodes[g]
            seed = seed.array if seed.kind == "seed" else None  # ∂L/∂L = 1, the same array
            self.lines += lowering.cross_entropy_vjp(
                self, o, self.ref(g), labels, reduction, keep, rows, seed
            )
            self.lines.append(f"del {', '.join(k for k in keep if k)}")

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
        if node.kind in ("fwd", "vjp"):
            return _reads(node) + template_refs(node.info[2 if node.kind == "fwd" else 5])
        if node.kind == "add":
            return _reads(node)
        return [node.info[0]] if node.kind == "seedcopy" else []
    if kind == "setgrad":
        return [entry[2]]
    if kind == "check":
        return template_refs(entry[2])
    if kind == "end":
        return template_refs(entry[1])
    return []


def _reads(node):
    """The arrays a fwd/vjp/add node's kernel is given, in kernel order: the inputs; for
    a VJP ``(g, ans, *inputs)``; for a gradient sum its two terms."""
    if node.kind == "fwd":
        return list(node.info[1])
    if node.kind == "vjp":
        _, _, g, ans, refs, _ = node.info
        return [g, ans, *refs]
    return list(node.info)


def _label_classes(program, nodes):
    """``{labels node: C}`` for the label checks a replay makes as a range test
    (:func:`.lowering.label_check`)."""
    classes = {}
    for entry in program.code:
        if entry[0] == "check" and entry[1] is class_labels:
            labels = entry[2].get("labels")
            if isinstance(labels, Ref) and lowering.label_check(nodes[labels.n], entry[2]):
                classes.setdefault(labels.n, entry[2]["n_classes"])
    return classes


def _range_checked(entry, classes):
    """The labels node of a check entry that all labels in ``0..C-1`` pass: a label check
    on labels of ``classes``, or ``cross_entropy``'s "no row is ignore_index" with an
    ignore_index outside that range (answered True at capture). Else None."""
    _, fn, args = entry
    if fn is class_labels:
        labels = args.get("labels")
        n = labels.n if isinstance(labels, Ref) else None
        return n if n in classes and args["n_classes"] >= classes[n] else None
    if not known_calls.is_ignored_rows_check(entry):
        return None
    labels, ignore = args["args"].get("labels"), args["args"].get("ignore_index")
    n = labels.n if isinstance(labels, Ref) else None
    if n not in classes or type(ignore) is not int or 0 <= ignore < classes[n]:
        return None
    return n


def build(program, guards, lower=True, flat_labels=True):
    """``(source, namespace)`` of ``replay(args)`` for ``program``; ``guards`` is a list
    of ``(expression, {name: object})`` pairs that must all hold. ``lower=False`` calls
    every primitive's own function (the reference the lowered lines are tested against);
    ``flat_labels=False`` keeps the cross-entropy's ``[rows, labels]`` index where a
    flat one would do (bench/compile_stages.py's row for what the flat one bought)."""
    em = _Emitter(program)
    nodes = program.nodes
    em.plan_lowering(lambda entry: _uses(entry, nodes), lower)
    classes = _label_classes(program, nodes) if em.numpy_only else {}
    # the checks before anything else: raising there leaves everything as it was
    code = program.code
    leading = next((k for k, e in enumerate(code) if e[0] != "check"), len(code))
    last = {}
    for k, entry in enumerate(code):
        for n in em.uses(entry):
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
    for k, entry in enumerate(code):
        kind = entry[0]
        if kind == "node" and entry[1] in em.kernel:
            em.lowered(entry[1], k)
        elif kind == "node":
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
            lines = None
            if call.kind == "zero_grad" and em.numpy_only:
                lines = zero_grad_lines(em.obj(call.obj, "G"), call.obj, call.key[2])
            if lines is not None:
                em.lines += lines
            elif replay is not None:
                em.lines.append(f"{em.obj(replay, 'C')}()")
        elif kind == "check":  # a validation eager mode makes: made again on this call
            _, fn, args = entry
            if fn is known_calls.same_branch and k < leading:
                fn = _first_branch  # nothing is done yet: another capture may take the call
            kw = ", ".join(f"{name}={em.expr(v)}" for name, v in args.items())
            check = f"{em.obj(fn, 'C')}({kw})"
            labels = _range_checked(entry, classes)
            if labels is None:
                em.lines.append(check)
            else:
                em.lines += lowering.in_range_or(em.label_top(labels), classes[labels], check)
                if flat_labels:
                    em.in_range.setdefault(labels, classes[labels])
        elif kind == "end":
            em.lines.append(f"return {em.expr(entry[1])}")
            continue
        dead = sorted(n for n, at in last.items() if at == k and n in em.made)
        if dead:
            em.lines.append("del " + ", ".join(f"v{n}" for n in dead))
    body = head + ["    " + line for line in em.lines]
    return "\n".join(body) + "\n", em.ns


def compile_replay(program, guards, lower=True, flat_labels=True):
    """The replay function itself (and its source, for debugging)."""
    source, ns = build(program, guards, lower, flat_labels)
    exec(compile(source, "<cr.compile replay>", "exec"), ns)
    return ns["replay"], source
