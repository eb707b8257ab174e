"""Learning-rate schedules as pure functions of the step (nanoGPT's ``get_lr(it)`` style).

Each function returns the learning rate for optimizer step ``step`` = 0, 1, 2, ...; it
reads nothing but its arguments, so a training loop can do::

    for it in range(max_iters):
        for group in opt.param_groups:
            group["lr"] = cosine(it, lr=6e-4, total_steps=max_iters, warmup_steps=200)
        ...
        opt.step()

With the default ``lr=1.0`` a function is a multiplier, which is what
:class:`~chainrule.optim.lr_scheduler.LambdaLR` wants::

    LambdaLR(opt, functools.partial(cosine, total_steps=5000, warmup_steps=100))

Each is also the closed form of one scheduler class in
:mod:`chainrule.optim.lr_scheduler` (named in its docstring): used alone, the class gives
the same numbers as the function at ``step = scheduler.last_epoch``.
"""

from __future__ import annotations

import math
from bisect import bisect_right


def constant(step: int, *, lr: float = 1.0) -> float:
    """``lr`` at every step."""
    return lr


def step_decay(step: int, *, lr: float = 1.0, step_size: int, gamma: float = 0.1) -> float:
    """``lr · γ^⌊step / step_size⌋``: multiply by γ every ``step_size`` steps (StepLR)."""
    return lr * gamma ** (step // step_size)


def multistep(step: int, *, lr: float = 1.0, milestones, gamma: float = 0.1) -> float:
    """``lr · γ^k`` where k counts the milestones ≤ ``step`` (MultiStepLR)."""
    return lr * gamma ** bisect_right(sorted(milestones), step)


def exponential(step: int, *, lr: float = 1.0, gamma: float) -> float:
    """``lr · γ^step`` (ExponentialLR)."""
    return lr * gamma**step


def linear(
    step: int,
    *,
    lr: float = 1.0,
    start_factor: float = 1.0 / 3,
    end_factor: float = 1.0,
    total_iters: int = 5,
) -> float:
    """Linear ramp of the factor from ``start_factor`` to ``end_factor`` over
    ``total_iters`` steps, then constant (LinearLR; the usual warmup)::

        lr · (s + (e − s) · min(step, total_iters) / total_iters)
    """
    frac = min(total_iters, step) / total_iters
    return lr * (start_factor + (end_factor - start_factor) * frac)


def cosine(
    step: int, *, lr: float = 1.0, total_steps: int, warmup_steps: int = 0, min_lr: float = 0.0
) -> float:
    """Linear warmup, then a half cosine from ``lr`` down to ``min_lr`` (nanoGPT's get_lr)::

        1) step < warmup_steps:   lr · (step + 1) / (warmup_steps + 1)
        2) step ≥ total_steps:    min_lr
        3) otherwise, with r = (step − warmup_steps) / (total_steps − warmup_steps):
                                  min_lr + (lr − min_lr) · (1 + cos(π·r)) / 2

    Without warmup this is CosineAnnealingLR's closed form with ``T_max = total_steps``
    and ``eta_min = min_lr`` (for step ≤ T_max; the class then rises again, periodically).
    """
    if step < warmup_steps:
        return lr * (step + 1) / (warmup_steps + 1)
    if step >= total_steps:
        return min_lr
    ratio = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * ratio)) / 2


def anneal_cos(start: float, end: float, pct: float) -> float:
    """Cosine interpolation from ``start`` (pct = 0) to ``end`` (pct = 1)."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def anneal_linear(start: float, end: float, pct: float) -> float:
    """Linear interpolation from ``start`` (pct = 0) to ``end`` (pct = 1)."""
    return (end - start) * pct + start


def one_cycle_phase(
    step: int, total_steps: int, pct_start: float = 0.3, three_phase: bool = False
) -> tuple[int, float]:
    """Which phase of the 1cycle policy ``step`` is in, and how far through it (0..1).

    Two phases: up from the initial to the peak over the first ``pct_start`` of the steps,
    then down to the minimum. Three phases: up, back down to the initial (symmetric),
    then down to the minimum. Phase ends are those of ``torch.optim.lr_scheduler.OneCycleLR``.
    """
    if three_phase:
        ends = [
            float(pct_start * total_steps) - 1,
            float(2 * pct_start * total_steps) - 2,
            total_steps - 1,
        ]
    else:
        ends = [float(pct_start * total_steps) - 1, total_steps - 1]
    start = 0.0
    for i, end in enumerate(ends):
        if step <= end or i == len(ends) - 1:
            return i, (step - start) / (end - start)
        start = end
    raise AssertionError("unreachable")


def one_cycle(
    step: int,
    *,
    max_lr: float,
    total_steps: int,
    pct_start: float = 0.3,
    anneal_strategy: str = "cos",
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
) -> float:
    """The 1cycle policy (Smith & Topin, 2017; OneCycleLR): from ``max_lr/div_factor`` up
    to ``max_lr``, then down to ``max_lr/div_factor/final_div_factor`` — see
    :func:`one_cycle_phase` for the phases; ``anneal_strategy`` is ``"cos"`` or ``"linear"``.
    """
    initial = max_lr / div_factor
    points = {"initial": initial, "max": max_lr, "min": initial / final_div_factor}
    phase, pct = one_cycle_phase(step, total_steps, pct_start, three_phase)
    path = (
        [("initial", "max"), ("max", "initial"), ("initial", "min")]
        if three_phase
        else [("initial", "max"), ("max", "min")]
    )
    start, end = path[phase]
    anneal = anneal_cos if anneal_strategy == "cos" else anneal_linear
    return anneal(points[start], points[end], pct)
