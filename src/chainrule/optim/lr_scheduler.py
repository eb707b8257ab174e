"""Learning-rate scheduler objects with ``torch.optim.lr_scheduler``'s names and semantics.

One flat catalogue (a base class and one class per schedule, each with its formula), so
it is kept whole past the ~500-line guide: a schedule is found by its torch name here.

A scheduler writes ``group["lr"]`` of its optimizer's param groups. Use it as in torch::

    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = CosineAnnealingLR(opt, T_max=100)     # sets lr for step 0 already
    for epoch in range(100):
        train_one_epoch(opt)                       # ... opt.step() ...
        sched.step()                               # after the optimizer, once per epoch
    sched.get_last_lr()                            # [lr per group]

``last_epoch`` counts ``sched.step()`` calls (0 right after construction). Like torch's,
the classes are *chainable*: each ``step()`` derives the new lr from the group's current
lr (e.g. "multiply by γ at a milestone"), so two schedulers on one optimizer compose, and
CosineAnnealingLR uses torch's recursive form. The closed forms — the lr as a pure function
of the step — are in :mod:`chainrule.optim.schedules`; used alone, each class gives the
same numbers (to rounding) and a test checks it.

``state_dict()`` holds only plain Python values (lists, numbers, strings), never the
optimizer or callables; restore it into a scheduler built on the same optimizer.
"""

from __future__ import annotations

import copy
import math
import types
from bisect import bisect_right

from chainrule.optim import schedules
from chainrule.optim.optimizer import Optimizer


def _lrs(optimizer) -> list:
    return [group["lr"] for group in optimizer.param_groups]


class LRScheduler:
    """Base class: ``step()`` advances ``last_epoch`` and writes ``get_lr()`` into the groups.

    Args:
        optimizer: the optimizer whose ``group["lr"]`` values are set.
        last_epoch: index of the last step taken; ``-1`` starts fresh (and records each
            group's lr as ``group["initial_lr"]``); other values resume, and need
            ``initial_lr`` in every group (load the optimizer's state_dict first).

    ``needs_metric`` says whether ``step`` takes the watched metric (``step(val_loss)``,
    once per evaluation) rather than nothing; training loops dispatch on it.
    """

    needs_metric = False

    def __init__(self, optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            name = type(self).__name__
            raise TypeError(f"{name}: {type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{type(self).__name__}: param_groups[{i}] has no 'initial_lr' to "
                        f"resume from (last_epoch={last_epoch}); load the optimizer's "
                        "state_dict before creating the scheduler"
                    )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self):
        """Set the lr for the first step (``last_epoch`` -1 → 0)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list:
        """The lr of each group for step ``last_epoch`` (called by ``step()``)."""
        raise NotImplementedError

    def _closed_form_lr(self) -> list | None:
        """The lr of each group at ``last_epoch`` from the base lrs alone, or None."""
        return None

    def step(self) -> None:
        """Advance one step (call after ``optimizer.step()``) and set the new lrs."""
        self._step_count += 1
        self._update_lr(None)

    def _update_lr(self, epoch):
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:  # SequentialLR restarting a scheduler at a milestone
            self.last_epoch = epoch
            values = self._closed_form_lr() or self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = _lrs(self.optimizer)

    def get_last_lr(self) -> list:
        """The lrs the last ``step()`` set, one per param group."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """Every attribute except the optimizer (plain Python values)."""
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a ``state_dict()``."""
        self.__dict__.update(copy.deepcopy(state_dict))


class LambdaLR(LRScheduler):
    """``lr = base_lr · f(last_epoch)`` with ``f`` a function (or one per group).

    The natural home for a pure schedule from :mod:`chainrule.optim.schedules`, e.g.
    ``LambdaLR(opt, partial(schedules.cosine, total_steps=1000, warmup_steps=50))``.
    The functions are not saved in ``state_dict()`` (torch saves the ``__dict__`` of
    callable objects that are not plain functions; so does this).
    """

    def __init__(self, optimizer, lr_lambda, last_epoch: int = -1):
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"LambdaLR: expected {n} lr_lambdas, got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * f(self.last_epoch) for f, base in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self):
        state = {
            k: copy.deepcopy(v)
            for k, v in self.__dict__.items()
            if k not in ("optimizer", "lr_lambdas")
        }
        state["lr_lambdas"] = [
            None
            if isinstance(f, (types.FunctionType, types.BuiltinFunctionType))
            or not hasattr(f, "__dict__")
            else copy.deepcopy(f.__dict__)
            for f in self.lr_lambdas
        ]
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        saved = state.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        self.__dict__.update(copy.deepcopy(state))
        for f, attrs in zip(self.lr_lambdas, saved):
            if attrs is not None:
                f.__dict__.update(attrs)


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` steps.

    Closed form: :func:`schedules.step_decay` = ``base_lr · γ^⌊t / step_size⌋``.
    """

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return _lrs(self.optimizer)
        return [lr * self.gamma for lr in _lrs(self.optimizer)]

    def _closed_form_lr(self):
        t = self.last_epoch
        return [
            schedules.step_decay(t, lr=b, step_size=self.step_size, gamma=self.gamma)
            for b in self.base_lrs
        ]


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each milestone (a milestone listed twice: γ²).

    Closed form: :func:`schedules.multistep`.
    """

    def __init__(self, optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        self.milestones = sorted(int(m) for m in milestones)  # a list: survives JSON
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        hits = self.milestones.count(self.last_epoch)
        if not hits:
            return _lrs(self.optimizer)
        return [lr * self.gamma**hits for lr in _lrs(self.optimizer)]

    def _closed_form_lr(self):
        return [
            schedules.multistep(self.last_epoch, lr=b, milestones=self.milestones, gamma=self.gamma)
            for b in self.base_lrs
        ]


class ConstantLR(LRScheduler):
    """Multiply the lr by ``factor`` for the first ``total_iters`` steps, then restore it."""

    def __init__(
        self, optimizer, factor: float = 1.0 / 3, total_iters: int = 5, last_epoch: int = -1
    ):
        if not 0 <= factor <= 1:
            raise ValueError(f"ConstantLR: invalid factor {factor!r} (must be in [0, 1])")
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [lr * self.factor for lr in _lrs(self.optimizer)]
        if self.last_epoch != self.total_iters:
            return _lrs(self.optimizer)
        return [lr * (1.0 / self.factor) for lr in _lrs(self.optimizer)]

    def _closed_form_lr(self):
        f = self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor)
        return [b * f for b in self.base_lrs]


class LinearLR(LRScheduler):
    """Ramp the lr's factor linearly from ``start_factor`` to ``end_factor`` over
    ``total_iters`` steps, then hold it (the usual warmup).

    Closed form: :func:`schedules.linear`. The recursive step is torch's::

        lr ← lr · (1 + (e − s) / (total_iters·s + (t − 1)(e − s)))
    """

    def __init__(
        self,
        optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ):
        if not 0 < start_factor <= 1:
            raise ValueError(f"LinearLR: invalid start_factor {start_factor!r} (must be in (0, 1])")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: invalid end_factor {end_factor!r} (must be in [0, 1])")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        s, e, n, t = self.start_factor, self.end_factor, self.total_iters, self.last_epoch
        if t == 0:
            return [lr * s for lr in _lrs(self.optimizer)]
        if self._is_initial or t > n:
            return _lrs(self.optimizer)
        return [lr * (1.0 + (e - s) / (n * s + (t - 1) * (e - s))) for lr in _lrs(self.optimizer)]

    def _closed_form_lr(self):
        return [
            schedules.linear(
                self.last_epoch,
                lr=b,
                start_factor=self.start_factor,
                end_factor=self.end_factor,
                total_iters=self.total_iters,
            )
            for b in self.base_lrs
        ]


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every step. Closed form: :func:`schedules.exponential`."""

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return _lrs(self.optimizer)
        return [lr * self.gamma for lr in _lrs(self.optimizer)]

    def _closed_form_lr(self):
        return [
            schedules.exponential(self.last_epoch, lr=b, gamma=self.gamma) for b in self.base_lrs
        ]


class PolynomialLR(LRScheduler):
    """Decay the lr as ``base_lr · (1 − min(t, total_iters)/total_iters)^power``."""

    def __init__(self, optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1):
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t, n = self.last_epoch, self.total_iters
        if self._is_initial or t > n:
            return _lrs(self.optimizer)
        factor = ((1.0 - t / n) / (1.0 - (t - 1) / n)) ** self.power
        return [lr * factor for lr in _lrs(self.optimizer)]

    def _closed_form_lr(self):
        t, n = self.last_epoch, self.total_iters
        return [b * (1.0 - min(n, t) / n) ** self.power for b in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing (SGDR without restarts), with torch's recursive form.

    Closed form (:func:`schedules.cosine` with no warmup, for t ≤ T_max)::

        lr_t = η_min + (base_lr − η_min) · (1 + cos(π t / T_max)) / 2

    torch — and this class — apply it recursively, from the group's current lr::

        lr_t = η_min + (lr_{t−1} − η_min) · (1 + cos(π t/T)) / (1 + cos(π (t−1)/T))

    with an additive step where that ratio is 0/0 (leaving the minimum, t = T+1, 3T+1,
    ...). Past T_max the lr rises again along the same cosine (period 2·T_max).
    Alone, both forms agree to rounding; the recursive one composes with other
    schedulers and with manual edits of ``group["lr"]``.
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        lrs = _lrs(self.optimizer)
        if self._is_initial:
            return lrs
        if self._step_count == 1 and t > 0:  # resumed with last_epoch >= 0
            return [
                eta_min + (b - eta_min) * (1 + math.cos(t * math.pi / T)) / 2 for b in self.base_lrs
            ]
        if (t - 1 - T) % (2 * T) == 0:
            return [
                lr + (b - eta_min) * (1 - math.cos(math.pi / T)) / 2
                for b, lr in zip(self.base_lrs, lrs)
            ]
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return [ratio * (lr - eta_min) + eta_min for lr in lrs]

    def _closed_form_lr(self):
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        return [
            eta_min + (b - eta_min) * (1 + math.cos(math.pi * t / T)) / 2 for b in self.base_lrs
        ]


class OneCycleLR(LRScheduler):
    """The 1cycle policy, stepped once per batch; closed form :func:`schedules.one_cycle`.

    Sets each group's lr to ``max_lr/div_factor`` and anneals it up to ``max_lr`` over the
    first ``pct_start`` of ``total_steps`` (or ``epochs · steps_per_epoch``), then down to
    ``initial/final_div_factor``. With ``cycle_momentum`` (default) the momentum — SGD's
    ``momentum`` or Adam's β₁ — moves the opposite way, between ``max_momentum`` and
    ``base_momentum``. Stepping past ``total_steps`` raises ``ValueError``.
    """

    def __init__(
        self,
        optimizer,
        max_lr,
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum=0.85,
        max_momentum=0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"OneCycleLR: {type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if total_steps is not None:
            if not isinstance(total_steps, int) or total_steps <= 0:
                raise ValueError(f"OneCycleLR: invalid total_steps {total_steps!r} (must be > 0)")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            for name, v in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
                if not isinstance(v, int) or v <= 0:
                    raise ValueError(f"OneCycleLR: invalid {name} {v!r} (must be an int > 0)")
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("OneCycleLR: give total_steps, or epochs and steps_per_epoch")
        if not 0 <= pct_start <= 1:
            raise ValueError(f"OneCycleLR: invalid pct_start {pct_start!r} (must be in [0, 1])")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"OneCycleLR: invalid anneal_strategy {anneal_strategy!r} (must be 'cos' or "
                "'linear')"
            )
        self.pct_start = float(pct_start)
        self.anneal_strategy = anneal_strategy
        self.three_phase = three_phase
        groups = optimizer.param_groups
        max_lrs = self._per_group("max_lr", max_lr)
        if last_epoch == -1:
            for group, m in zip(groups, max_lrs):
                group["initial_lr"] = m / div_factor
                group["max_lr"] = m
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(
                    f"OneCycleLR: {type(optimizer).__name__} has no momentum or betas to "
                    "cycle; pass cycle_momentum=False"
                )
            self.use_beta1 = "betas" in optimizer.defaults
            if last_epoch == -1:
                pairs = zip(
                    self._per_group("max_momentum", max_momentum),
                    self._per_group("base_momentum", base_momentum),
                    groups,
                )
                for hi, lo, group in pairs:
                    self._set_momentum(group, hi)
                    group["max_momentum"] = hi
                    group["base_momentum"] = lo
        super().__init__(optimizer, last_epoch)

    def _per_group(self, name, value) -> list:
        n = len(self.optimizer.param_groups)
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise ValueError(f"OneCycleLR: expected {n} values for {name}, got {len(value)}")
            return list(value)
        return [value] * n

    def _set_momentum(self, group, value):
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def get_lr(self):
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(
                f"OneCycleLR: tried to step {t} times; total_steps is {self.total_steps}"
            )
        phase, pct = schedules.one_cycle_phase(
            t, self.total_steps, self.pct_start, self.three_phase
        )
        anneal = schedules.anneal_cos if self.anneal_strategy == "cos" else schedules.anneal_linear
        if self.three_phase:
            lr_path = [("initial_lr", "max_lr"), ("max_lr", "initial_lr"), ("initial_lr", "min_lr")]
            mom_path = [
                ("max_momentum", "base_momentum"),
                ("base_momentum", "max_momentum"),
                ("max_momentum", "max_momentum"),
            ]
        else:
            lr_path = [("initial_lr", "max_lr"), ("max_lr", "min_lr")]
            mom_path = [("max_momentum", "base_momentum"), ("base_momentum", "max_momentum")]
        lrs = []
        for group in self.optimizer.param_groups:
            a, b = lr_path[phase]
            lrs.append(anneal(group[a], group[b], pct))
            if self.cycle_momentum:
                a, b = mom_path[phase]
                self._set_momentum(group, anneal(group[a], group[b], pct))
        return lrs


class SequentialLR(LRScheduler):
    """Run ``schedulers[0]`` until ``milestones[0]``, then ``schedulers[1]``, ... (e.g.
    LinearLR warmup then CosineAnnealingLR). At a milestone the next scheduler restarts
    from its closed form at step 0, as in torch."""

    def __init__(self, optimizer, schedulers, milestones, last_epoch: int = -1):
        if not schedulers:
            raise ValueError("SequentialLR: expects at least one scheduler")
        for i, s in enumerate(schedulers):
            if isinstance(s, ReduceLROnPlateau):
                raise ValueError(
                    f"SequentialLR: scheduler {i} is a ReduceLROnPlateau, "
                    "which needs a metric in step()"
                )
            if getattr(s, "optimizer", None) is not optimizer:
                raise ValueError(f"SequentialLR: scheduler {i} belongs to another optimizer")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                f"SequentialLR: expected {len(schedulers) - 1} milestones for "
                f"{len(schedulers)} schedulers, got {len(milestones)}"
            )
        self._schedulers = list(schedulers)
        self._milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:  # undo the sub-schedulers' initial steps
            group["lr"] = group["initial_lr"]
        for s in self._schedulers:
            _undo_step(s)
        idx = bisect_right(self._milestones, 0)
        self._schedulers[idx]._initial_step()
        self._last_lr = self._schedulers[idx].get_last_lr()

    def step(self):
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self):
        state = {
            k: copy.deepcopy(v)
            for k, v in self.__dict__.items()
            if k not in ("optimizer", "_schedulers")
        }
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        subs = state.pop("_schedulers")
        self.__dict__.update(copy.deepcopy(state))
        for s, sub in zip(self._schedulers, subs):
            s.load_state_dict(sub)


def _undo_step(scheduler):
    if hasattr(scheduler, "_schedulers"):
        for s in scheduler._schedulers:
            _undo_step(s)
    elif hasattr(scheduler, "last_epoch"):
        scheduler.last_epoch -= 1


class ChainedScheduler(LRScheduler):
    """Step several (chainable) schedulers together: their effects multiply."""

    def __init__(self, schedulers, optimizer=None):
        if not schedulers:
            raise ValueError("ChainedScheduler: expects at least one scheduler")
        self.optimizer = optimizer if optimizer is not None else schedulers[0].optimizer
        for i, s in enumerate(schedulers):
            if isinstance(s, ReduceLROnPlateau):
                raise ValueError(f"ChainedScheduler: scheduler {i} is a ReduceLROnPlateau")
            if s.optimizer is not self.optimizer:
                raise ValueError(f"ChainedScheduler: scheduler {i} belongs to another optimizer")
        self._schedulers = list(schedulers)
        self._last_lr = _lrs(self.optimizer)

    def step(self):
        for s in self._schedulers:
            s.step()
        self._last_lr = _lrs(self.optimizer)

    state_dict = SequentialLR.state_dict
    load_state_dict = SequentialLR.load_state_dict


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by ``factor`` when a metric has stopped improving.

    ``step(metric)`` once per evaluation. The metric improves when (mode ``"min"``)::

        rel:  metric < best · (1 − threshold)        abs:  metric < best − threshold

    (mode ``"max"``: ``> best · (1 + threshold)`` / ``> best + threshold``). After more than
    ``patience`` non-improving steps in a row, each group's lr becomes
    ``max(lr · factor, min_lr)`` — unless that changes it by ``eps`` or less — and the
    next ``cooldown`` steps count no bad steps.
    """

    needs_metric = True  # step(metric), once per evaluation

    def __init__(
        self,
        optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr=0.0,
        eps: float = 1e-8,
    ):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"ReduceLROnPlateau: {type(optimizer).__name__} is not an Optimizer")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: invalid factor {factor!r} (must be < 1)")
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: invalid mode {mode!r} (must be 'min' or 'max')")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"ReduceLROnPlateau: invalid threshold_mode {threshold_mode!r} "
                "(must be 'rel' or 'abs')"
            )
        self.optimizer = optimizer
        self.factor = factor
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(f"ReduceLROnPlateau: expected {n} min_lrs, got {len(min_lr)}")
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * n
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.last_epoch = 0
        self._last_lr = _lrs(optimizer)
        self.best = math.inf if mode == "min" else -math.inf
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def is_better(self, a: float, best: float) -> bool:
        """Whether metric ``a`` improves on ``best`` under mode and threshold."""
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metrics) -> None:
        """Record one value of the monitored metric and reduce the lr if it has plateaued."""
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad steps in cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = _lrs(self.optimizer)

    def _reduce_lr(self):
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"ReduceLROnPlateau: the optimizer now has {len(groups)} param groups "
                    f"but min_lr has {len(self.min_lrs)} entries; update min_lrs"
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new
