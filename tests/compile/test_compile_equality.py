"""Compiled and eager training give the same bits: losses, parameters, gradients and
optimizer state, over every optimizer and decay style, activation, dropout, penalty,
clipping and schedule, in float32 and float64, including a last smaller batch."""

import functools

import numpy as np
import pytest
from compile_harness import assert_same, batches, classifier

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.optim import SGD, Adagrad, Adam, AdamW, RMSprop, lr_scheduler

# 4 full batches, then the epoch's last, smaller batch (a second signature), then more
SIZES = [8, 8, 8, 8, 5, 8, 5, 8, 5]

OPTIMIZERS = {
    "sgd": lambda p: SGD(p, lr=0.1),
    "sgd-momentum": lambda p: SGD(p, lr=0.1, momentum=0.9),
    "sgd-nesterov": lambda p: SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "sgd-dampening": lambda p: SGD(p, lr=0.05, momentum=0.5, dampening=0.3),
    "sgd-coupled": lambda p: SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2),
    "sgd-decoupled": lambda p: SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2, decay="decoupled"),
    "sgd-unscaled": lambda p: SGD(p, lr=0.1, weight_decay=1e-3, decay="lecture"),
    "sgd-maximize": lambda p: SGD(p, lr=0.01, momentum=0.9, maximize=True),
    "adam": lambda p: Adam(p, lr=1e-2),
    "adam-coupled-amsgrad": lambda p: Adam(p, lr=1e-2, weight_decay=1e-2, amsgrad=True),
    "adamw": lambda p: AdamW(p, lr=1e-2),
    "rmsprop": lambda p: RMSprop(p, lr=1e-2),
    "rmsprop-centered-momentum": lambda p: RMSprop(
        p, lr=1e-2, centered=True, momentum=0.9, weight_decay=1e-3
    ),
    "adagrad": lambda p: Adagrad(p, lr=0.1, lr_decay=1e-2, weight_decay=1e-3),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_optimizer(name, dtype):
    cr.set_default_dtype(dtype)
    build = classifier(opt=OPTIMIZERS[name], activation="relu")
    assert_same(build, batches(4, 3, SIZES, dtype=dtype))


@pytest.mark.parametrize(
    "activation",
    ["relu", "leaky_relu", "tanh", "sigmoid", "elu", "gelu", "gelu_tanh", "identity"],
)
def test_every_activation(activation):
    build = classifier(sizes=(4, 7, 5, 3), activation=activation, opt=OPTIMIZERS["adam"])
    assert_same(build, batches(4, 3, SIZES))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_draws_the_same_masks_in_the_same_order(dtype):
    cr.set_default_dtype(dtype)
    build = classifier(
        sizes=(4, 9, 9, 3), activation="relu", dropout=0.3, opt=OPTIMIZERS["sgd-momentum"]
    )
    assert_same(build, batches(4, 3, SIZES, dtype=dtype))


def test_random_draws_inside_the_step_keep_their_order():
    """randn noise on the input and dropout both draw from the one generator."""

    def build():
        model = nn.MLP([4, 8, 3], activation="relu", dropout=0.25)
        opt = SGD(model.parameters(), lr=0.1)

        def step(x, y):
            noise = cr.randn(*x.shape) * 0.1
            loss = F.cross_entropy(model(cr.as_tensor(x) + noise), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        return model, opt, step

    assert_same(build, batches(4, 3, SIZES))


@pytest.mark.parametrize(
    "penalty",
    [
        lambda m: nn.l2_penalty(m, 1e-2),
        lambda m: nn.l1_penalty(m, 1e-3),
        lambda m: nn.l2_penalty(m, 1e-2, include_bias=True) + nn.l1_penalty(m, 1e-3),
    ],
    ids=["l2", "l1", "l1+l2"],
)
def test_penalties(penalty):
    build = classifier(penalty=penalty, opt=OPTIMIZERS["sgd-momentum"])
    assert_same(build, batches(4, 3, SIZES))


@pytest.mark.parametrize(
    "clip",
    [
        functools.partial(nn.utils.clip_grad_norm_, max_norm=0.05),  # always clips
        functools.partial(nn.utils.clip_grad_norm_, max_norm=1e6),  # never clips
        functools.partial(nn.utils.clip_grad_norm_, max_norm=0.4, norm_type=float("inf")),
        functools.partial(nn.utils.clip_grad_value_, clip_value=0.01),
    ],
    ids=["norm-clips", "norm-passes", "inf-norm", "value"],
)
def test_clipping(clip):
    build = classifier(clip=clip, opt=OPTIMIZERS["sgd-momentum"])
    assert_same(build, batches(4, 3, SIZES))


@pytest.mark.parametrize(
    "make",
    [
        lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=5),
        lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=20),
    ],
    ids=["step", "cosine", "onecycle"],
)
def test_schedulers_stepped_between_calls_are_read_at_replay(make):
    holder = {}

    def after(opt):
        if "s" not in holder or holder["opt"] is not opt:
            holder.update(s=make(opt), opt=opt)
        holder["s"].step()

    build = classifier(opt=OPTIMIZERS["sgd-momentum"])
    assert_same(build, batches(4, 3, SIZES), after_step=after)


def test_scheduler_stepped_inside_the_step():
    def build():
        model = nn.MLP([4, 6, 3], activation="tanh")
        opt = Adam(model.parameters(), lr=0.05)
        sched = lr_scheduler.ExponentialLR(opt, gamma=0.8)

        def step(x, y):
            loss = F.cross_entropy(model(cr.as_tensor(x)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            return loss

        return model, opt, step

    assert_same(build, batches(4, 3, SIZES))


def test_regression_mse_float64():
    cr.set_default_dtype(np.float64)
    build = classifier(sizes=(3, 5, 2), loss="mse", opt=OPTIMIZERS["rmsprop"])
    assert_same(build, batches(3, 2, SIZES, dtype=np.float64, regression=True))


def test_float64_data_into_a_float32_model():
    build = classifier(opt=OPTIMIZERS["sgd-momentum"])
    assert_same(build, batches(4, 3, SIZES, dtype=np.float64))


def test_zero_grad_keeping_arrays_and_gradient_accumulation():
    """zero_grad(set_to_none=False), and a step that accumulates over two backward
    passes before one update; plus a step that never zeroes (grads grow across calls)."""

    def build():
        model = nn.MLP([4, 6, 3], activation="sigmoid")
        opt = SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(x, y):
            opt.zero_grad(set_to_none=False)
            half = len(y) // 2
            xt = cr.as_tensor(x)
            for sl in (slice(0, half), slice(half, None)):
                loss = F.cross_entropy(model(xt[sl]), y[sl])
                loss.backward()
            opt.step()
            return loss

        return model, opt, step

    assert_same(build, batches(4, 3, SIZES))

    def build_no_zero():
        model = nn.MLP([4, 5, 3])
        opt = SGD(model.parameters(), lr=0.01)

        def step(x, y):
            loss = F.cross_entropy(model(cr.as_tensor(x)), y)
            loss.backward()  # accumulates into the gradients of the previous call
            opt.step()
            return loss

        return model, opt, step

    assert_same(build_no_zero, batches(4, 3, SIZES))


def test_param_groups_with_per_group_options():
    def build():
        model = nn.MLP([4, 6, 3], activation="relu")
        opt = SGD(nn.param_groups(model, 1e-2, momentum=0.9), lr=0.1)

        def step(x, y):
            loss = F.cross_entropy(model(cr.as_tensor(x)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        return model, opt, step

    assert_same(build, batches(4, 3, SIZES))


def test_lr_changed_by_hand_between_calls():
    def after(opt):
        for g in opt.param_groups:
            g["lr"] *= 0.7

    assert_same(classifier(opt=OPTIMIZERS["adam"]), batches(4, 3, SIZES), after_step=after)


def test_grad_returned_by_cr_grad_and_a_tensor_output():
    """A step built from cr.grad (no .grad written) and returning several values."""

    def build():
        model = nn.MLP([4, 6, 3], activation="tanh")
        params = list(model.parameters())

        def step(x, y):
            out = model(cr.as_tensor(x))
            loss = F.cross_entropy(out, y)
            grads = cr.grad(loss, params)
            return loss, out, grads[0]

        class NoOpt:
            state = {}
            param_groups = [{"lr": 0.0}]

        return model, NoOpt(), lambda x, y: step(x, y)[0]

    assert_same(build, batches(4, 3, SIZES))
