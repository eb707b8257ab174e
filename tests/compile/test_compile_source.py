"""step.source() is runnable NumPy with the model's names, and running it gives the
replay's numbers bit for bit (loss, gradients, updated parameters and buffers)."""

import functools

import numpy as np
import pytest
from compile_harness import batches

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.optim import SGD, Adagrad, Adam, AdamW, RMSprop


def compiled_step(sizes, activation, make_opt, dropout=0.0, penalty=None, clip=None):
    model = nn.MLP(list(sizes), activation=activation, dropout=dropout)
    opt = make_opt(model.parameters())

    def step(x, y):
        loss = F.cross_entropy(model(cr.Tensor(x)), y)
        total = loss if penalty is None else loss + penalty(model)
        opt.zero_grad()
        total.backward()
        if clip is not None:
            clip(list(model.parameters()))
        opt.step()
        return loss

    return model, opt, cr.compile(step)


CASES = {
    "sgd-momentum-tanh": ((4, 5, 3), "tanh", lambda p: SGD(p, lr=0.1, momentum=0.9), {}),
    "sgd-nesterov-relu": (
        (4, 6, 6, 3),
        "relu",
        lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
        {},
    ),
    "adam-sigmoid": ((4, 5, 3), "sigmoid", lambda p: Adam(p, lr=1e-2, amsgrad=True), {}),
    "adamw-leaky": ((4, 5, 3), "leaky_relu", lambda p: AdamW(p, lr=1e-2), {}),
    "rmsprop-gelu": ((4, 5, 3), "gelu", lambda p: RMSprop(p, centered=True, momentum=0.5), {}),
    "adagrad-elu": ((4, 5, 3), "elu", lambda p: Adagrad(p, lr=0.1, lr_decay=0.01), {}),
    "dropout-l2-clip": (
        (4, 8, 3),
        "relu",
        lambda p: SGD(p, lr=0.1, momentum=0.9),
        dict(
            dropout=0.3,
            penalty=lambda m: nn.l2_penalty(m, 1e-2),
            clip=functools.partial(nn.utils.clip_grad_norm_, max_norm=0.1),
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_running_the_source_gives_the_replay_bits(case):
    sizes, activation, make_opt, extra = CASES[case]
    cr.manual_seed(0)
    model, opt, step = compiled_step(sizes, activation, make_opt, **extra)
    data = batches(sizes[0], sizes[-1], [8] * 4)
    for x, y in data[:3]:
        step(x, y)
    x, y = data[3]
    src = step.source()
    compile(src, "<source>", "exec")  # valid Python
    ns = {}
    exec(src, ns)
    kwargs = step.source_inputs()
    rng_state = cr.get_rng_state() if hasattr(cr, "get_rng_state") else None
    from chainrule import backend

    state0 = backend.get_rng_state()
    result, grads = ns["train_step"](x, y, **kwargs)
    backend.set_rng_state(state0)  # the replay draws the same dropout masks
    replays = step.replays
    loss = step(x, y)
    assert step.replays == replays + 1, "the step did not replay"
    assert np.asarray(result).tobytes() == loss.data.tobytes()
    for name, p in model.named_parameters():
        assert kwargs["params"][name].tobytes() == p.data.tobytes(), name
        assert grads[name].tobytes() == p.grad.data.tobytes(), name
        for key, buf in kwargs["state"].get(name, {}).items():
            assert buf.tobytes() == opt.state[p][key].tobytes(), (name, key)
    del rng_state


def test_source_reads_like_the_lecture():
    cr.manual_seed(0)
    _, _, step = compiled_step((4, 5, 3), "tanh", lambda p: SGD(p, lr=0.1, momentum=0.9))
    for x, y in batches(4, 3, [8, 8]):
        step(x, y)
    src = step.source()
    for text in [
        "fc1_weight = params['layers.0.weight']",
        "a_1 = x @ fc1_weight.T",
        "h_1 = np.tanh(a_1)",
        "delta_2",
        "grad_fc1_weight = delta_1.T @ x",
        "δ_2 = ∂L/∂a_2 = (softmax(a_2) − onehot(y)) / n",
        "∂L/∂W_2 = δ_2 h_1ᵀ",
        "δ_1 = ∂L/∂h_1 ⊙ g'(a_1)",
        "v_fc1_weight *= momentum",
        "lr = hyper['lr']",
    ]:
        assert text in src, text
    assert "PRIMS" not in src  # every op of this model has a NumPy template


def test_source_before_any_capture_is_an_error():
    step = cr.compile(lambda x: x)
    with pytest.raises(RuntimeError, match="nothing is captured yet"):
        step.source()
