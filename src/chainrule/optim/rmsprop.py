"""RMSprop: divide the gradient by a running root-mean-square of its recent values."""

from __future__ import annotations

from chainrule.optim.optimizer import Optimizer, _check, effective_grad, zeros_for


class RMSprop(Optimizer):
    r"""RMSprop (Hinton, Coursera lecture 6e), step for step the same as ``torch.optim.RMSprop``.

    Pseudocode for one step with learning rate α, smoothing constant a (``alpha``), ε,
    weight decay λ, momentum μ (``g`` is ``p.grad``; every buffer starts at zero)::

        g ← −g                          if maximize
        g ← g + λθ                      (coupled L2 weight decay)
        v ← a·v + (1 − a)·g²            running mean of g²
        if centered:
            ḡ ← ḡ + (1 − a)(g − ḡ)      running mean of g  (torch: ḡ.lerp_(g, 1 − a))
            d ← √(v − ḡ²) + ε           ... so d estimates the standard deviation
        else:
            d ← √v + ε
        if μ > 0:
            b ← μ·b + g / d
            θ ← θ − α·b
        else:
            θ ← θ − α·g / d

    Conventions (torch's): ε is added *outside* the square root (TensorFlow adds it
    inside), and momentum accumulates the already-normalized step ``g/d``, with the
    learning rate applied afterwards.

    Args:
        params: parameters or param-group dicts.
        lr: α ≥ 0 (default 1e-2).
        alpha: a in [0, 1) (default 0.99).
        eps: ε > 0 (default 1e-8).
        weight_decay: λ ≥ 0 (default 0).
        momentum: μ in [0, 1) (default 0).
        centered: normalize by the estimated variance instead of the raw second moment.
        maximize: ascend the objective instead of descending it.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ):
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_group(self, group):
        name = type(self).__name__
        _check(name, "lr", group["lr"], group["lr"] >= 0, ">= 0")
        _check(name, "alpha", group["alpha"], 0 <= group["alpha"] < 1, "in [0, 1)")
        _check(name, "eps", group["eps"], group["eps"] > 0, "> 0")
        wd = group["weight_decay"]
        _check(name, "weight_decay", wd, wd >= 0, ">= 0")
        mu = group["momentum"]
        _check(name, "momentum", mu, 0 <= mu < 1, "in [0, 1)")

    def _init_state(self, p, group):
        state = {"step": 0, "square_avg": zeros_for(p)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = zeros_for(p)
        if group["centered"]:
            state["grad_avg"] = zeros_for(p)
        return state

    def _plan(self, p, state, group):
        state["step"] += 1
        momentum, centered = group["momentum"], group["centered"]
        for key, wanted in (("momentum_buffer", momentum > 0), ("grad_avg", centered)):
            if wanted and key not in state:  # option switched on after some steps
                state[key] = zeros_for(p)
        arrays = (
            state["square_avg"],
            state["grad_avg"] if centered else None,
            state["momentum_buffer"] if momentum > 0 else None,
        )
        scalars = dict(
            lr=group["lr"],
            alpha=group["alpha"],
            eps=group["eps"],
            weight_decay=group["weight_decay"],
            momentum=momentum,
            maximize=group["maximize"],
        )
        return rmsprop_update, arrays, scalars


def rmsprop_update(
    xp, param, grad, v, gbar, buf, s, t, *, lr, alpha, eps, weight_decay, momentum, maximize
):
    """One RMSprop step on raw arrays (see :class:`RMSprop`); ``gbar`` / ``buf`` are None
    unless centered / momentum; ``s, t`` are scratch arrays shaped like ``param``."""
    g = effective_grad(xp, param, grad, s, weight_decay, maximize)
    xp.multiply(g, g, out=t)
    xp.multiply(t, 1.0 - alpha, out=t)
    xp.multiply(v, alpha, out=v)
    xp.add(v, t, out=v)  # v ← av + (1 − a)g²
    if gbar is not None:
        xp.subtract(g, gbar, out=t)
        xp.multiply(t, 1.0 - alpha, out=t)
        xp.add(gbar, t, out=gbar)  # ḡ ← ḡ + (1 − a)(g − ḡ)
        xp.multiply(gbar, gbar, out=t)
        xp.subtract(v, t, out=t)
        xp.sqrt(t, out=t)  # √(v − ḡ²)
    else:
        xp.sqrt(v, out=t)
    xp.add(t, eps, out=t)  # d
    xp.divide(g, t, out=t)  # g / d
    if buf is not None:
        xp.multiply(buf, momentum, out=buf)
        xp.add(buf, t, out=buf)  # b ← μb + g/d
        xp.multiply(buf, lr, out=t)  # αb
    else:
        xp.multiply(t, lr, out=t)  # α·g/d
    xp.subtract(param, t, out=param)  # θ ← θ − αb   or   θ ← θ − α·g/d
