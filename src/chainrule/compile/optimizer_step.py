"""The optimizer's step as a replay runs it for small models: the same kernels, less
bookkeeping.

``Optimizer.step`` builds a to-do list, checks every gradient's shape, plans every
parameter, and hands the work to a runner that decides between whole arrays and
threaded chunks. For a model of a few KiB that bookkeeping costs more than the update.
A replay already knows the shapes are right (its guards checked them), so for an
optimizer that keeps the base class's ``step`` and a model under the runner's chunking
threshold it runs each parameter's update itself, on whole arrays (kernels are
elementwise, so whole arrays give the same bits as the runner's chunks):

* as the update traced for that parameter (:mod:`.optimizer_trace`): straight-line
  NumPy calls that read the group's and the state's current values, made after checking
  that every branch of ``_plan`` and the kernel goes as it went when traced;
* else as the documented kernel protocol (see :mod:`chainrule.optim.optimizer`): the
  state (``_init_state`` if new), ``_plan`` (which advances step counters and reads the
  group's current lr), then ``kernel(xp, param, grad, *state_arrays, s, t, **scalars)``.

Once every parameter takes its traced update, the traces are combined into one function
for the whole step (:func:`.optimizer_trace.combine`), which hands back to the loop
above, having done nothing, whenever a parameter, a gradient, a state or a branch is not
what it was built for.

Only the built-in optimizers' ``_plan`` are traced (a subclass's own ``_plan`` may read
or count on the optimizer itself, which a trace would freeze). A parameter is traced
after its first planned update, once its state exists; the first
traced update is made on copies too and compared bit for bit with the planned one, and a
trace that differs, or whose branches keep changing, is dropped for good. Larger models,
and optimizers with their own ``step``, replay ``opt.step()`` itself.
"""

from __future__ import annotations

import contextlib
import copy

import numpy as np

from chainrule.compile.optimizer_trace import FlatGroup, Untraceable, combine, trace

_NO_STATE: dict = {}  # what a traced update of a parameter without state reads (never written)
_RETRACES = 3  # traces per parameter dropped because a branch changed, before giving up


def _base(opt, method):
    """The chainrule Optimizer class when ``opt``'s ``method`` is the base class's own."""
    mro = type(opt).__mro__
    base = next((c for c in mro if c.__name__ == "Optimizer" and method in c.__dict__), None)
    if base is None or getattr(type(opt), method) is not getattr(base, method):
        return None
    return base


def zero_grad_lines(name, opt, set_to_none):
    """The replay's lines for ``opt.zero_grad()`` (``opt`` bound as ``name``), or None
    to call it: the base class's ``set_to_none`` loop, without the call around it."""
    if not set_to_none or _base(opt, "zero_grad") is None:
        return None
    return [
        f"for group_ in {name}.param_groups:",
        "    for p_ in group_['params']:",
        "        p_.grad = None",
    ]


def fast_step(opt):
    """A no-argument function doing ``opt.step()``'s work, or None when ``opt.step()``
    should be called as it is."""
    base = _base(opt, "step")
    if base is None:
        return None
    params = [p for g in opt.param_groups for p in g["params"]]
    if any(type(p.data) is not np.ndarray or not p.data.flags.c_contiguous for p in params):
        return None
    runner = __import__(base.__module__, fromlist=["_WHOLE_BYTES"])
    if sum(p.data.nbytes for p in params) >= getattr(runner, "_WHOLE_BYTES", 0):
        return None  # the runner chunks and threads large steps: keep it
    scratch = {}  # parameter -> (s, t), the kernel's scratch arrays shaped like it

    def scratch_of(p):
        st = scratch.get(p)
        if st is None or st[0].shape != p.data.shape or st[0].dtype != p.data.dtype:
            s, t = opt._buffers(0, np, p.data.dtype, p.data.size)
            st = scratch[p] = (s.reshape(p.data.shape), t.reshape(p.data.shape))
        return st

    for p in params:
        scratch_of(p)
    # opt.state is read at each use, never kept: load_state_dict replaces the dict
    init, plan = opt._init_state, opt._plan
    # only chainrule's own plans, which read nothing but the group and the state: a
    # subclass's _plan may keep counters on the optimizer, which a trace would freeze
    traceable = type(opt)._plan.__module__.startswith("chainrule.optim.")
    traced = {}  # parameter -> its traced update, or None once given up
    retraces = {}  # parameter -> traces dropped because a branch changed
    fresh_tried = set()  # parameters traced once without state

    def planned(p, grad, state, group, s, t):
        if state is None:
            state = init(p, group)
        kernel, arrays, scalars = plan(p, state, group)
        if state:
            opt.state[p] = state
        kernel(np, p.data, grad.data, *arrays, s, t, **scalars)

    def first_traced(p, grad, state, group, s, t):
        """Trace p's update, make it both ways (traced on copies), keep it if equal."""
        fresh = state is None  # traced on the state _init_state gives, if it is empty
        update = None
        now = init(p, group) if fresh and traceable and p not in fresh_tried else state
        if traceable and not (fresh and (now or p in fresh_tried)):
            fresh_tried.add(p)
            with contextlib.suppress(Untraceable):  # then the plain call stays
                update = trace(opt, now, group)
        if update is not None and fresh and update.writes_state:
            update = None  # its writes would have to be kept: leave it to _plan
        if update is None:
            # without state yet (the first step makes it), try again once it exists
            traced[p] = False if fresh else None
            planned(p, grad, state, group, s, t)
            return
        param, mine = p.data.copy(), copy.deepcopy(now)
        s2, t2 = np.empty_like(s), np.empty_like(t)
        took = update(param, grad.data, mine, group, s2, t2)
        planned(p, grad, state, group, s, t)
        same = took and _equal(param, p.data) and _same_state(mine, opt.state.get(p, {}))
        traced[p] = update if same else None

    def each():
        """The step parameter by parameter; True when every one took its traced update."""
        state_of = opt.state
        fast = True
        for group in opt.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    fast = False
                    continue
                state = state_of.get(p)
                s, t = scratch.get(p) or scratch_of(p)  # a parameter swapped into a group
                update = traced.get(p, False)
                if update:
                    if state is not None:
                        if update(p.data, grad.data, state, group, s, t):
                            continue
                    elif not update.writes_state:  # a stateless update (plain SGD)
                        if update(p.data, grad.data, _NO_STATE, group, s, t):
                            continue
                    else:  # its state is gone (cleared, loaded empty): _init_state's turn
                        planned(p, grad, state, group, s, t)
                        fast = False
                        continue
                fast = False
                if update is False:  # not traced yet
                    first_traced(p, grad, state, group, s, t)
                    continue
                if update is not None:  # a branch went another way: trace again next
                    retraces[p] = retraces.get(p, 0) + 1
                    traced[p] = False if retraces[p] <= _RETRACES else None
                planned(p, grad, state, group, s, t)
        return fast

    # Once every parameter takes its traced update, the traces are combined into one
    # function (optimizer_trace.combine): the group's reads and checks made once, no
    # loop, no call per parameter. It is a rewrite of traces each already checked
    # against the planned update on first use, so it is not checked again: that would
    # copy the whole model and its state at once, above an eager step's peak memory.
    whole = {"run": None, "dropped": 0}

    def step():
        run = whole["run"]
        if run is not None:
            if run(opt.param_groups, opt.state):
                return
            whole["run"] = None  # something changed: parameter by parameter, then rebuild
            whole["dropped"] += 1
        if each() and whole["dropped"] <= _RETRACES:
            whole["run"] = _combined(opt, traced, scratch)

    step.traced = traced  # {parameter: update, or None where it is planned}, for tests
    step.whole = whole  # whole["run"]: the combined update in use, for tests
    step.rebuild = lambda flat=True: whole.update(run=_combined(opt, traced, scratch, flat))
    return step


def _combined(opt, traced, scratch, flat=True):
    """``run(groups, state_of) -> bool``: every parameter's traced update in one call,
    after checking that the groups hold the same parameters, each with a gradient and
    the state its trace expects; False (nothing done) where anything differs.
    ``flat=False`` keeps every call per parameter (for bench/compile_stages.py)."""
    groups = [list(g["params"]) for g in opt.param_groups]
    flats = _flat_groups(opt, groups, scratch) if flat else None
    core = combine([[traced[p] for p in ps] for ps in groups], flats)
    ns = {"core": core, "NO_STATE": _NO_STATE}
    lines = ["def run(groups, state_of):", f"    if len(groups) != {len(groups)}:"]
    lines.append("        return False")
    args, k = [], 0
    for gi, ps in enumerate(groups):
        lines += [f"    grp_{gi} = groups[{gi}]", f"    ps_{gi} = grp_{gi}['params']"]
        lines += [f"    if len(ps_{gi}) != {len(ps)}:", "        return False"]
        args.append(f"grp_{gi}")
        for j, p in enumerate(ps):
            ns[f"p_{k}"] = p
            ns[f"S_{k}"], ns[f"T_{k}"] = scratch[p]
            missing = "return False" if traced[p].writes_state else f"st_{k} = NO_STATE"
            lines += [
                f"    if ps_{gi}[{j}] is not p_{k}:",
                "        return False",
                f"    g_{k} = p_{k}.grad",
                f"    if g_{k} is None:",
                "        return False",
                f"    st_{k} = state_of.get(p_{k})",
                f"    if st_{k} is None:",
                f"        {missing}",
            ]
            args += [f"p_{k}.data", f"g_{k}.data", f"st_{k}", f"S_{k}", f"T_{k}"]
            k += 1
    lines.append(f"    return core({', '.join(args)})")
    source = "\n".join(lines) + "\n"
    exec(compile(source, "<cr.compile optimizer step>", "exec"), ns)
    run = ns["run"]
    run.core, run.source = core, source
    return run


def _flat_groups(opt, groups, scratch):
    """Per param group, its arrays laid end to end (a :class:`FlatGroup`), or None for a
    group of mixed dtypes; all None when a parameter is listed twice (the optimizer
    refuses that, but its groups' lists can be edited in place).

    The scratch of all parameters of a dtype becomes views of the optimizer's own
    scratch pair (``opt._buffers``, which its eager steps reuse), grown to their total
    size; each state array shaped and typed like its parameter is moved into one buffer
    per state key and group, the state then holding a view of it. The values are
    unchanged; only the state's arrays are new objects (the combined update checks
    that they are still these, and hands over when a state is loaded or replaced)."""
    every = [p for ps in groups for p in ps]
    if len(set(map(id, every))) != len(every):
        return [None] * len(groups)
    by_dtype: dict = {}
    for p in every:
        by_dtype.setdefault(p.data.dtype, []).append(p)
    at = {}  # parameter -> (offset, its dtype's scratch pair)
    for dtype, ps in by_dtype.items():
        pair, o = opt._buffers(0, np, dtype, sum(p.data.size for p in ps)), 0
        for p in ps:
            at[p] = o, pair
            scratch[p] = tuple(a[o : o + p.data.size].reshape(p.data.shape) for a in pair)
            o += p.data.size
    flats = []
    for ps in groups:
        if len({p.data.dtype for p in ps}) != 1:
            flats.append(None)
            continue
        dtype, (o, (s, t)), n = ps[0].data.dtype, at[ps[0]], sum(p.data.size for p in ps)
        arrays = {"S": s[o : o + n], "T": t[o : o + n]}
        states = [opt.state.get(p, {}) for p in ps]
        views = [{} for _ in ps]
        for key in list(states[0]):
            alike = (
                type(st.get(key)) is np.ndarray
                and st[key].shape == p.data.shape
                and st[key].dtype == dtype
                for p, st in zip(ps, states)
            )
            if not all(alike):
                continue
            arrays[key], o = np.empty(n, dtype), 0
            for p, st, view in zip(ps, states, views):
                view[key] = arrays[key][o : o + p.data.size].reshape(p.data.shape)
                view[key][...] = st[key]
                st[key] = view[key]
                o += p.data.size
        flats.append(FlatGroup(arrays, views))
    return flats


def _equal(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            type(a) is type(b)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and a.tobytes() == b.tobytes()
        )
    return type(a) is type(b) and (a == b or (a != a and b != b))


def _same_state(a, b):
    return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
