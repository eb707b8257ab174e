"""Peers that bench/train_step.py adds to bench/common.py's tables: chainrule compiled
(``cr.compile``), the GEMM limit and JAX's own GEMMs.

* ``compiled``: the same model, optimizer and step as the ``chainrule`` peer, wrapped in
  ``cr.compile``; its first calls (the warm-up) capture, the timed ones replay.
* ``gemm``: only the matrix products of the hand-written NumPy step (3 forward, 5
  backward at 3 layers: every product a training step cannot avoid), on the same
  arrays. Nothing else — no bias, activation, softmax or update — so it is the floor
  for any NumPy MLP step: the issue's "measured GEMM limit".
* ``jaxgemm``: the same 8 products jitted by JAX (XLA's CPU GEMMs), all 8 results
  returned so that none is dropped. Set against ``gemm`` it separates what JAX gains
  from faster products from what it gains by fusing the rest of the step.
"""

from __future__ import annotations

import numpy as np


def step_compiled(layers, x, y, weights=None, adam=False):
    """The chainrule peer's step under ``cr.compile``; ``adam``: with Adam(lr=1e-3) in
    place of SGD with momentum (bench/compile_stages.py ``--adam``)."""
    import common

    import chainrule as cr
    from chainrule.optim import SGD, Adam

    forward, params = common.chainrule_model(layers, weights)
    if adam:
        opt = Adam(params, lr=1e-3)
    else:
        opt = SGD(params, lr=common.LR, momentum=common.MOMENTUM)
    xt = cr.as_tensor(x)

    @cr.compile
    def train_step(xb, yb):
        opt.zero_grad()
        loss = cr.ops.cross_entropy(forward(xb), yb)
        loss.backward()
        opt.step()
        return loss

    def step():
        train_step(xt, y)

    step.params = params
    step.compiled = train_step  # the CompiledStep, for bench/compile_stages.py
    step.args = (xt, y)
    return step


def step_gemm(layers, x, y, weights=None):
    import common

    weights = weights or common.init_weights(layers)
    ws = [w.copy() for w, _ in weights]
    hs = [x] + [np.zeros((len(x), w.shape[0]), np.float32) for w in ws]
    deltas = [np.zeros_like(h) for h in hs[1:]]
    grads = [np.zeros_like(w) for w in ws]

    def step():
        for k, w in enumerate(ws):  # a_k = h_{k-1} W_kᵀ
            np.matmul(hs[k], w.T, out=hs[k + 1])
        for k in range(len(ws) - 1, -1, -1):  # ∂L/∂W_k = δ_kᵀ h_{k-1}; δ_{k-1} = δ_k W_k
            np.matmul(deltas[k].T, hs[k], out=grads[k])
            if k:
                np.matmul(deltas[k], ws[k], out=deltas[k - 1])

    return step


def step_jax_gemm(layers, x, y, weights=None):
    import common
    import jax
    import jax.numpy as jnp

    weights = weights or common.init_weights(layers)
    ws = [jnp.asarray(w) for w, _ in weights]
    rng = np.random.default_rng(0)  # like step_gemm's: the products' time, not values
    hs = [jnp.asarray(x)] + [
        jnp.asarray(rng.standard_normal((len(x), w.shape[0])).astype(np.float32)) for w in ws
    ]
    deltas = [jnp.asarray(rng.standard_normal(h.shape).astype(np.float32)) for h in hs[1:]]

    @jax.jit
    def products(hs, ws, deltas):
        out = [h @ w.T for h, w in zip(hs, ws)]  # a_k = h_{k-1} W_kᵀ
        for k in range(len(ws) - 1, -1, -1):  # ∂L/∂W_k = δ_kᵀ h_{k-1}; δ_{k-1} = δ_k W_k
            out.append(deltas[k].T @ hs[k])
            if k:
                out.append(deltas[k] @ ws[k])
        return out

    def step():
        jax.block_until_ready(products(hs, ws, deltas))

    return step


def epoch_compiled(layers, weights):
    import common

    import chainrule as cr
    from chainrule.optim import SGD

    forward, params = common.chainrule_model(layers, weights)
    opt = SGD(params, lr=common.LR, momentum=common.MOMENTUM)

    @cr.compile
    def train_step(xb, yb):
        opt.zero_grad()
        loss = cr.ops.cross_entropy(forward(xb), yb)
        loss.backward()
        opt.step()
        return loss

    def train(x, y, order, bs):
        for i in range(0, len(order), bs):
            idx = order[i : i + bs]
            train_step(cr.as_tensor(x[idx]), y[idx])

    def predict(x):
        with cr.no_grad():
            return forward(cr.as_tensor(x)).data.argmax(axis=1)

    train.predict = predict
    return train


def register(common):
    """Add the peers to common's tables (idempotent)."""
    if "compiled" in common.MAKERS:
        return
    common.PEERS = ("chainrule", "compiled", *common.PEERS[1:], "gemm")
    if "jax" in common.PEERS:
        common.PEERS += ("jaxgemm",)
    common.LABELS.update(
        {"compiled": "chainrule compiled", "gemm": "GEMM limit", "jaxgemm": "JAX GEMMs only"}
    )
    common.MAKERS.update({"compiled": step_compiled, "gemm": step_gemm, "jaxgemm": step_jax_gemm})
    common.EPOCH_MAKERS["compiled"] = epoch_compiled
