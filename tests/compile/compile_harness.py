"""Shared helpers: run the same training eagerly and compiled, and compare every bit."""

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F


def batches(n_in, n_out, sizes, dtype=np.float32, seed=1, regression=False):
    """A fixed sequence of batches (x, y) with the given batch sizes."""
    rng = np.random.default_rng(seed)
    out = []
    for n in sizes:
        x = rng.standard_normal((n, n_in)).astype(dtype)
        if regression:
            y = rng.standard_normal((n, n_out)).astype(dtype)
        else:
            y = rng.integers(0, n_out, n)
        out.append((x, y))
    return out


def bits(a):
    a = np.asarray(a)
    return (a.shape, a.dtype.str, a.tobytes())


def snapshot(model, opt):
    """Every parameter, gradient and optimizer state value, as bytes."""
    snap = {}
    for name, p in model.named_parameters():
        snap[name] = bits(p.data)
        snap[name + ".grad"] = None if p.grad is None else bits(p.grad.data)
    for k, (p, st) in enumerate(opt.state.items()):
        for key, v in st.items():
            snap[f"state{k}.{key}"] = bits(v) if hasattr(v, "shape") else v
    snap["lrs"] = [g["lr"] for g in opt.param_groups]
    return snap


def train(build, data, compiled, steps_per_batch=1, after_step=None):
    """Train from ``build()`` -> (model, opt, step_fn) over ``data``; returns
    (losses as bits, final snapshot, the step function)."""
    cr.manual_seed(123)
    model, opt, step = build()
    fn = cr.compile(step) if compiled else step
    losses = []
    for x, y in data:
        for _ in range(steps_per_batch):
            out = fn(x, y)
            losses.append(bits(out.data))
            if after_step is not None:
                after_step(opt)
    return losses, snapshot(model, opt), fn, model, opt


def assert_same(build, data, after_step=None, replays_at_least=1):
    eager = train(build, data, False, after_step=after_step)
    cr.manual_seed(123)
    comp = train(build, data, True, after_step=after_step)
    assert comp[2].replays >= replays_at_least, "the compiled step never replayed"
    assert eager[0] == comp[0], "losses differ"
    assert eager[1].keys() == comp[1].keys()
    for k in eager[1]:
        assert eager[1][k] == comp[1][k], f"{k} differs"
    return comp


def assert_source_matches(step, model, opt, x, y):
    """Run ``step.source()`` on copies, then replay ``step(x, y)``: the same bits."""
    from chainrule import backend

    ns = {}
    exec(step.source(), ns)
    kwargs = step.source_inputs()
    rng = backend.get_rng_state()
    result, grads = ns["train_step"](x, y, **kwargs)
    backend.set_rng_state(rng)
    replays = step.replays
    loss = step(x, y)
    assert step.replays == replays + 1, "the step did not replay"
    assert np.asarray(result).tobytes() == np.asarray(loss.data).tobytes(), "loss"
    for name, p in model.named_parameters():
        assert kwargs["params"][name].tobytes() == p.data.tobytes(), name
        assert grads[name].tobytes() == p.grad.data.tobytes(), name + ".grad"
        for key, buf in kwargs["state"].get(name, {}).items():
            assert buf.tobytes() == opt.state[p][key].tobytes(), (name, key)


def classifier(
    sizes=(4, 6, 3),
    activation="tanh",
    opt=None,
    dtype=None,
    dropout=0.0,
    penalty=None,
    clip=None,
    loss="ce",
):
    """A builder for :func:`train`: MLP + optimizer + the usual step."""

    def build():
        model = nn.MLP(list(sizes), activation=activation, dropout=dropout, dtype=dtype)
        o = opt(model.parameters()) if opt else cr.optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            out = model(cr.as_tensor(x))
            if loss == "ce":
                data_loss = F.cross_entropy(out, y)
            else:
                data_loss = F.mse_loss(out, y)
            total = data_loss if penalty is None else data_loss + penalty(model)
            o.zero_grad()
            total.backward()
            if clip is not None:
                clip(list(model.parameters()))
            o.step()
            return data_loss

        return model, o, step

    return build
