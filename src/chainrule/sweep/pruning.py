"""Early stopping of poor trials: asynchronous successive halving (ASHA).

Rungs sit at ``r, r·η, r·η², …`` epochs (``r = min_epochs``). A trial that finishes a rung
epoch reports its validation metric ``v``; with ``V`` the values recorded at that rung so
far (its own included) it goes on only if it is in the top ``1/η`` of ``V``::

    keep  ⇔  score(v) ≥ quantile(score(V), 1 − 1/η)        score = v (max) or −v (min)

so the first trial at a rung always goes on, and later ones must beat the bar the earlier
ones set. This is the stopping variant of ASHA (Li et al. 2020; Ray Tune's
``ASHAScheduler``): no trial waits for others, which suits a pool of busy workers.

The :class:`RungPruner` is plain Python; executors share one instance between trials
(a multiprocessing manager for the local pool, a Ray actor on a cluster).
"""

from __future__ import annotations

import math

import numpy as np

WORST = -1e300  # finite, so quantiles interpolate without inf - inf = NaN


class RungPruner:
    """The rung records of one sweep and the keep-or-stop rule."""

    def __init__(self, rungs, eta: float, mode: str = "max"):
        self.rungs = sorted(int(r) for r in rungs)
        self.eta = float(eta)
        self.sign = 1.0 if mode == "max" else -1.0
        self.recorded: dict[int, dict[str, float]] = {r: {} for r in self.rungs}

    def report(self, trial_id: str, epoch: int, value) -> bool:
        """Record ``value`` at ``epoch`` (1-based) if that is a rung; True means stop."""
        if epoch not in self.recorded:
            return False
        score = self.sign * float(value) if value is not None else WORST
        if not math.isfinite(score):  # NaN, or a loss blown up to inf: the worst there is
            score = WORST
        at_rung = self.recorded[epoch]
        at_rung[trial_id] = score
        bar = np.quantile(np.array(list(at_rung.values())), 1.0 - 1.0 / self.eta)
        return bool(score < bar)

    def replay(self, trial_id: str, curve) -> None:
        """Record a finished trial's per-epoch values (``curve[e-1]`` at epoch e) — how a
        resumed sweep gets its rungs back."""
        for epoch, value in enumerate(curve, start=1):
            if epoch in self.recorded and value is not None:
                score = self.sign * float(value)
                self.recorded[epoch][trial_id] = score if math.isfinite(score) else WORST

    def counts(self) -> dict[int, int]:
        return {r: len(v) for r, v in self.recorded.items()}
