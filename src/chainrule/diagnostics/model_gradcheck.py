"""Model-level gradient check: every parameter's backprop gradient against finite
differences, in float64, on a few examples.

For a parameter entry θ_j the numerical derivative is the central difference

    ∂L/∂θ_j ≈ (L(θ + ε e_j) − L(θ − ε e_j)) / 2ε        (error O(ε²))

and the per-entry comparison uses the engine's :func:`chainrule.autograd.gradcheck.relative_error`
``|a − n| / max(|a|, |n|)``. Each parameter gets one number, the relative error of its
whole checked gradient, ``‖a − n‖ / max(‖a‖, ‖n‖)`` (entries that are both ≈ 0 don't
inflate it), and the worst single entry. The usual reading:

* > 1e-2: the gradient is wrong;
* 1e-4 … 1e-2: suspicious — unless the network has kinks (ReLU pre-activations within
  reach of 0, where the finite difference straddles the corner);
* 1e-7 … 1e-4: fine for networks with kinks, a little high for smooth ones;
* < 1e-7: good.

Float32 models and inputs are checked in float64 (with a warning): the central
difference in float32 has a round-off error of about 1e-7/ε, far too coarse to trust.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from chainrule.autograd.gradcheck import relative_error
from chainrule.autograd.mode import no_grad
from chainrule.diagnostics.layers import find_layers
from chainrule.tensor import Tensor

WRONG, SUSPICIOUS, GOOD = 1e-2, 1e-4, 1e-7
KINK_ACTIVATIONS = ("relu", "leaky_relu")


def verdict(rel_error, kinks=False):
    """The usual reading of a relative error (see the module docstring)."""
    if not np.isfinite(rel_error) or rel_error > WRONG:
        return "WRONG"
    if rel_error > SUSPICIOUS:
        return "kink?" if kinks else "suspicious"
    if rel_error > GOOD:
        return "ok"
    return "good"


@dataclass
class ParamCheck:
    """One parameter's result."""

    name: str
    shape: tuple
    checked: int
    grad_norm: float
    rel_error: float
    max_entry_rel_error: float
    verdict: str


@dataclass
class ModelGradcheckReport:
    """The table of :func:`check_model_gradients`; ``str()`` prints it."""

    params: list = field(default_factory=list)
    loss: float = float("nan")
    examples: int = 0
    eps: float = 1e-6
    kinks: int = 0
    kink_tol: float = 0.0
    converted_from: str | None = None

    @property
    def passed(self) -> bool:
        """No parameter's gradient is wrong (> 1e-2)."""
        return all(p.verdict != "WRONG" for p in self.params)

    def __bool__(self):
        return self.passed

    @property
    def max_rel_error(self) -> float:
        return max((p.rel_error for p in self.params), default=0.0)

    def __str__(self):
        head = (
            f"gradient check: {len(self.params)} parameters, {self.examples} examples, "
            f"float64, central differences with eps={self.eps:g}, loss={self.loss:.6g}"
        )
        lines = [head]
        w = max([len("parameter")] + [len(p.name) for p in self.params])
        lines.append(
            f"{'parameter':<{w}}  {'shape':<10} {'checked':>7} {'|grad|':>10} "
            f"{'rel error':>10} {'worst entry':>11}  verdict"
        )
        for p in self.params:
            shape = "x".join(str(s) for s in p.shape) or "scalar"
            lines.append(
                f"{p.name:<{w}}  {shape:<10} {p.checked:>7} {p.grad_norm:>10.3e} "
                f"{p.rel_error:>10.2e} {p.max_entry_rel_error:>11.2e}  {p.verdict}"
            )
        if self.kinks:
            lines.append(
                f"note: {self.kinks} ReLU pre-activation(s) within {self.kink_tol:g} of 0 "
                "(kinks): finite differences across a kink can disagree with backprop"
            )
        lines.append(
            "reading: > 1e-2 wrong, 1e-4..1e-2 suspicious (or a kink), "
            "1e-7..1e-4 ok with kinks, < 1e-7 good"
        )
        lines.append(
            f"result: {'PASSED' if self.passed else 'FAILED'} "
            f"(largest relative error {self.max_rel_error:.2e})"
        )
        return "\n".join(lines)


def _as_float64(x, what):
    """``x`` as a float64 Tensor (integer labels pass through); the dtype it had."""
    arr = x.data if isinstance(x, Tensor) else np.asarray(x)
    if arr.dtype.kind != "f":
        return (x if isinstance(x, Tensor) else Tensor(arr)), None
    old = None if arr.dtype == np.float64 else str(arr.dtype)
    return Tensor(arr.astype(np.float64)), old


def check_model_gradients(model, loss_fn, x, y, eps=1e-6, max_entries=200, seed=0):
    """Check every parameter's gradient of ``loss_fn(model(x), y)`` against finite
    differences in float64; returns a :class:`ModelGradcheckReport`.

    ``max_entries``: parameters with more entries are checked on that many random ones.
    The model's parameters are converted to float64 for the check and restored after
    (values, dtypes and ``.grad``), so the model is left as it was.
    """
    # a step of 0 divides by zero, NaN compares false everywhere, and 0 entries check
    # nothing: each would report a verdict the check never earned
    if (
        isinstance(eps, bool)
        or not isinstance(eps, (int, float))
        or not (math.isfinite(eps) and eps > 0)
    ):
        raise ValueError(f"eps: the finite-difference step must be a number > 0, got {eps!r}")
    if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
        raise ValueError(
            f"max-entries: must be an integer ≥ 1 (entries checked per parameter), "
            f"got {max_entries!r}"
        )
    params = list(model.named_parameters())
    if not params:
        raise ValueError("check_model_gradients: the model has no parameters")
    x64, x_old = _as_float64(x, "x")
    y64, _ = _as_float64(y, "y")
    saved = [(p, p.data, p.grad) for _, p in params]
    old_dtypes = {str(p.data.dtype) for _, p in params if p.data.dtype != np.float64}
    old_dtypes |= {x_old} if x_old else set()
    if old_dtypes:
        warnings.warn(
            f"the model/inputs are {', '.join(sorted(old_dtypes))}; checking in "
            "float64 instead (finite differences in float32 are too coarse to trust)",
            stacklevel=2,
        )
    report = ModelGradcheckReport(
        examples=int(x64.shape[0]) if x64.ndim else 1,
        eps=eps,
        converted_from=", ".join(sorted(old_dtypes)) or None,
    )
    rng = np.random.default_rng(seed)
    try:
        for _, p in params:
            p.data = p.data.astype(np.float64)
            p.grad = None
        preacts = _capture_preactivations(model)
        loss = loss_fn(model(x64), y64)
        preacts.finish()
        loss.backward()
        report.loss = float(loss.item())
        report.kink_tol = 1e2 * eps
        report.kinks = preacts.near_zero(report.kink_tol)

        def f():
            with no_grad():
                return float(loss_fn(model(x64), y64).item())

        for name, p in params:
            analytic = np.zeros(p.shape) if p.grad is None else p.grad.data
            n = p.data.size
            idx = np.arange(n) if n <= max_entries else rng.choice(n, max_entries, replace=False)
            a = analytic.reshape(-1)[idx]
            num = np.empty(len(idx))
            for j, flat in enumerate(idx):
                where = np.unravel_index(flat, p.shape)
                orig = p.data[where]
                p.data[where] = orig + eps
                hi = f()
                p.data[where] = orig - eps
                lo = f()
                p.data[where] = orig
                num[j] = (hi - lo) / (2 * eps)
            denom = max(np.linalg.norm(a), np.linalg.norm(num))
            rel = float(np.linalg.norm(a - num) / denom) if denom > 0 else 0.0
            # the worst entry among those clearly above finite-difference noise
            floor = 1e-6 * max(denom / np.sqrt(max(len(idx), 1)), 1e-300)
            big = np.maximum(np.abs(a), np.abs(num)) > floor
            worst = float(relative_error(a[big], num[big]).max()) if big.any() else 0.0
            report.params.append(
                ParamCheck(
                    name=name,
                    shape=tuple(p.shape),
                    checked=len(idx),
                    grad_norm=float(np.linalg.norm(analytic)),
                    rel_error=rel,
                    max_entry_rel_error=worst,
                    verdict=verdict(rel, kinks=report.kinks > 0),
                )
            )
    finally:
        for p, data, g in saved:
            p.data = data
            p.grad = g
    return report


class _Preactivations:
    """Keeps the outputs of Linear layers followed by a ReLU during one forward pass."""

    def __init__(self, model):
        self.arrays = []
        self.handles = []
        try:
            layers = find_layers(model)
        except ValueError:
            layers = []
        for info in layers:
            if info.activation in KINK_ACTIVATIONS and hasattr(
                info.module, "register_forward_hook"
            ):
                self.handles.append(info.module.register_forward_hook(self._keep))

    def _keep(self, module, inputs, out):
        self.arrays.append(np.asarray(out.data))

    def finish(self):
        for h in self.handles:
            h.remove()

    def near_zero(self, tol):
        return int(sum(np.count_nonzero(np.abs(a) < tol) for a in self.arrays))


def _capture_preactivations(model):
    return _Preactivations(model)


__all__ = ["ModelGradcheckReport", "ParamCheck", "check_model_gradients", "verdict"]
