"""The traced optimizer updates of a replay (compile/optimizer_trace.py): the same bits as
``opt.step()`` for every optimizer and option, read live, retraced when a branch changes,
and refused (the plain kernel call kept) when a kernel does array work outside ``xp``."""

import copy

import numpy as np
import pytest
from compile_harness import assert_same, batches, classifier
from hypothesis import given, settings
from hypothesis import strategies as st
from test_compile_equality import OPTIMIZERS

import chainrule as cr
from chainrule.compile.optimizer_step import fast_step
from chainrule.compile.optimizer_trace import Untraceable, trace
from chainrule.optim import SGD, Adagrad, Adam, AdamW, RMSprop
from chainrule.optim.optimizer import Optimizer


def fast_steps(compiled):
    """The fast optimizer steps inside a compiled step's latest replay."""
    ns = compiled._latest().replay.__globals__
    return [v for v in ns.values() if hasattr(v, "traced")]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_optimizer_replays_traced_updates_with_eagers_bits(name, dtype):
    cr.set_default_dtype(dtype)
    build = classifier(opt=OPTIMIZERS[name], activation="relu")
    compiled = assert_same(build, batches(4, 3, [8] * 6, dtype=dtype), replays_at_least=2)[2]
    (step,) = fast_steps(compiled)
    assert len(step.traced) == 4
    assert all(callable(u) for u in step.traced.values()), "an update fell back to _plan"


def grads_for(params, rng):
    for p in params:
        p.grad = cr.Tensor(rng.standard_normal(p.data.shape).astype(p.data.dtype))


def twins(make, dtype, shapes=((3, 4), (3,)), seed=0):
    rng = np.random.default_rng(seed)
    a = [cr.nn.Parameter(rng.standard_normal(s).astype(dtype)) for s in shapes]
    b = [cr.nn.Parameter(p.data.copy()) for p in a]
    return (a, make(a)), (b, make(b))


def assert_same_state(pa, oa, pb, ob):
    for p, q in zip(pa, pb):
        assert p.data.tobytes() == q.data.tobytes()
        sa, sb = oa.state.get(p, {}), ob.state.get(q, {})
        assert sa.keys() == sb.keys()
        for k in sa:
            x, y = sa[k], sb[k]
            assert type(x) is type(y) and np.asarray(x).tobytes() == np.asarray(y).tobytes(), k


def run_both(pair, steps, seed=1, between=None):
    """Step one twin with ``opt.step()``, the other with the replay's fast step;
    ``between(k, params, opt)`` is called on both twins before step ``k`` (it may edit
    the twin's parameter list in place)."""
    (pa, oa), (pb, ob) = pair
    fast = fast_step(ob)
    rng = np.random.default_rng(seed)
    for k in range(steps):
        if between is not None:
            between(k, pa, oa)
            between(k, pb, ob)
        step_both(pair[0], pair[1], fast, rng)
    return fast


def step_both(a, b, fast, rng, without=()):
    """One step of twins ``a`` and ``b`` on the same random gradients, each in its
    parameter's dtype (none for the parameters at the indices in ``without``):
    ``opt.step()`` on a, the fast step on b, then their parameters and states compared."""
    (pa, oa), (pb, ob) = a, b
    grads = [rng.standard_normal(p.data.shape).astype(p.data.dtype) for p in pa]
    for params in (pa, pb):
        for i, (p, g) in enumerate(zip(params, grads)):
            p.grad = None if i in without else cr.Tensor(g.copy())
    oa.step()
    fast()
    assert_same_state(pa, oa, pb, ob)


OPTIONS = {
    SGD: dict(
        momentum=st.sampled_from([0.0, 0.5, 0.9]),
        dampening=st.sampled_from([0.0, 0.3]),
        weight_decay=st.sampled_from([0.0, 1e-2]),
        decay=st.sampled_from(["coupled", "decoupled", "unscaled"]),
        maximize=st.booleans(),
    ),
    Adam: dict(
        betas=st.sampled_from([(0.9, 0.999), (0.5, 0.9)]),
        weight_decay=st.sampled_from([0.0, 1e-2]),
        amsgrad=st.booleans(),
        maximize=st.booleans(),
    ),
    AdamW: dict(amsgrad=st.booleans(), weight_decay=st.sampled_from([0.0, 0.1])),
    RMSprop: dict(
        momentum=st.sampled_from([0.0, 0.9]),
        centered=st.booleans(),
        weight_decay=st.sampled_from([0.0, 1e-3]),
    ),
    Adagrad: dict(lr_decay=st.sampled_from([0.0, 1e-2]), weight_decay=st.sampled_from([0.0, 0.1])),
}


@st.composite
def optimizers(draw):
    cls = draw(st.sampled_from(sorted(OPTIONS, key=lambda c: c.__name__)))
    kwargs = {k: draw(v) for k, v in OPTIONS[cls].items()}
    kwargs["lr"] = draw(st.sampled_from([1e-3, 0.05, 0.3]))
    return cls, kwargs


@settings(max_examples=40, deadline=None)
@given(
    optimizers(),
    st.sampled_from([np.float32, np.float64]),
    st.lists(st.integers(1, 6), min_size=1, max_size=3),
)
def test_traced_updates_give_the_planned_bits(opt, dtype, dims):
    """Property: for any optimizer, options, dtype and shapes, the fast step (traced after
    the first step, combined into one function after the second) leaves the parameters
    and the whole state bit for bit where ``opt.step()`` does, step after step."""
    cls, kwargs = opt
    shapes = [tuple(dims), (dims[0],)]
    fast = run_both(twins(lambda ps: cls(ps, **kwargs), dtype, shapes), steps=5)
    assert all(callable(u) for u in fast.traced.values())
    assert fast.whole["run"] is not None and fast.whole["dropped"] == 0


def test_options_read_live_and_a_changed_branch_is_traced_again():
    """The learning rate is read at every step (no retrace); switching momentum off, then
    on, changes a branch: that step is planned, the next one traced anew."""

    def between(k, _, opt):
        group = opt.param_groups[0]
        group["lr"] = 0.1 / (k + 1)
        if k == 3:
            group["momentum"] = 0.0
        if k == 6:
            group["momentum"] = 0.9

    pair = twins(lambda ps: SGD(ps, lr=0.1, momentum=0.9), np.float32)
    fast = run_both(pair, steps=9, between=between)
    assert all(callable(u) for u in fast.traced.values())
    # the traces in use are of the momentum path again (momentum != 0 was True)
    assert all("if not (x1 != 0):" in u.source for u in fast.traced.values())


def test_amsgrad_switched_on_midway():
    def between(k, _, opt):
        opt.param_groups[0]["amsgrad"] = k >= 3

    fast = run_both(twins(lambda ps: Adam(ps, lr=0.01), np.float64), steps=7, between=between)
    assert all("np_maximum(" in u.source for u in fast.traced.values())


def test_a_branch_that_keeps_changing_is_given_up():
    def between(k, _, opt):
        opt.param_groups[0]["weight_decay"] = 0.01 * (k % 2)

    pair = twins(lambda ps: SGD(ps, lr=0.1, momentum=0.5), np.float32)
    fast = run_both(pair, steps=12, between=between)
    assert all(u is None for u in fast.traced.values())


def test_the_trace_changes_nothing():
    (params, opt), _ = twins(lambda ps: Adam(ps, lr=0.01), np.float32)
    grads_for(params, np.random.default_rng(0))
    opt.step()
    before = {p: copy.deepcopy(opt.state[p]) for p in params}
    for p in params:
        trace(opt, opt.state[p], opt.param_groups[0])
        assert opt.state[p]["step"] == before[p]["step"] == 1
        assert opt.state[p]["exp_avg"].tobytes() == before[p]["exp_avg"].tobytes()


def test_a_failed_check_leaves_the_state_as_it_was():
    """Writes (Adam's step counter) come after every check: an update that returns False
    has written nothing."""
    (params, opt), _ = twins(lambda ps: Adam(ps, lr=0.01), np.float32)
    grads_for(params, np.random.default_rng(0))
    opt.step()
    p = params[0]
    update = trace(opt, opt.state[p], opt.param_groups[0])
    opt.param_groups[0]["amsgrad"] = True
    data, state = p.data.copy(), copy.deepcopy(opt.state[p])
    s, t = np.empty_like(data), np.empty_like(data)
    assert update(p.data, p.grad.data, opt.state[p], opt.param_groups[0], s, t) is False
    assert opt.state[p]["step"] == state["step"] and p.data.tobytes() == data.tobytes()


class Operators(Optimizer):
    """A kernel doing its math with array operators, not ``xp`` calls."""

    def __init__(self, params, lr=0.1):
        super().__init__(params, dict(lr=lr))

    def _init_state(self, p, group):
        return {"step": 0}

    def _plan(self, p, state, group):
        state["step"] += 1
        return operators_update, (), dict(lr=group["lr"])


def operators_update(xp, param, grad, s, t, *, lr):
    param -= lr * grad


class Floats(Operators):
    def _plan(self, p, state, group):
        state["step"] += 1
        return operators_update, (), dict(lr=group["lr"] / float(state["step"]))


@pytest.mark.parametrize("cls", [Operators, Floats])
def test_what_cannot_be_traced_keeps_the_plain_call(cls):
    (params, opt), _ = twins(cls, np.float32)
    grads_for(params, np.random.default_rng(0))
    opt.step()
    with pytest.raises(Untraceable):
        trace(opt, opt.state[params[0]], opt.param_groups[0])
    fast = run_both(twins(cls, np.float32), steps=4)
    assert all(u is None for u in fast.traced.values())


def test_the_listing_in_the_docs_is_what_trace_gives():
    """docs/compile.md prints SGD(momentum=0.9)'s traced update: it must be today's."""
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "compile.md").read_text()
    listing = doc.split("<!-- traced-sgd-momentum")[1].split("```python\n")[1].split("```")[0]
    (params, opt), _ = twins(lambda ps: SGD(ps, lr=0.1, momentum=0.9), np.float32)
    grads_for(params, np.random.default_rng(0))
    opt.step()
    assert trace(opt, opt.state[params[0]], opt.param_groups[0]).source == listing


@pytest.mark.parametrize("name", ["sgd-momentum", "adam"])
def test_a_state_dict_loaded_between_replays_is_what_the_update_reads(name):
    """load_state_dict replaces opt.state with a new dict: the replay's update must read
    that one (its momentum buffers, Adam's step counts), as eager's opt.step() does."""
    saved, count = {}, {}

    def after(opt):
        n = count[id(opt)] = count.get(id(opt), 0) + 1
        if n == 2:
            saved[id(opt)] = opt.state_dict()
        if n == 5:
            opt.load_state_dict(saved[id(opt)])

    build = classifier(opt=OPTIMIZERS[name], activation="relu")
    assert_same(build, batches(4, 3, [8] * 8), after_step=after, replays_at_least=3)


class Decaying(SGD):
    """A subclass whose _plan counts on the optimizer itself: a trace would freeze it."""

    calls = 0

    def _plan(self, p, state, group):
        self.calls += 1
        kernel, arrays, scalars = super()._plan(p, state, group)
        scalars["lr"] = group["lr"] * 0.9**self.calls
        return kernel, arrays, scalars


def test_a_subclass_with_its_own_plan_keeps_the_plain_call():
    pair = twins(lambda ps: Decaying(ps, lr=0.1, momentum=0.9), np.float32)
    fast = run_both(pair, steps=5)
    assert all(u is None for u in fast.traced.values())
    assert pair[0][1].calls == pair[1][1].calls == 10  # no extra _plan call for a trace


@pytest.mark.parametrize("name", ["sgd-momentum", "adam", "rmsprop", "adagrad"])
@pytest.mark.parametrize("how", ["cleared", "loaded-empty"])
def test_state_emptied_between_replays_starts_afresh_as_eagerly(name, how):
    """opt.state emptied (cleared, or a fresh optimizer's state_dict loaded): the next
    step makes new state with _init_state, as eager's opt.step() does, and the update is
    traced again on it."""
    count = {}

    def after(opt):
        n = count[id(opt)] = count.get(id(opt), 0) + 1
        if n == 4 and how == "cleared":
            opt.state.clear()
        if n == 4 and how == "loaded-empty":
            opt.load_state_dict(type(opt)(opt.param_groups[0]["params"]).state_dict())

    build = classifier(opt=OPTIMIZERS[name], activation="relu")
    assert_same(build, batches(4, 3, [8] * 9), after_step=after, replays_at_least=4)


def test_a_parameter_swapped_into_a_group_is_updated_as_eagerly():
    """The guards count a group's parameters; one swapped for another of the same count
    is updated by the replay's step as opt.step() updates it."""

    def swap(k, params, opt):
        if k == 2:
            params[0] = cr.nn.Parameter(np.full((5, 2), 0.5, np.float32))
            opt.param_groups[0]["params"][0] = params[0]

    pair = twins(lambda ps: SGD(ps, lr=0.1, momentum=0.9), np.float32)
    run_both(pair, steps=5, seed=3, between=swap)


# ---------------------------------------------------------------- the combined update
DEFAULTS = {
    "sgd": lambda ps: SGD(ps, lr=0.1),
    "sgd-momentum": lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-2),
    "adam": lambda ps: Adam(ps, lr=0.01),
    "adamw-amsgrad": lambda ps: AdamW(ps, lr=0.01, amsgrad=True),
    "rmsprop": lambda ps: RMSprop(ps, lr=0.01, momentum=0.9, centered=True),
    "adagrad": lambda ps: Adagrad(ps, lr=0.1, lr_decay=1e-2),
}


@pytest.mark.parametrize("name", sorted(DEFAULTS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_combined_update_is_used_and_gives_the_planned_bits(name, dtype):
    """Once every parameter is traced, one combined function makes the whole step (the
    group's reads and checks once); its steps leave everything where opt.step() does."""
    fast = run_both(twins(DEFAULTS[name], dtype, ((3, 4), (3,), (2, 3))), steps=6)
    run = fast.whole["run"]
    assert run is not None and fast.whole["dropped"] == 0
    assert run.core.source.count("grp_0['lr']") == 1  # read once for three parameters


def groups_of(make_group):
    def make(ps):
        return make_group([{"params": ps[:2], "lr": 0.2}, {"params": ps[2:], "lr": 0.01}])

    return make


@pytest.mark.parametrize(
    "make",
    [
        groups_of(lambda g: SGD(g, lr=0.1, momentum=0.9)),
        groups_of(lambda g: SGD([g[0], {**g[1], "momentum": 0.5, "nesterov": True}], lr=0.1)),
        groups_of(lambda g: Adam([g[0], {**g[1], "betas": (0.5, 0.9)}], lr=0.1)),
    ],
    ids=["sgd", "sgd-other-options", "adam-other-betas"],
)
def test_each_group_reads_its_own_options_in_the_combined_update(make):
    """Two groups with different options: each group's reads are made once, from it."""
    fast = run_both(twins(make, np.float32, ((3, 4), (3,), (4, 2), (4,))), steps=6)
    source = fast.whole["run"].core.source
    assert source.count("grp_0['lr']") == 1 and source.count("grp_1['lr']") == 1


def test_per_parameter_state_stays_per_parameter():
    """Adam with one parameter left without a gradient for its first two steps: its step
    count lags the others' for good, so a combined update that shared a state read
    across the group would give other bits."""
    (pa, oa), (pb, ob) = twins(lambda ps: Adam(ps, lr=0.05), np.float64, ((3, 4), (3,)))
    fast = fast_step(ob)
    rng = np.random.default_rng(5)
    for k in range(7):
        step_both((pa, oa), (pb, ob), fast, rng, without=(1,) if k < 2 else ())
    assert fast.whole["run"] is not None
    assert [ob.state[p]["step"] for p in pb] == [7, 5]
    # the bias corrections are each parameter's own: one call over the group only when
    # they are the same scalar, which they are not here
    assert "x21_1 == x21_0:\n        np_add(T_f0, x21_0, T_f0)\n    else:" in (
        fast.whole["run"].core.source
    )


def test_a_failed_check_in_the_combined_update_changes_nothing():
    pair = twins(lambda ps: Adam(ps, lr=0.01), np.float32)
    fast = run_both(pair, steps=4)
    (params, opt) = pair[1]
    run = fast.whole["run"]
    opt.param_groups[0]["amsgrad"] = True
    before = [(p.data.copy(), copy.deepcopy(opt.state[p])) for p in params]
    assert run(opt.param_groups, opt.state) is False
    for p, (data, state) in zip(params, before):
        assert p.data.tobytes() == data.tobytes() and opt.state[p]["step"] == state["step"]
    # and the steps after it go parameter by parameter, then combine again: as eagerly
    (pa, oa), _ = pair
    oa.param_groups[0]["amsgrad"] = True
    rng = np.random.default_rng(9)
    for _ in range(4):
        step_both((pa, oa), (params, opt), fast, rng)
    assert fast.whole["dropped"] == 1 and "np_maximum(" in fast.whole["run"].core.source


@pytest.mark.parametrize("change", ["grad-missing", "param-swapped", "group-added"])
def test_the_combined_update_hands_over_when_the_parameters_change(change):
    """A parameter without a gradient, a parameter swapped in, a group added: the
    combined update does nothing and the step goes parameter by parameter, as eagerly."""
    (pa, oa), (pb, ob) = twins(lambda ps: SGD(ps, lr=0.1, momentum=0.9), np.float32)
    fast = fast_step(ob)
    rng = np.random.default_rng(4)
    extra = {}
    for k in range(6):
        if k == 3:
            for name, (params, opt) in (("a", (pa, oa)), ("b", (pb, ob))):
                if change == "param-swapped":
                    params[0] = cr.nn.Parameter(np.full((3, 4), 0.5, np.float32))
                    opt.param_groups[0]["params"][0] = params[0]
                if change == "group-added":
                    extra[name] = cr.nn.Parameter(np.ones((2,), np.float32))
                    opt.add_param_group({"params": [extra[name]], "lr": 0.3})
        for x in extra.values():
            x.grad = cr.Tensor(np.full((2,), 0.25, np.float32))
        missing = (0,) if change == "grad-missing" and k == 3 else ()
        step_both((pa, oa), (pb, ob), fast, rng, without=missing)
        if extra:
            assert extra["a"].data.tobytes() == extra["b"].data.tobytes()
    assert fast.whole["dropped"] == 1 and fast.whole["run"] is not None


def test_the_combined_listing_in_the_docs_is_what_combine_gives():
    """docs/compile.md prints SGD(momentum=0.9)'s combined update for a weight and a
    bias: it must be today's."""
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "compile.md").read_text()
    listing = doc.split("<!-- combined-sgd-momentum")[1].split("```python\n")[1].split("```")[0]
    fast = run_both(twins(lambda ps: SGD(ps, lr=0.1, momentum=0.9), np.float32), steps=3)
    assert fast.whole["run"].core.source == listing


# ---------------------------------------------------------------- one call over the group
def test_a_statement_on_state_alone_is_one_call_over_the_group():
    """SGD(momentum)'s ``v ← μv`` and ``t ← αv`` touch only the state and the scratch:
    the combined update makes each once over the group's buffers, which the states'
    arrays are now views of, and still gives opt.step()'s bits."""
    shapes = ((3, 4), (3,), (2, 3))
    pair = twins(lambda ps: SGD(ps, lr=0.1, momentum=0.9), np.float32, shapes)
    fast = run_both(pair, steps=6)
    source = fast.whole["run"].core.source
    assert source.count("np_multiply(a2_f0, x1_g0, a2_f0)") == 1
    assert source.count("np_multiply(a2_f0, x3_g0, T_f0)") == 1
    assert source.count("np_add(a2_") == 3  # v ← v + g: one per parameter (g is theirs)
    params, opt = pair[1]
    buffers = [opt.state[p]["momentum_buffer"] for p in params]
    assert all(b.base is buffers[0].base and b.base.size == 12 + 3 + 6 for b in buffers)
    offsets = [b.__array_interface__["data"][0] - buffers[0].base.ctypes.data for b in buffers]
    assert offsets == [0, 12 * 4, 15 * 4]


@pytest.mark.parametrize("change", ["state-replaced", "state-loaded", "option-an-array"])
def test_the_group_call_hands_over_when_its_buffers_or_options_change(change):
    """A state array replaced (by a copy), the state loaded from a state_dict, a group
    option made a 0-d array (which a call over the group would broadcast as it would not
    per parameter if it had a shape): the combined update does nothing and the step goes
    parameter by parameter with opt.step()'s bits; the update is combined again (for the
    option, each time in vain, until it is given up)."""

    def make_change(k, params, opt):
        if k != 4:
            return
        if change == "state-replaced":
            st_ = opt.state[params[1]]
            st_["exp_avg"] = st_["exp_avg"].copy()
        if change == "state-loaded":
            opt.load_state_dict(copy.deepcopy(opt.state_dict()))
        if change == "option-an-array":
            opt.param_groups[0]["betas"] = (0.9, np.asarray(0.999))

    pair = twins(lambda ps: Adam(ps, lr=0.01), np.float64, ((3, 4), (3,)))
    fast = run_both(pair, steps=8, seed=6, between=make_change)
    if change == "option-an-array":  # every rebuild hands over again: given up for good
        assert fast.whole["dropped"] > 3 and fast.whole["run"] is None
    else:
        assert fast.whole["dropped"] == 1 and "a12_f0" in fast.whole["run"].core.source


def test_a_group_of_two_dtypes_keeps_its_calls_per_parameter():
    """A group holding a float32 and a float64 parameter has no one buffer: its calls
    stay per parameter, with opt.step()'s bits."""

    def pair_of_dtypes():
        rng = np.random.default_rng(2)
        a = [
            cr.nn.Parameter(rng.standard_normal((3, 4)).astype(np.float32)),
            cr.nn.Parameter(rng.standard_normal(3).astype(np.float64)),
        ]
        b = [cr.nn.Parameter(p.data.copy()) for p in a]
        return (a, SGD(a, lr=0.1, momentum=0.9)), (b, SGD(b, lr=0.1, momentum=0.9))

    fast = run_both(pair_of_dtypes(), steps=5, seed=8)
    source = fast.whole["run"].core.source
    assert "_f0" not in source and source.count("np_multiply(a2_") == 4


def test_a_parameter_listed_twice_keeps_the_calls_per_parameter():
    """A group list edited in place to hold one parameter twice (the optimizer refuses
    that when a group is added): nothing is joined, and the steps give opt.step()'s bits."""

    def list_twice(k, params, opt):
        if k == 2:
            opt.param_groups[0]["params"].append(params[0])

    pair = twins(lambda ps: SGD(ps, lr=0.1, momentum=0.9), np.float32)
    fast = run_both(pair, steps=6, seed=11, between=list_twice)
    assert fast.whole["run"] is not None and "_f0" not in fast.whole["run"].core.source


@settings(max_examples=30, deadline=None)
@given(
    optimizers(),
    st.lists(st.sampled_from([np.float32, np.float64]), min_size=2, max_size=5),
    st.integers(1, 3),
    st.sets(st.tuples(st.integers(1, 6), st.integers(0, 4)), max_size=2),
)
def test_group_calls_give_the_planned_bits(opt, dtypes, n_groups, missing):
    """Property: with the parameters of any dtypes split into up to three groups (each
    with its own learning rate), and a gradient missing at up to two (step, parameter)
    places (so that Adam's and Adagrad's step counts drift apart for good), the fast
    step's group calls leave parameters and state bit for bit where ``opt.step()`` does,
    step after step; the combined update is in use again after each gap."""
    cls, kwargs = opt
    rng = np.random.default_rng(len(dtypes) * 10 + n_groups)

    def make_params():
        gen = np.random.default_rng(0)
        return [
            cr.nn.Parameter(gen.standard_normal((k + 2, 3)).astype(dt))
            for k, dt in enumerate(dtypes)
        ]

    def make(ps):
        cut = [ps[g::n_groups] for g in range(n_groups)]
        groups = [{"params": c, "lr": kwargs["lr"] * (g + 1)} for g, c in enumerate(cut) if c]
        return cls(groups, **kwargs)

    pa, pb = make_params(), make_params()
    oa, ob = make(pa), make(pb)
    fast = fast_step(ob)
    for k in range(8):
        step_both((pa, oa), (pb, ob), fast, rng, without={i for j, i in missing if j == k})
    assert fast.whole["run"] is not None and fast.whole["dropped"] <= len(missing)


def test_adams_update_makes_nine_calls_over_the_group_and_three_per_parameter():
    """docs/compile.md's count for Adam: 7 calls over the group, 2 more under the `if`
    of the bias corrections (agreeing step counts), and 3 per parameter (those reading
    the gradient or writing the parameter), where it made 12 per parameter."""
    shapes = ((3, 4), (3,), (2, 3))
    fast = run_both(twins(lambda ps: Adam(ps, lr=0.01), np.float32, shapes), steps=6)
    source = fast.whole["run"].core.source
    calls = [ln.strip() for ln in source.splitlines() if ln.startswith("    np_")]
    branched = [ln.strip() for ln in source.splitlines() if ln.startswith("        np_")]
    assert sum("_f0" in c for c in calls) == 7 and len(calls) == 7 + 3 * len(shapes)
    assert sum("_f0" in c for c in branched) == 2  # each if's one call over the group
