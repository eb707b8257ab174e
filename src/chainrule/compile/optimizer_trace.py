"""One parameter's optimizer update, traced into straight-line NumPy.

``Optimizer.step`` does, per parameter, ``kernel, arrays, scalars = _plan(p, state,
group)`` and then ``kernel(xp, param, grad, *arrays, s, t, **scalars)`` (the protocol in
:mod:`chainrule.optim.optimizer`). For a small model that Python costs as much as the
update: a dict of scalars built, a call with keyword arguments, the kernel's branches on
them, ``out=`` passed by keyword. :func:`trace` runs ``_plan`` and the kernel once on
stand-ins instead of values:

* the group and the state are read through mappings that record what is read
  (``grp['lr']``) and written (``st['step'] = x3``);
* every scalar is a :class:`_Scalar` that records the arithmetic done on it
  (``x2 = 1.0 - x1``) and every branch taken on it (``x1 != 0`` was True);
* arrays are names only, and ``xp`` records each ufunc call with its output.

The result is a function of ``(P, G, st, grp, S, T)`` that reads the group's and the
state's current values, checks that every branch would go the way it went, and then
makes the very same calls — the same floating-point operations on the same values, so
the same bits — as positional NumPy calls. When a branch would go another way (momentum
switched off, amsgrad on, the first step) it returns False and changes nothing, and the
caller runs ``_plan`` and the kernel as usual. Anything the stand-ins cannot follow — an
array used other than through ``xp.<ufunc>(..., out=)``, a scalar turned into a float,
the parameter itself read — makes the trace fail (:class:`Untraceable`), and that
parameter keeps the plain call.

Writes are delayed until every read and check is done: a read of a key written earlier
gets the written value, so the reads never depend on the writes, and a failed check
leaves the state as it was.
"""

from __future__ import annotations

import ast
import numbers
import operator

import numpy as np


class Untraceable(Exception):
    """The update did something the stand-ins cannot record."""


_CONSTANTS = (bool, int, float, str, type(None))


class _Tracer:
    def __init__(self):
        self.prologue: list[str] = []  # reads, scalar arithmetic and checks, in order
        self.body: list[str] = []  # state writes and ufunc calls, in order
        self.ns: dict = {}
        self.count = 0
        self.checked: set[str] = set()

    def bind(self, expr, value):
        """A fresh local ``x{k} = expr`` holding ``value`` now."""
        self.count += 1
        name = f"x{self.count}"
        self.prologue.append(f"{name} = {expr}")
        return _Scalar(self, name, value)

    def check(self, expr, answer):
        """Record that ``expr`` was ``answer`` (truthy or not) while tracing."""
        test = expr if expr.isidentifier() else f"({expr})"
        line = f"if {'not ' if answer else ''}{test}:\n        return False"
        if line not in self.checked:  # _plan and the kernel often test the same option
            self.checked.add(line)
            self.prologue.append(line)

    def src(self, value):
        """The source text of an operand: a scalar's name, a constant's repr."""
        if isinstance(value, (_Scalar, _Slot)):
            return value.src
        if type(value) in _CONSTANTS and (type(value) is not float or np.isfinite(value)):
            return repr(value)
        name = f"K{len(self.ns)}"  # a NumPy scalar, inf, ...: the object itself
        self.ns[name] = value
        return name


def _value(v):
    return v.value if isinstance(v, _Scalar) else v


def _binary(symbol, fn):
    def forward(a, b):
        if isinstance(b, _Slot):
            raise Untraceable(f"a scalar {symbol} an array outside xp")
        return a.t.bind(f"{a.src} {symbol} {a.t.src(b)}", fn(a.value, _value(b)))

    def reflected(a, b):
        if isinstance(b, _Slot):
            raise Untraceable(f"an array {symbol} a scalar outside xp")
        return a.t.bind(f"{a.t.src(b)} {symbol} {a.src}", fn(_value(b), a.value))

    return forward, reflected


def _compare(symbol, fn):
    def compare(a, b):
        answer = fn(a.value, _value(b))
        a.t.check(f"{a.src} {symbol} {a.t.src(b)}", answer)
        return answer

    return compare


class _Scalar:
    """A scalar read from the group or the state, or computed from such scalars."""

    __slots__ = ("src", "t", "value")

    def __init__(self, tracer, src, value):
        self.t, self.src, self.value = tracer, src, value

    __add__, __radd__ = _binary("+", operator.add)
    __sub__, __rsub__ = _binary("-", operator.sub)
    __mul__, __rmul__ = _binary("*", operator.mul)
    __truediv__, __rtruediv__ = _binary("/", operator.truediv)
    __floordiv__, __rfloordiv__ = _binary("//", operator.floordiv)
    __pow__, __rpow__ = _binary("**", operator.pow)
    __eq__ = _compare("==", operator.eq)
    __ne__ = _compare("!=", operator.ne)
    __lt__ = _compare("<", operator.lt)
    __le__ = _compare("<=", operator.le)
    __gt__ = _compare(">", operator.gt)
    __ge__ = _compare(">=", operator.ge)
    __hash__ = None

    def __neg__(self):
        return self.t.bind(f"-{self.src}", -self.value)

    def __bool__(self):
        answer = bool(self.value)
        self.t.check(self.src, answer)
        return answer

    def __len__(self):
        n = len(self.value)
        self.t.check(f"len({self.src}) == {n}", True)
        return n

    def __getitem__(self, k):
        if type(k) not in _CONSTANTS:
            raise Untraceable("an index that is not a constant")
        return self.t.bind(f"{self.src}[{k!r}]", self.value[k])

    def __iter__(self):
        n = len(self)
        return iter([self[i] for i in range(n)])

    def _opaque(self, *args):
        raise Untraceable(f"{self.src} used as a Python number")

    __float__ = __int__ = __index__ = __complex__ = __round__ = _opaque


class _Slot:
    """An array, by name. It has no operators: array work outside ``xp`` fails."""

    __slots__ = ("src",)

    def __init__(self, src):
        self.src = src

    def __getattr__(self, name):
        raise Untraceable(f"array attribute .{name}")

    def __bool__(self):
        raise Untraceable("an array's truth value")


class _Opaque:
    """The parameter passed to ``_plan``: any use of it fails the trace."""

    def __getattr__(self, name):
        raise Untraceable(f"the parameter's .{name} read by _plan")


class _Mapping:
    """The group (read only) or the state, as ``_plan`` sees it."""

    def __init__(self, tracer, src, data, writable):
        self.t, self.src, self.data, self.writable = tracer, src, data, writable
        self.written: dict = {}
        self.arrays: dict = {}

    def __contains__(self, key):
        answer = key in self.written or key in self.data
        if key not in self.written:
            self.t.check(f"{key!r} in {self.src}", answer)
        return answer

    def __getitem__(self, key):
        if type(key) is not str:
            raise Untraceable(f"{self.src} indexed by {type(key).__name__}")
        if key in self.written:
            return self.written[key]
        if key not in self.data:
            raise Untraceable(f"{key!r} is not in {self.src}")  # KeyError eagerly
        if self.writable:  # a state emptied since (cleared, or loaded from a fresh one)
            self.t.check(f"{key!r} in {self.src}", True)
        value = self.data[key]
        if isinstance(value, np.ndarray):
            if key not in self.arrays:
                self.t.count += 1
                name = f"a{self.t.count}"
                self.t.prologue.append(f"{name} = {self.src}[{key!r}]")
                self.arrays[key] = _Slot(name)
            return self.arrays[key]
        if not isinstance(value, (numbers.Number, str, tuple, list, type(None))):
            raise Untraceable(f"{self.src}[{key!r}] is a {type(value).__name__}")
        # no type check: the update evaluates the same expressions on the live values,
        # whatever their type, as _plan and the kernel would
        return self.t.bind(f"{self.src}[{key!r}]", value)

    def get(self, key, default=None):
        return self[key] if key in self else default  # noqa: SIM401 - this is get

    def __setitem__(self, key, value):
        if not self.writable or type(key) is not str:
            raise Untraceable(f"a write to {self.src}")
        if isinstance(value, _Slot) or (
            not isinstance(value, _Scalar) and type(value) not in _CONSTANTS
        ):
            raise Untraceable(f"{self.src}[{key!r}] set to an array or object")
        self.t.body.append(f"{self.src}[{key!r}] = {self.t.src(value)}")
        self.written[key] = value
        self.arrays.pop(key, None)

    def _opaque(self, *args, **kwargs):
        raise Untraceable(f"{self.src} used as a whole")

    __iter__ = __len__ = keys = items = values = pop = setdefault = update = _opaque


class _Namespace:
    """``xp`` for the kernel: records ufunc calls into a named output, and ``copyto``."""

    def __init__(self, tracer):
        self.t = tracer

    def __getattr__(self, name):
        fn = getattr(np, name, None)
        if name == "copyto":
            return self._copyto
        if not isinstance(fn, np.ufunc) or fn.nout != 1:
            raise Untraceable(f"xp.{name}")
        self.t.ns[f"np_{name}"] = fn

        def record(*args, out=None, **kwargs):
            if kwargs:
                raise Untraceable(f"xp.{name} with {', '.join(kwargs)}")
            if len(args) == fn.nin + 1 and out is None:
                *args, out = args
            if isinstance(out, tuple) and len(out) == 1:
                (out,) = out
            if len(args) != fn.nin or not isinstance(out, _Slot):
                raise Untraceable(f"xp.{name} without an output array")
            inner = ", ".join(self.t.src(a) for a in args)
            # NumPy deprecates a positional out for maximum and minimum only
            inner += f", out={out.src}" if name in ("maximum", "minimum") else f", {out.src}"
            self.t.body.append(f"np_{name}({inner})")
            return out

        return record

    def _copyto(self, dst, src, **kwargs):
        if kwargs or not isinstance(dst, _Slot):
            raise Untraceable("xp.copyto")
        self.t.ns["np_copyto"] = np.copyto
        self.t.body.append(f"np_copyto({dst.src}, {self.t.src(src)})")


def trace(opt, state, group):
    """``update(P, G, st, grp, S, T) -> bool`` doing ``opt``'s update of one parameter
    with this state and group, or raise :class:`Untraceable`. Nothing is changed."""
    t = _Tracer()
    st = _Mapping(t, "st", state, writable=True)
    grp = _Mapping(t, "grp", group, writable=False)
    try:
        kernel, arrays, scalars = opt._plan(_Opaque(), st, grp)
        if not isinstance(arrays, tuple) or not isinstance(scalars, dict):
            raise Untraceable("_plan did not return (kernel, tuple, dict)")
        if any(a is not None and not isinstance(a, _Slot) for a in arrays):
            raise Untraceable("a state array not read from the state")
        kernel(_Namespace(t), _Slot("P"), _Slot("G"), *arrays, _Slot("S"), _Slot("T"), **scalars)
    except Untraceable:
        raise
    except Exception as e:  # TypeError: an operator on a stand-in, ...
        raise Untraceable(f"{type(e).__name__}: {e}") from None
    lines = ["def update(P, G, st, grp, S, T):"]
    lines += ["    " + line for line in [*t.prologue, *t.body, "return True"]]
    source = "\n".join(lines) + "\n"
    ns = dict(t.ns)
    exec(compile(source, f"<cr.compile update: {type(opt).__name__}>", "exec"), ns)
    update = ns["update"]
    update.source = source
    update.writes_state = any(line.startswith("st[") for line in t.body)
    update.parts = (tuple(t.prologue), tuple(t.body), dict(t.ns))  # for combine()
    return update


_PER_PARAM = frozenset({"P", "G", "st", "S", "T"})
# what a group option may be for a call over the whole group: a scalar (an array option
# would broadcast against the group's buffer as it would not against each parameter)
_SCALARS = frozenset(
    {bool, int, float}
    | {t for t in set(np.sctypeDict.values()) if issubclass(t, (np.number, np.bool_))}
)


class FlatGroup:
    """A param group's arrays laid end to end, for :func:`combine` to make a call of
    every parameter's update as one call over the group.

    ``arrays`` maps ``"S"``, ``"T"`` (the kernel's scratch) and state keys to one
    contiguous buffer over the group's parameters, in order; ``views[k]`` maps each such
    state key to the view of it that parameter ``k``'s state holds (its scratch views
    are what the caller passes as ``S_k``, ``T_k``)."""

    def __init__(self, arrays, views):
        self.arrays, self.views = arrays, views


def combine(groups, flats=None):
    """One function doing every parameter's traced update, from ``groups``: per param
    group, the list of its parameters' traces (``trace()`` results), and optionally
    ``flats``: per group, a :class:`FlatGroup` or None.

    Returns ``core(grp_0, P_0, G_0, st_0, S_0, T_0, P_1, .., grp_1, ..)``, with
    ``.source``: every trace's reads and checks first, then every trace's calls and
    state writes, so that a failed check still changes nothing. Each trace's names get
    its parameter's suffix, and a read, sum or check whose text (so renamed) was already
    made is not made again: chiefly the group's options (``x3_g0 = grp_0['lr']``, ``if
    x5_g0:``), which calls of ``update`` per parameter read and check again each time.
    Both are sound because reads and checks have no effects and touch only the groups,
    which no update writes, and each parameter's own state, which only its update
    writes (after all of them).

    With a :class:`FlatGroup` for a group whose parameters' traces are one text, the
    group's calls go statement by statement, and a statement that every parameter makes
    on its state and scratch arrays alone, with the same group options, is made once
    over the group's buffers (``v ← μv`` for all parameters in one ``np_multiply``): an
    elementwise ufunc gives each element the same bits whichever array it is part of.
    Statement by statement is the same work as parameter by parameter because no two
    parameters share memory (which the optimizer's threaded runner relies on too)."""
    head, prologue, body, ns = [], [], [], {}
    made: dict[str, str] = {}  # an expression, renamed -> the local holding it
    checked: set[str] = set()
    pi = 0  # the parameter's index over all groups
    for gi, traces in enumerate(groups):
        head.append(f"grp_{gi}")
        mine_all = []  # per parameter of the group: (its index, its trace's parts, rename)
        for update in traces:
            head += [f"{n}_{pi}" for n in ("P", "G", "st", "S", "T")]
            pro, bod, names = update.parts
            rename = {"grp": f"grp_{gi}", **{n: f"{n}_{pi}" for n in _PER_PARAM}}
            mine = set(_PER_PARAM)  # this parameter's names: its arrays, state, constants
            for name, value in names.items():
                if name.startswith("np_"):
                    ns[name] = value
                else:  # a constant object of this trace (a NumPy scalar, inf, ...)
                    rename[name] = f"{name}_{pi}"
                    ns[rename[name]] = value
                    mine.add(name)

            for line in pro:
                (stmt,) = ast.parse(line).body
                if isinstance(stmt, ast.If):  # a check: if ...: return False
                    _renamed(stmt, rename)
                    _check(stmt, prologue, checked)
                    continue
                (target,) = stmt.targets
                used = {n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name)}
                key = _renamed(stmt.value, rename)
                if key not in made:
                    if used & mine:
                        mine.add(target.id)
                        made[key] = f"{target.id}_{pi}"
                    else:  # the group's alone: named for it
                        name = f"{target.id}_g{gi}"
                        made[key] = f"{name}_{pi}" if name in made.values() else name
                    prologue.append(f"{made[key]} = {key}")
                elif used & mine:
                    mine.add(target.id)
                rename[target.id] = made[key]
            mine_all.append((pi, update.parts, rename))
            pi += 1
        flat = flats[gi] if flats else None
        if flat is not None and len({parts[:2] for _, parts, _ in mine_all}) == 1:
            checks, lines = _statement_by_statement(mine_all, flat, gi, ns)
            for text in checks:
                _check(ast.parse(text).body[0], prologue, checked)
            body += lines
        else:
            for _, (_, bod, _), rename in mine_all:
                body += [_renamed(ast.parse(line), rename) for line in bod]
    lines = [f"def core({', '.join(head)}):"]
    lines += ["    " + ln.replace("\n", "\n    ") for ln in [*prologue, *body, "return True"]]
    source = "\n".join(lines) + "\n"
    exec(compile(source, "<cr.compile optimizer step>", "exec"), ns)
    core = ns["core"]
    core.source = source
    return core


def _renamed(node, rename):
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and n.id in rename:
            n.id = rename[n.id]
    return ast.unparse(node)


def _check(stmt, prologue, checked):
    """Add the check ``stmt`` (``if ...: return False``, parsed) to ``prologue`` unless
    the same text was already added."""
    text, test = ast.unparse(stmt), stmt.test
    negated = isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
    if negated and not isinstance(test.operand, ast.Name):  # unparse drops not (a != b)'s ()
        text = f"if not ({ast.unparse(test.operand)}):\n    return False"
    if text not in checked:
        checked.add(text)
        prologue.append(text)


def _statement_by_statement(params, flat, gi, ns):
    """The calls of one group's parameters (``(index, parts, rename)`` each, all with one
    trace text) statement by statement, a statement on state and scratch arrays alone
    made once over ``flat``'s buffers. Returns ``(checks, lines)``: the checks that the
    states still hold ``flat``'s views and that the group's options used are scalars."""
    pro, bod, _ = params[0][1]
    keys = {}  # a state array's local -> its state key
    for line in pro:
        (stmt,) = ast.parse(line).body
        v = getattr(stmt, "value", None)  # a{k} = st['key']: the reads of state arrays
        if (
            isinstance(v, ast.Subscript)
            and getattr(v.value, "id", None) == "st"
            and isinstance(v.slice, ast.Constant)
            and stmt.targets[0].id.startswith("a")
        ):
            keys[stmt.targets[0].id] = v.slice.value
    whole = {"S": f"S_f{gi}", "T": f"T_f{gi}"}
    whole.update({a: f"{a}_f{gi}" for a, key in keys.items() if key in flat.arrays})
    for local, name in whole.items():
        ns[name] = flat.arrays[keys.get(local, local)]
    checks, lines, used = [], [], set()
    first = params[0][2]
    for line in bod:
        stmt = ast.parse(line).body[0]
        names = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
        each = [_renamed(ast.parse(line), rename) for _, _, rename in params]
        options = names - whole.keys() - {n for n in names if n.startswith("np_")}
        if (
            not isinstance(stmt, ast.Expr)
            or not isinstance(stmt.value, ast.Call)
            or options & (_PER_PARAM | keys.keys())  # the user's arrays, or unjoined state
            or not names & whole.keys()
            or any(n not in first for n in options)
        ):
            lines += each
            continue
        own = sorted(n for n in options if any(r.get(n) != first[n] for _, _, r in params))
        for n in sorted(options.difference(own)):  # the group's: checked once, up front
            checks.append(f"if type({first[n]}) not in SCALARS:\n    return False")
        used |= names & keys.keys()
        one = _renamed(stmt, {**whole, **{n: first[n] for n in options}})
        if not own:
            lines.append(one)
            continue
        # a scalar of each parameter's own (Adam's bias corrections, from its step count):
        # one call when they are all the same scalar, bit for bit (same type, equal and
        # not zero, whose sign == cannot see), else a call per parameter
        same = [f"type({first[n]}) in SCALARS and {first[n]} != 0" for n in own]
        same += [
            f"type({r[n]}) is type({first[n]}) and {r[n]} == {first[n]}"
            for _, _, r in params[1:]
            for n in own
        ]
        lines.append(f"if {' and '.join(same)}:\n    {one}\nelse:\n    " + "\n    ".join(each))
    ns["SCALARS"] = _SCALARS
    for k, (pi, _, rename) in enumerate(params):
        for local in sorted(used & whole.keys()):
            ns[f"{local}_v{pi}"] = flat.views[k][keys[local]]
            checks.append(f"if {rename[local]} is not {local}_v{pi}:\n    return False")
    return checks, lines
