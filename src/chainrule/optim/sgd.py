"""Stochastic gradient descent with momentum, Nesterov, and three kinds of weight decay."""

from __future__ import annotations

from chainrule.optim.optimizer import Optimizer, _check, effective_grad, zeros_for

DECAY_MODES = ("coupled", "decoupled", "unscaled")
# old spellings still accepted: "lecture" was "unscaled"'s name before 0.2 (the update the
# course's notes write, θ ← θ − α∇L − λθ)
DECAY_ALIASES = {"lecture": "unscaled"}


class SGD(Optimizer):
    r"""Stochastic gradient descent, step for step the same as ``torch.optim.SGD``.

    Pseudocode for one step, with learning rate α, momentum μ, dampening τ, weight decay λ
    (``g`` is ``p.grad``, ``v`` the momentum buffer, ``θ`` the parameter)::

        g ← −g                       if maximize
        g ← g + λθ                   if decay == "coupled"      (L2 penalty; torch's SGD)
        if μ ≠ 0:
            v ← g                    on the first step
            v ← μ·v + (1 − τ)·g      on later steps
            g ← g + μ·v              if nesterov
            g ← v                    otherwise
        θ ← θ − αλθ                  if decay == "decoupled"    (SGDW: decay scaled by α)
        θ ← θ − λθ                   if decay == "unscaled"     (decay not scaled by α)
        θ ← θ − α·g

    **Momentum convention.** This is PyTorch's form: the buffer accumulates raw
    gradients and the learning rate multiplies it at the end (``θ ← θ − α·v``). The
    Sutskever et al. form, also common in course notes, folds the learning rate into the
    velocity instead: ``v ← μ·v + α·g; θ ← θ − v``. The two agree while α is constant and
    differ when it changes (a schedule): with PyTorch's form a new α rescales the whole
    accumulated velocity at once.

    **Weight decay.** ``"coupled"`` (default, torch's) adds ``λθ`` — the gradient of the
    L2 penalty ``λ/2·‖θ‖²`` — to the gradient, so it also flows through momentum.
    ``"decoupled"`` shrinks the weights directly by ``α·λ``, outside the momentum
    (as AdamW does). ``"unscaled"`` is the update ``θ ← θ − α·∇L − λθ``: the shrink is
    ``λ`` itself, not multiplied by α, so a useful λ is about α times smaller than in the
    other two forms. Without momentum, coupled and decoupled give the same trajectory;
    the unscaled form equals them with λ replaced by ``α·λ``. ``"lecture"`` is accepted
    as the old name of ``"unscaled"``.

    Args:
        params: parameters or param-group dicts.
        lr: learning rate α (default 1e-3).
        momentum: μ in [0, 1) (default 0: plain SGD).
        dampening: τ in [0, 1], scales new gradients entering the buffer (default 0).
        weight_decay: λ ≥ 0 (default 0).
        nesterov: Nesterov momentum; needs μ > 0 and τ = 0.
        decay: ``"coupled"``, ``"decoupled"`` or ``"unscaled"`` (see above).
        maximize: ascend the objective instead of descending it.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        decay: str = "coupled",
        maximize: bool = False,
    ):
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            decay=DECAY_ALIASES.get(decay, decay),
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_group(self, group):
        name = type(self).__name__
        lr, mu, tau = group["lr"], group["momentum"], group["dampening"]
        _check(name, "lr", lr, lr >= 0, ">= 0")
        _check(name, "momentum", mu, 0 <= mu < 1, "in [0, 1)")
        _check(name, "dampening", tau, 0 <= tau <= 1, "in [0, 1]")
        wd = group["weight_decay"]
        _check(name, "weight_decay", wd, wd >= 0, ">= 0")
        decay = group["decay"] = DECAY_ALIASES.get(group["decay"], group["decay"])
        _check(name, "decay", decay, decay in DECAY_MODES, f"one of {DECAY_MODES}")
        if group["nesterov"]:
            rule = "used with momentum > 0 and dampening 0"
            _check(name, "nesterov", True, mu > 0 and tau == 0, rule)

    def _init_state(self, p, group):
        return {}  # the momentum buffer appears on the first step, as a copy of g

    def _plan(self, p, state, group):
        mu = group["momentum"]
        first = False
        arrays = ()
        if mu != 0:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = zeros_for(p)  # filled with g by the kernel
                first = True
            arrays = (state["momentum_buffer"],)
        scalars = dict(
            lr=group["lr"],
            momentum=mu,
            dampening=group["dampening"],
            weight_decay=group["weight_decay"],
            nesterov=group["nesterov"],
            decay=group["decay"],
            maximize=group["maximize"],
            first=first,
        )
        return sgd_update, arrays, scalars


def sgd_update(
    xp, param, grad, *rest, lr, momentum, dampening, weight_decay, nesterov, decay, maximize, first
):
    """One SGD step on raw arrays (see :class:`SGD`). ``rest`` is ``(buf, s, t)`` with
    momentum, else ``(s, t)``; ``s, t`` are scratch arrays shaped like ``param``."""
    *buf, s, t = rest
    g = effective_grad(xp, param, grad, s, weight_decay if decay == "coupled" else 0.0, maximize)
    if momentum != 0:
        (v,) = buf
        if first:
            xp.copyto(v, g)  # v ← g
        else:
            xp.multiply(v, momentum, out=v)  # v ← μv
            if dampening:
                xp.multiply(g, 1.0 - dampening, out=t)
                xp.add(v, t, out=v)  # v ← μv + (1 − τ)g
            else:
                xp.add(v, g, out=v)  # v ← μv + g
        if nesterov:
            xp.multiply(v, momentum, out=t)
            xp.add(g, t, out=t)  # g ← g + μv
            g = t
        else:
            g = v
    if weight_decay and decay == "decoupled":
        xp.multiply(param, 1.0 - lr * weight_decay, out=param)  # θ ← θ(1 − αλ)
    elif weight_decay and decay in ("unscaled", "lecture"):  # "lecture": a group loaded
        # from a state_dict saved before the rename
        xp.multiply(param, 1.0 - weight_decay, out=param)  # θ ← θ − λθ
    xp.multiply(g, lr, out=t)
    xp.subtract(param, t, out=param)  # θ ← θ − αg
