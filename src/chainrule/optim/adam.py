"""Adam and AdamW: per-coordinate step sizes from running moments of the gradient."""

from __future__ import annotations

from chainrule.optim.optimizer import Optimizer, _check, effective_grad, zeros_for


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), step for step the same as ``torch.optim.Adam``.

    Pseudocode for step t = 1, 2, ... with learning rate α, betas (β₁, β₂), ε, weight
    decay λ (``g`` is ``p.grad``; ``m, v`` start at zero)::

        g ← −g                            if maximize
        θ ← θ(1 − αλ)                     if decay == "decoupled"   (AdamW)
        g ← g + λθ                        if decay == "coupled"     (L2 penalty; default)
        m ← β₁m + (1 − β₁)g               first moment  (torch: m.lerp_(g, 1 − β₁))
        v ← β₂v + (1 − β₂)g²              second moment
        v̂ ← max(v̂, v)                     if amsgrad (v̂ is kept in the state); else v̂ = v
        θ ← θ − α/(1 − β₁ᵗ) · m / (√v̂ / √(1 − β₂ᵗ) + ε)

    The bias corrections ``1 − βᵗ`` undo the zero start of ``m`` and ``v``. Note where ε
    sits: added to ``√v̂/√(1 − β₂ᵗ)``, after the bias correction, as in torch (the
    paper writes ``m̂ / (√v̂ + ε)`` with both moments corrected first — the same thing).
    The kernel evaluates the last line as ``θ ← θ − (α√c₂/c₁)·m / (√v̂ + ε√c₂)``
    (``cᵢ = 1 − βᵢᵗ``), which is algebraically equal and saves one pass over memory.

    **Weight decay.** ``"coupled"`` (default, torch's Adam) adds ``λθ`` to the gradient,
    so it is rescaled by Adam's per-coordinate step like any gradient; ``"decoupled"``
    (Loshchilov & Hutter; :class:`AdamW`) shrinks θ by ``αλ`` directly.

    Args:
        params: parameters or param-group dicts.
        lr: α ≥ 0 (default 1e-3).
        betas: (β₁, β₂), each in [0, 1) (default (0.9, 0.999)).
        eps: ε > 0 (default 1e-8).
        weight_decay: λ ≥ 0 (default 0).
        amsgrad: use the running maximum of ``v`` (Reddi et al., 2018).
        decay: ``"coupled"`` or ``"decoupled"``.
        maximize: ascend the objective instead of descending it.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        decay: str = "coupled",
        maximize: bool = False,
    ):
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            decay=decay,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_group(self, group):
        name = type(self).__name__
        _check(name, "lr", group["lr"], group["lr"] >= 0, ">= 0")
        betas = group["betas"]
        _check(name, "betas", betas, len(betas) == 2, "a pair (beta1, beta2)")
        _check(name, "beta1", betas[0], 0 <= betas[0] < 1, "in [0, 1)")
        _check(name, "beta2", betas[1], 0 <= betas[1] < 1, "in [0, 1)")
        _check(name, "eps", group["eps"], group["eps"] > 0, "> 0")
        wd = group["weight_decay"]
        _check(name, "weight_decay", wd, wd >= 0, ">= 0")
        modes = ("coupled", "decoupled")
        _check(name, "decay", group["decay"], group["decay"] in modes, f"one of {modes}")

    def _init_state(self, p, group):
        state = {"step": 0, "exp_avg": zeros_for(p), "exp_avg_sq": zeros_for(p)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = zeros_for(p)
        return state

    def _plan(self, p, state, group):
        state["step"] += 1
        # beta ** int converts the int to a float first, exactly as float() would: kept
        # an int so that cr.compile can trace this plan (compile/optimizer_trace.py)
        step = state["step"]
        beta1, beta2 = group["betas"]
        lr = group["lr"]
        c1 = 1.0 - beta1**step
        c2_sqrt = (1.0 - beta2**step) ** 0.5
        arrays = (state["exp_avg"], state["exp_avg_sq"])
        if group["amsgrad"]:
            if "max_exp_avg_sq" not in state:  # amsgrad switched on after some steps
                state["max_exp_avg_sq"] = zeros_for(p)
            arrays += (state["max_exp_avg_sq"],)
        scalars = dict(
            lr=lr,
            beta1=beta1,
            beta2=beta2,
            weight_decay=group["weight_decay"],
            decoupled=group["decay"] == "decoupled",
            maximize=group["maximize"],
            step_size=lr / c1 * c2_sqrt,
            eps_hat=group["eps"] * c2_sqrt,
        )
        return adam_update, arrays, scalars


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019) = ``torch.optim.AdamW``.

    Exactly :class:`Adam` with ``decay="decoupled"`` and a default λ of 1e-2: each step
    first shrinks the weights, ``θ ← θ(1 − αλ)``, then takes the Adam step with the plain
    gradient, so the decay is not divided by ``√v̂`` the way an L2 gradient term would be.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ):
        super().__init__(
            params, lr, betas, eps, weight_decay, amsgrad, decay="decoupled", maximize=maximize
        )


def adam_update(
    xp,
    param,
    grad,
    m,
    v,
    *rest,
    lr,
    beta1,
    beta2,
    weight_decay,
    decoupled,
    maximize,
    step_size,
    eps_hat,
):
    """One Adam step on raw arrays (see :class:`Adam`). ``rest`` is ``(vmax, s, t)`` with
    amsgrad, else ``(s, t)``; ``s, t`` are scratch arrays shaped like ``param``."""
    *vmax, s, t = rest
    if weight_decay and decoupled:
        xp.multiply(param, 1.0 - lr * weight_decay, out=param)  # θ ← θ(1 − αλ)
    g = effective_grad(xp, param, grad, s, 0.0 if decoupled else weight_decay, maximize)
    xp.subtract(g, m, out=t)
    xp.multiply(t, 1.0 - beta1, out=t)
    xp.add(m, t, out=m)  # m ← m + (1 − β₁)(g − m)
    xp.multiply(g, g, out=t)
    xp.multiply(t, 1.0 - beta2, out=t)
    xp.multiply(v, beta2, out=v)
    xp.add(v, t, out=v)  # v ← β₂v + (1 − β₂)g²
    if vmax:
        xp.maximum(vmax[0], v, out=vmax[0])  # v̂ ← max(v̂, v)
        v = vmax[0]
    xp.sqrt(v, out=t)
    xp.add(t, eps_hat, out=t)  # √v̂ + ε√c₂
    xp.divide(m, t, out=t)
    xp.multiply(t, step_size, out=t)
    xp.subtract(param, t, out=param)  # θ ← θ − (α√c₂/c₁)·m/(√v̂ + ε√c₂)
