"""Adagrad: per-coordinate step sizes shrinking with the sum of all past squared gradients."""

from __future__ import annotations

from chainrule import backend
from chainrule.optim.optimizer import Optimizer, _check, effective_grad


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al., 2011), step for step the same as ``torch.optim.Adagrad``.

    Pseudocode for step t = 1, 2, ... with learning rate α, learning-rate decay η,
    weight decay λ, ε (``g`` is ``p.grad``; the sum ``G`` starts at
    ``initial_accumulator_value``)::

        g ← −g                          if maximize
        g ← g + λθ                      (coupled L2 weight decay)
        αₜ ← α / (1 + (t − 1)·η)
        G ← G + g²
        θ ← θ − αₜ · g / (√G + ε)

    Conventions (torch's): ε is added outside the square root; the decayed rate ``αₜ``
    uses t − 1, so the first step uses α itself.

    Args:
        params: parameters or param-group dicts.
        lr: α ≥ 0 (default 1e-2).
        lr_decay: η ≥ 0 (default 0).
        weight_decay: λ ≥ 0 (default 0).
        initial_accumulator_value: G's start ≥ 0 (default 0).
        eps: ε > 0 (default 1e-10).
        maximize: ascend the objective instead of descending it.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ):
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_group(self, group):
        name = type(self).__name__
        _check(name, "lr", group["lr"], group["lr"] >= 0, ">= 0")
        _check(name, "lr_decay", group["lr_decay"], group["lr_decay"] >= 0, ">= 0")
        wd = group["weight_decay"]
        _check(name, "weight_decay", wd, wd >= 0, ">= 0")
        acc = group["initial_accumulator_value"]
        _check(name, "initial_accumulator_value", acc, acc >= 0, ">= 0")
        _check(name, "eps", group["eps"], group["eps"] > 0, "> 0")

    def _init_state(self, p, group):
        xp = backend.namespace_of(p.data)
        G = xp.full(p.data.shape, group["initial_accumulator_value"], dtype=p.data.dtype)
        return {"step": 0, "sum": G}

    def _plan(self, p, state, group):
        state["step"] += 1
        scalars = dict(
            clr=group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"]),
            eps=group["eps"],
            weight_decay=group["weight_decay"],
            maximize=group["maximize"],
        )
        return adagrad_update, (state["sum"],), scalars


def adagrad_update(xp, param, grad, G, s, t, *, clr, eps, weight_decay, maximize):
    """One Adagrad step on raw arrays (see :class:`Adagrad`); ``s, t`` are scratch."""
    g = effective_grad(xp, param, grad, s, weight_decay, maximize)
    xp.multiply(g, g, out=t)
    xp.add(G, t, out=G)  # G ← G + g²
    xp.sqrt(G, out=t)
    xp.add(t, eps, out=t)  # √G + ε
    xp.divide(g, t, out=t)
    xp.multiply(t, clr, out=t)
    xp.subtract(param, t, out=param)  # θ ← θ − αₜ·g/(√G + ε)
