"""LR schedules: every scheduler's sequence against torch's, and the pure functions."""

import functools
import json
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.optim import lr_scheduler as ls
from chainrule.optim import schedules

torch = pytest.importorskip("torch")
tls = torch.optim.lr_scheduler

STEPS = 60


def two_group_optimizers(ours_cls=optim.SGD, torch_cls=None, **kwargs):
    """Our optimizer and torch's over two param groups with different lrs."""
    torch_cls = torch_cls or getattr(torch.optim, ours_cls.__name__)
    ours = [cr.nn.Parameter(np.zeros(2)), cr.nn.Parameter(np.zeros(3))]
    theirs = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]

    def groups(ps):
        return [{"params": [ps[0]], "lr": 0.1}, {"params": [ps[1]], "lr": 0.03}]

    return ours_cls(groups(ours), **kwargs), torch_cls(groups(theirs), **kwargs)


def lr_sequence(opt, sched, steps=STEPS, extra=None):
    """lrs of every group at construction and after each of ``steps`` scheduler steps."""
    seq = [[g["lr"] for g in opt.param_groups]]
    assert list(sched.get_last_lr()) == seq[0]
    if extra:
        seq[0] += extra(opt)
    for _ in range(steps):
        opt.step()
        sched.step()
        seq.append([g["lr"] for g in opt.param_groups])
        assert list(sched.get_last_lr()) == seq[-1]
        if extra:
            seq[-1] += extra(opt)
    return np.array(seq, dtype=float)


def assert_sequences_equal(a, b, rtol=1e-12):
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-15)


CASES = [
    ("StepLR", dict(step_size=7, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[5, 12, 12, 30], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.93)),
    ("CosineAnnealingLR", dict(T_max=20, eta_min=0.001)),  # 60 steps: past T_max, twice
    ("CosineAnnealingLR", dict(T_max=50)),
    ("LinearLR", dict(start_factor=0.1, end_factor=1.0, total_iters=10)),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.05, total_iters=30)),
    ("ConstantLR", dict(factor=0.5, total_iters=4)),
    ("PolynomialLR", dict(total_iters=30, power=2.0)),
    ("OneCycleLR", dict(max_lr=[0.5, 1.0], total_steps=STEPS)),
    ("OneCycleLR", dict(max_lr=0.4, total_steps=STEPS, three_phase=True, pct_start=0.25)),
    ("OneCycleLR", dict(max_lr=0.4, epochs=6, steps_per_epoch=10, anneal_strategy="linear")),
    ("OneCycleLR", dict(max_lr=0.4, total_steps=STEPS, cycle_momentum=False)),
]


@pytest.mark.parametrize("name, kwargs", CASES, ids=lambda x: str(x))
def test_scheduler_matches_torch(name, kwargs):
    opt, topt = two_group_optimizers(momentum=0.9)
    sched, tsched = getattr(ls, name)(opt, **kwargs), getattr(tls, name)(topt, **kwargs)

    def momentum(o):
        return [g["momentum"] for g in o.param_groups]

    ours = lr_sequence(opt, sched, extra=momentum)
    theirs = lr_sequence(topt, tsched, extra=momentum)
    assert len(np.unique(ours[:, 0])) >= 2  # the schedule really moves
    assert_sequences_equal(ours, theirs)


def test_one_cycle_cycles_adam_beta1_like_torch():
    opt, topt = two_group_optimizers(optim.Adam, betas=(0.9, 0.99))
    kwargs = dict(max_lr=0.01, total_steps=STEPS)
    sched, tsched = ls.OneCycleLR(opt, **kwargs), tls.OneCycleLR(topt, **kwargs)

    def betas(o):
        return [b for g in o.param_groups for b in g["betas"]]

    assert_sequences_equal(
        lr_sequence(opt, sched, extra=betas), lr_sequence(topt, tsched, extra=betas)
    )


def test_one_cycle_refuses_to_step_past_total_steps():
    opt, _ = two_group_optimizers()
    sched = ls.OneCycleLR(opt, max_lr=0.1, total_steps=5, cycle_momentum=False)
    for _ in range(5):
        sched.step()
    with pytest.raises(ValueError, match="total_steps is 5"):
        sched.step()


def test_one_cycle_needs_momentum_to_cycle():
    opt, _ = two_group_optimizers(optim.Adagrad)
    with pytest.raises(ValueError, match="cycle_momentum=False"):
        ls.OneCycleLR(opt, max_lr=0.1, total_steps=10)


@pytest.mark.parametrize("per_group", [False, True])
def test_lambda_lr_matches_torch(per_group):
    opt, topt = two_group_optimizers()
    fns = [lambda e: 0.95**e, lambda e: 1 / (1 + e)] if per_group else (lambda e: 0.95**e)
    ours = lr_sequence(opt, ls.LambdaLR(opt, fns))
    theirs = lr_sequence(topt, tls.LambdaLR(topt, fns))
    assert_sequences_equal(ours, theirs)


def test_sequential_warmup_then_cosine_matches_torch():
    opt, topt = two_group_optimizers()

    def build(mod, o):
        warm = mod.LinearLR(o, start_factor=0.01, total_iters=8)
        cos = mod.CosineAnnealingLR(o, T_max=STEPS - 8, eta_min=1e-4)
        return mod.SequentialLR(o, [warm, cos], milestones=[8])

    assert_sequences_equal(lr_sequence(opt, build(ls, opt)), lr_sequence(topt, build(tls, topt)))


def test_sequential_three_phases_matches_torch():
    opt, topt = two_group_optimizers()

    def build(mod, o):
        scheds = [
            mod.ConstantLR(o, factor=0.25, total_iters=5),
            mod.ExponentialLR(o, gamma=0.9),
            mod.StepLR(o, step_size=4, gamma=0.5),
        ]
        return mod.SequentialLR(o, scheds, milestones=[10, 30])

    assert_sequences_equal(lr_sequence(opt, build(ls, opt)), lr_sequence(topt, build(tls, topt)))


def test_two_schedulers_on_one_optimizer_compose_like_torch():
    """Chainable: warmup and exponential decay stepping together multiply."""
    opt, topt = two_group_optimizers()
    runs = []
    for mod, o in ((ls, opt), (tls, topt)):
        a = mod.LinearLR(o, start_factor=0.2, total_iters=10)
        b = mod.ExponentialLR(o, gamma=0.97)
        seq = []
        for _ in range(STEPS):
            o.step()
            a.step()
            b.step()
            seq.append([g["lr"] for g in o.param_groups])
        runs.append(np.array(seq))
    assert_sequences_equal(*runs)
    # ... and differs from either alone
    assert not np.allclose(runs[0][:, 0], 0.1 * 0.97 ** np.arange(1, STEPS + 1))


def test_chained_scheduler_matches_torch():
    opt, topt = two_group_optimizers()
    seqs = []
    for mod, o in ((ls, opt), (tls, topt)):
        chain = mod.ChainedScheduler(
            [mod.ConstantLR(o, factor=0.5, total_iters=6), mod.ExponentialLR(o, gamma=0.95)]
        )
        seqs.append(lr_sequence(o, chain))
    assert_sequences_equal(*seqs)


def test_cosine_annealing_recursive_form_reacts_to_manual_lr_change_like_torch():
    """torch's cosine is recursive, not closed-form: an lr edited mid-run carries on."""
    opt, topt = two_group_optimizers()
    runs = []
    for mod, o in ((ls, opt), (tls, topt)):
        s = mod.CosineAnnealingLR(o, T_max=30)
        seq = []
        for i in range(STEPS):
            if i == 10:
                o.param_groups[0]["lr"] *= 0.5
            o.step()
            s.step()
            seq.append(o.param_groups[0]["lr"])
        runs.append(np.array(seq))
    assert_sequences_equal(*runs)
    closed = [schedules.cosine(t, lr=0.1, total_steps=30) for t in range(1, 21)]
    assert not np.allclose(runs[0][:20], closed)


# --- ReduceLROnPlateau -------------------------------------------------------------------

METRICS = [1.0, 0.9, 0.9, 0.95, 0.91, 0.899, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8]
METRICS = METRICS + [0.8 - 1e-6 * i for i in range(20)] + [0.5, 0.6, 0.7, 0.8, 0.9] * 4


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(patience=2),
        dict(patience=1, factor=0.5, cooldown=3),
        dict(patience=0, factor=0.5, min_lr=0.01),
        dict(patience=0, factor=0.5, min_lr=[0.05, 0.001]),
        dict(patience=1, threshold=0.05, threshold_mode="rel"),
        dict(patience=1, threshold=0.05, threshold_mode="abs"),
        dict(mode="max", patience=1),
        dict(mode="max", patience=1, threshold=0.1, threshold_mode="abs", cooldown=2),
        dict(patience=0, factor=0.9, eps=0.005),
    ],
    ids=str,
)
def test_reduce_on_plateau_matches_torch(kwargs):
    opt, topt = two_group_optimizers()
    sched = ls.ReduceLROnPlateau(opt, **kwargs)
    tsched = tls.ReduceLROnPlateau(topt, **kwargs)
    ours, theirs = [], []
    for m in METRICS:
        opt.step()
        topt.step()
        sched.step(m)
        tsched.step(m)
        ours.append(
            sched.get_last_lr() + [sched.num_bad_epochs, sched.cooldown_counter, sched.best]
        )
        theirs.append(
            tsched.get_last_lr() + [tsched.num_bad_epochs, tsched.cooldown_counter, tsched.best]
        )
    ours, theirs = np.array(ours), np.array(theirs)
    assert len(np.unique(ours[:, 0])) > 1 or kwargs.get("mode") == "max"
    assert_sequences_equal(ours, theirs)


def test_reduce_on_plateau_reduces_after_patience_then_cools_down():
    opt, _ = two_group_optimizers()
    sched = ls.ReduceLROnPlateau(opt, patience=2, factor=0.5, cooldown=2)
    lrs = []
    for m in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]:
        sched.step(m)
        lrs.append(sched.get_last_lr()[0])
    # bad epochs 1, 2, 3 > patience at step 4 -> halve; 2 cooldown steps; then 3 more bad
    assert lrs == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.025]


# --- pure functions ------------------------------------------------------------------------


def closed_form_pairs():
    T = STEPS
    return [
        (dict(name="StepLR", step_size=7, gamma=0.5), functools.partial(schedules.step_decay, step_size=7, gamma=0.5)),
        (dict(name="MultiStepLR", milestones=[5, 12, 12, 30], gamma=0.3), functools.partial(schedules.multistep, milestones=[5, 12, 12, 30], gamma=0.3)),
        (dict(name="ExponentialLR", gamma=0.93), functools.partial(schedules.exponential, gamma=0.93)),
        (dict(name="LinearLR", start_factor=0.1, total_iters=10), functools.partial(schedules.linear, start_factor=0.1, total_iters=10)),
        (dict(name="CosineAnnealingLR", T_max=T, eta_min=0.002), functools.partial(schedules.cosine, total_steps=T, min_lr=0.002)),
    ]  # fmt: skip


@pytest.mark.parametrize("spec, fn", closed_form_pairs(), ids=lambda x: str(x)[:40])
def test_pure_function_is_the_closed_form_of_the_class(spec, fn):
    spec = dict(spec)
    _, topt = two_group_optimizers()
    name = spec.pop("name")
    theirs = lr_sequence(topt, getattr(tls, name)(topt, **spec))
    pure = np.array([[fn(t, lr=0.1), fn(t, lr=0.03)] for t in range(STEPS + 1)])
    assert_sequences_equal(pure, theirs)


def test_cosine_with_warmup_equals_torch_linear_then_cosine():
    """nanoGPT's get_lr = SequentialLR(LinearLR((t+1)/(w+1)), CosineAnnealingLR)."""
    w, total, lr, min_lr = 6, STEPS, 0.1, 0.004
    _, topt = two_group_optimizers()
    warm = tls.LinearLR(topt, start_factor=1 / (w + 1), end_factor=w / (w + 1), total_iters=w - 1)
    cos = tls.CosineAnnealingLR(topt, T_max=total - w, eta_min=min_lr)
    theirs = lr_sequence(topt, tls.SequentialLR(topt, [warm, cos], milestones=[w]))[:, 0]
    pure = [
        schedules.cosine(t, lr=lr, total_steps=total, warmup_steps=w, min_lr=min_lr)
        for t in range(STEPS + 1)
    ]
    assert_sequences_equal(np.array(pure), theirs)
    assert pure[0] == pytest.approx(lr / (w + 1))
    assert pure[w] == lr and pure[total] == min_lr
    assert schedules.cosine(total + 5, lr=lr, total_steps=total, min_lr=min_lr) == min_lr


def test_one_cycle_pure_function_matches_torch():
    _, topt = two_group_optimizers()
    kwargs = dict(total_steps=STEPS, pct_start=0.2, three_phase=True, anneal_strategy="linear")
    theirs = lr_sequence(topt, tls.OneCycleLR(topt, max_lr=0.5, **kwargs))[:, 0]
    pure = [schedules.one_cycle(t, max_lr=0.5, **kwargs) for t in range(STEPS + 1)]
    assert_sequences_equal(np.array(pure), theirs)


def test_constant_is_constant_and_lambda_lr_accepts_pure_functions():
    assert [schedules.constant(t, lr=0.3) for t in (0, 5, 100)] == [0.3, 0.3, 0.3]
    opt, _ = two_group_optimizers()
    sched = ls.LambdaLR(opt, functools.partial(schedules.cosine, total_steps=20, warmup_steps=4))
    seq = lr_sequence(opt, sched, steps=25)[:, 0]
    expected = [0.1 * schedules.cosine(t, total_steps=20, warmup_steps=4) for t in range(26)]
    np.testing.assert_allclose(seq, expected, rtol=1e-15)
    assert seq.max() == pytest.approx(0.1) and seq[-1] == 0.0


# --- state_dict ------------------------------------------------------------------------------


def build_warm_cosine(o):
    warm = ls.LinearLR(o, start_factor=0.1, total_iters=5)
    cos = ls.CosineAnnealingLR(o, T_max=40, eta_min=1e-3)
    return ls.SequentialLR(o, [warm, cos], milestones=[5])


@pytest.mark.parametrize(
    "build",
    [
        lambda o: ls.StepLR(o, step_size=4, gamma=0.7),
        lambda o: ls.MultiStepLR(o, milestones=[3, 9, 9, 20]),
        lambda o: ls.CosineAnnealingLR(o, T_max=15),
        lambda o: ls.OneCycleLR(o, max_lr=0.5, total_steps=50),
        build_warm_cosine,
        lambda o: ls.LambdaLR(o, lambda e: 1 / (1 + e)),
    ],
    ids=["step", "multistep", "cosine", "onecycle", "sequential", "lambda"],
)
def test_scheduler_state_dict_resumes_exactly_through_json(build):
    opt, _ = two_group_optimizers(momentum=0.9)
    sched = build(opt)
    full = lr_sequence(opt, sched, steps=40)

    opt1, _ = two_group_optimizers(momentum=0.9)
    sched1 = build(opt1)
    first = lr_sequence(opt1, sched1, steps=20)
    opt_state = json.loads(json.dumps(opt1.state_dict()))  # no arrays: SGD without grads
    sched_state = json.loads(json.dumps(sched1.state_dict()))

    opt2, _ = two_group_optimizers(momentum=0.9)
    sched2 = build(opt2)
    opt2.load_state_dict(opt_state)
    sched2.load_state_dict(sched_state)
    rest = lr_sequence(opt2, sched2, steps=20)
    np.testing.assert_array_equal(np.vstack([first, rest[1:]]), full)


def test_scheduler_resume_with_last_epoch_needs_initial_lr():
    opt, _ = two_group_optimizers()
    with pytest.raises(KeyError, match="initial_lr"):
        ls.StepLR(opt, step_size=3, last_epoch=5)


def test_scheduler_rejects_non_optimizer():
    with pytest.raises(TypeError, match="not an Optimizer"):
        ls.StepLR(object(), step_size=3)
    assert math.isclose(schedules.exponential(3, lr=2.0, gamma=0.5), 0.25)
