"""Shared pieces of the benchmarks: sizes, data, initial weights, timing, and one training
step per library (chainrule, hand-written NumPy, PyTorch eager, JAX jit).

Every peer trains the same MLP (ReLU hidden layers, softmax cross-entropy, SGD with
momentum 0.9, float32) from the same initial weights on the same batch, so the numbers
compare libraries, not workloads. ``make_step(name, layers, x, y)`` returns a function
that runs one full step (forward, backward, update) and returns nothing; JAX's step
blocks until the result is ready, so asynchronous dispatch does not flatter it.
"""

from __future__ import annotations

import itertools
import os
import statistics

import numpy as np

SIZES = {
    "small": ((64, 64, 10), 32),
    "medium": ((784, 512, 256, 10), 128),
    "large": ((784, 2048, 2048, 10), 512),
}
LR = 0.01
MOMENTUM = 0.9
PEERS = ("chainrule", "numpy", "torch", "jax")
LABELS = {
    "chainrule": "chainrule",
    "numpy": "hand NumPy",
    "torch": "PyTorch eager",
    "jax": "JAX jit",
}


def batch(layers, n, seed=0):
    """A fixed float32 batch ``x`` (n, layers[0]) and int64 labels ``y`` (n,)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, layers[0]), dtype=np.float32)
    y = rng.integers(0, layers[-1], n).astype(np.int64)
    return x, y


def init_weights(layers, seed=1):
    """PyTorch's default Linear init, ``U(-1/√in, 1/√in)`` for W (out, in) and b, float32."""
    rng = np.random.default_rng(seed)
    weights = []
    for fan_in, fan_out in itertools.pairwise(layers):
        bound = 1.0 / np.sqrt(fan_in)
        w = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)
        b = rng.uniform(-bound, bound, fan_out).astype(np.float32)
        weights.append((w, b))
    return weights


def blas_info() -> str:
    """NumPy's BLAS as threadpoolctl sees it: library, version, kernel and threads."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    rows = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(
        f"{i.get('internal_api')} {i.get('version')} kernel={i.get('architecture')} "
        f"threads={i.get('num_threads')}"
        for i in rows
    )


def blas_threads() -> int:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return 1
    rows = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return rows[0]["num_threads"] if rows else 1


def pin_cores(n) -> None:
    """Pin this process to its first ``n`` allowed cores (Linux only; elsewhere, and when
    ``n`` is not below the allowed count, nothing). Call it before any library starts a
    thread pool: XLA sizes its pools from the affinity mask, and no flag limits them."""
    if hasattr(os, "sched_setaffinity"):
        allowed = sorted(os.sched_getaffinity(0))
        if n < len(allowed):
            os.sched_setaffinity(0, allowed[:n])


def available(name) -> bool:
    """Whether the peer's library imports (chainrule and NumPy always do)."""
    try:
        if name == "torch":
            import torch  # noqa: F401
        elif name.startswith("jax"):  # jax, jaxgemm
            import jax  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------- chainrule
def chainrule_model(layers, weights=None):
    """The MLP as chainrule users write it: ``nn.Linear`` layers and ``relu``, falling back
    to ``cr.ops.linear`` on bare parameters while ``chainrule.nn`` lacks ``Linear``."""
    import chainrule as cr

    weights = weights or init_weights(layers)
    try:
        from chainrule.nn import Linear
    except ImportError:
        Linear = None
    if Linear is not None:
        mods = []
        for w, b in weights:
            lin = Linear(w.shape[1], w.shape[0])
            lin.weight.data[...] = w
            lin.bias.data[...] = b
            mods.append(lin)
        params = [p for m in mods for p in (m.weight, m.bias)]

        def forward(x):
            for m in mods[:-1]:
                x = m(x).relu()
            return mods[-1](x)

        return forward, params
    params = []
    for w, b in weights:
        params += [cr.tensor(w, requires_grad=True), cr.tensor(b, requires_grad=True)]
    pairs = list(zip(params[0::2], params[1::2]))

    def forward(x):
        for w, b in pairs[:-1]:
            x = cr.ops.linear(x, w, b).relu()
        w, b = pairs[-1]
        return cr.ops.linear(x, w, b)

    return forward, params


def step_chainrule(layers, x, y, weights=None):
    import chainrule as cr
    from chainrule.optim import SGD

    forward, params = chainrule_model(layers, weights)
    opt = SGD(params, lr=LR, momentum=MOMENTUM)
    xt = cr.as_tensor(x)  # no copy, as the other peers use x in place

    def step():
        opt.zero_grad()
        loss = cr.ops.cross_entropy(forward(xt), y)
        loss.backward()
        opt.step()

    step.params = params
    return step


# ---------------------------------------------------------------- hand-written NumPy
def step_numpy(layers, x, y, weights=None, params=None):
    """The lecture's delta rule written out in NumPy: the floor for a NumPy engine.

    Forward ``a_k = h_{k-1} W_kᵀ + b_k``, ``h_k = relu(a_k)``; softmax cross-entropy;
    backward ``δ_K = (p - onehot(y)) / n``, ``∂L/∂W_k = δ_kᵀ h_{k-1}``, ``∂L/∂b_k = Σ δ_k``,
    ``δ_{k-1} = (δ_k W_k) ⊙ relu'(a_{k-1})``; SGD with momentum ``v ← μv + g; θ ← θ - αv``.
    """
    if params is None:
        weights = weights or init_weights(layers)
        params = [a.copy() for wb in weights for a in wb]
        velocity = [np.zeros_like(p) for p in params]
    else:
        params, velocity = params
    n = len(y)
    rows = np.arange(n)
    data = [x, y]

    def step():
        x, y = data
        hs = [x]
        h = x
        for k in range(0, len(params) - 2, 2):
            h = np.maximum(h @ params[k].T + params[k + 1], 0)
            hs.append(h)
        a = h @ params[-2].T + params[-1]
        p = np.exp(a - a.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        delta = p
        delta[rows, y] -= 1
        delta /= n
        grads = [None] * len(params)
        for k in range(len(params) - 2, -1, -2):
            h = hs[k // 2]
            grads[k] = delta.T @ h
            grads[k + 1] = delta.sum(axis=0)
            if k:
                delta = (delta @ params[k]) * (h > 0)
        for p_, v, g in zip(params, velocity, grads):
            v *= MOMENTUM
            v += g
            p_ -= LR * v

    def rebind(xb, yb):
        data[:] = xb, yb

    step.params = params
    step.state = (params, velocity)
    step.rebind = rebind
    return step


# ---------------------------------------------------------------- PyTorch eager
def step_torch(layers, x, y, weights=None):
    import torch

    torch.set_num_threads(blas_threads())
    weights = weights or init_weights(layers)
    mods = []
    for w, b in weights:
        lin = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
        mods += [lin, torch.nn.ReLU()]
    model = torch.nn.Sequential(*mods[:-1])
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()

    step.params = list(model.parameters())
    step.parts = (model, opt, loss_fn)
    return step


# ---------------------------------------------------------------- JAX jit
_JAX = {}


def _jax_functions():
    """The jitted step and predictor, built once per process so that every model of the
    same shapes reuses one compilation."""
    if _JAX:
        return _JAX["step"], _JAX["predict"]
    import jax
    import jax.numpy as jnp

    def logits_fn(params, xb):
        h = xb
        for w, b in params[:-1]:
            h = jax.nn.relu(h @ w.T + b)
        w, b = params[-1]
        return h @ w.T + b

    def loss_fn(params, xb, yb):
        logp = jax.nn.log_softmax(logits_fn(params, xb))
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

    def train_step(params, vel, xb, yb):
        grads = jax.grad(loss_fn)(params, xb, yb)
        vel = jax.tree_util.tree_map(lambda v, g: MOMENTUM * v + g, vel, grads)
        params = jax.tree_util.tree_map(lambda p, v: p - LR * v, params, vel)
        return params, vel

    _JAX["step"] = jax.jit(train_step, donate_argnums=(0, 1))
    _JAX["predict"] = jax.jit(lambda params, xb: jnp.argmax(logits_fn(params, xb), axis=1))
    return _JAX["step"], _JAX["predict"]


def _jax_state(weights):
    import jax.numpy as jnp

    params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in weights]
    vel = [(jnp.zeros(w.shape, jnp.float32), jnp.zeros(b.shape, jnp.float32)) for w, b in weights]
    return {"params": params, "vel": vel}


def step_jax(layers, x, y, weights=None):
    import jax
    import jax.numpy as jnp

    train_step, _ = _jax_functions()
    state = _jax_state(weights or init_weights(layers))
    xj, yj = jnp.asarray(x), jnp.asarray(y.astype(np.int32))

    def step():
        p, v = train_step(state["params"], state["vel"], xj, yj)
        jax.block_until_ready(p)
        state["params"], state["vel"] = p, v

    step.state = state
    return step


# ---------------------------------------------------------------- one epoch (MNIST)
# ``EPOCH_MAKERS[peer](layers, weights)`` returns ``train(x, y, order, batch_size)``, which
# runs one pass over ``x[order]`` in minibatches, plus ``train.predict(x) -> labels``.
# Every peer gathers its batches the same way: the indices, then its own array indexing.
def epoch_chainrule(layers, weights):
    import chainrule as cr
    from chainrule.optim import SGD

    forward, params = chainrule_model(layers, weights)
    opt = SGD(params, lr=LR, momentum=MOMENTUM)

    def train(x, y, order, bs):
        for i in range(0, len(order), bs):
            idx = order[i : i + bs]
            opt.zero_grad()
            loss = cr.ops.cross_entropy(forward(cr.as_tensor(x[idx])), y[idx])
            loss.backward()
            opt.step()

    def predict(x):
        with cr.no_grad():
            return forward(cr.as_tensor(x)).data.argmax(axis=1)

    train.predict = predict
    return train


def epoch_numpy(layers, weights):
    step = None

    def train(x, y, order, bs):
        nonlocal step
        for i in range(0, len(order), bs):
            idx = order[i : i + bs]
            xb, yb = x[idx], y[idx]
            if step is None or step.n != len(idx):
                params = None if step is None else step.state
                step = step_numpy(layers, xb, yb, weights, params=params)
                step.n = len(idx)
            step.rebind(xb, yb)
            step()

    def predict(x):
        h = x
        ps = step.params
        for k in range(0, len(ps) - 2, 2):
            h = np.maximum(h @ ps[k].T + ps[k + 1], 0)
        return (h @ ps[-2].T + ps[-1]).argmax(axis=1)

    train.predict = predict
    return train


def epoch_torch(layers, weights):
    import torch

    step = step_torch(layers, np.zeros((1, layers[0]), np.float32), np.zeros(1, np.int64), weights)
    model, opt, loss_fn = step.parts

    def train(x, y, order, bs):
        xt, yt, ot = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(order)
        for i in range(0, len(order), bs):
            idx = ot[i : i + bs]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()

    def predict(x):
        with torch.no_grad():
            return model(torch.from_numpy(x)).argmax(dim=1).numpy()

    train.predict = predict
    return train


def epoch_jax(layers, weights):
    import jax
    import jax.numpy as jnp

    train_step, predict_fn = _jax_functions()
    state = _jax_state(weights)

    def train(x, y, order, bs):
        xj, yj, oj = jnp.asarray(x), jnp.asarray(y.astype(np.int32)), jnp.asarray(order)
        p, v = state["params"], state["vel"]
        for i in range(0, len(order), bs):
            idx = oj[i : i + bs]
            p, v = train_step(p, v, xj[idx], yj[idx])
        jax.block_until_ready(p)
        state["params"], state["vel"] = p, v

    def predict(x):
        return np.asarray(predict_fn(state["params"], jnp.asarray(x)))

    train.predict = predict
    return train


EPOCH_MAKERS = {
    "chainrule": epoch_chainrule,
    "numpy": epoch_numpy,
    "torch": epoch_torch,
    "jax": epoch_jax,
}


MAKERS = {
    "chainrule": step_chainrule,
    "numpy": step_numpy,
    "torch": step_torch,
    "jax": step_jax,
}


def make_step(name, layers, x, y, weights=None):
    return MAKERS[name](layers, x, y, weights)


# ---------------------------------------------------------------- timing
def spread(xs):
    """Median and the interquartile range relative to it (a robust noise figure)."""
    med = statistics.median(xs)
    if len(xs) < 4:
        return med, 0.0
    q = statistics.quantiles(xs, n=4)
    return med, (q[2] - q[0]) / med
