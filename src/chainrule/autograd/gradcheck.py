"""Gradient checking as library code: the engine against central finite differences.

Two checks, both in float64:

* **Projection** (any size): for random ``u`` (input direction) and ``v`` (output
  weighting), compare ``<vjp(v), u>`` from backward with the central difference
  ``(<v, f(x + εu)> - <v, f(x - εu)>) / 2ε``. One backward and two forwards per input.
* **Full Jacobian** (small inputs): every entry of ``∂f/∂x`` from one backward per output
  element against one central difference per input element.

Relative error is ``|a - n| / max(|a|, |n|)``; a pair passes when
``|a - n| <= atol + rtol·|n|``. ``order=2`` checks the gradient itself by the same
method, with the first backward recorded (``create_graph=True``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from chainrule.autograd.engine import grad
from chainrule.backend import xp
from chainrule.ops import concatenate, reshape
from chainrule.tensor import Tensor


class GradcheckError(AssertionError):
    """The analytic gradient disagrees with finite differences."""


@dataclass
class GradcheckReport:
    """Per-input results: the largest relative error found and whether it passed."""

    order: int
    max_rel_error: list = field(default_factory=list)
    max_abs_error: list = field(default_factory=list)
    passed_inputs: list = field(default_factory=list)
    method: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(self.passed_inputs)

    def __bool__(self):
        return self.passed

    def __str__(self):
        lines = [f"gradcheck (order {self.order}): {'passed' if self.passed else 'FAILED'}"]
        lines.append(f"{'input':>5}  {'method':<10} {'max rel error':>14} {'max abs error':>14}")
        for i, (r, a, ok, m) in enumerate(
            zip(self.max_rel_error, self.max_abs_error, self.passed_inputs, self.method)
        ):
            lines.append(f"{i:>5}  {m:<10} {r:>14.3e} {a:>14.3e}  {'ok' if ok else 'WRONG'}")
        return "\n".join(lines)


def relative_error(a, n):
    """|a - n| / max(|a|, |n|), taken as 0 where both are 0."""
    a, n = xp.asarray(a, dtype=xp.float64), xp.asarray(n, dtype=xp.float64)
    denom = xp.maximum(xp.abs(a), xp.abs(n))
    return xp.where(denom > 0, xp.abs(a - n) / xp.where(denom > 0, denom, 1), 0.0)


def _as_float64_inputs(inputs):
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    out = []
    for t in inputs:
        t = t if isinstance(t, Tensor) else Tensor(xp.asarray(t))
        if t.dtype != xp.float64:
            if t.dtype.kind == "f":
                warnings.warn(
                    f"gradcheck: input of dtype {t.dtype} is checked in float64 instead "
                    "(finite differences in float32 are too coarse to trust)",
                    stacklevel=3,
                )
            else:
                out.append(t)  # integer inputs (labels) pass through untouched
                continue
        out.append(Tensor(t.data.astype(xp.float64), requires_grad=True))
    return out


def _scalar_of(fn, xs, v):
    # no no_grad() here: with order=2, fn runs a backward pass of its own
    return float((fn(*xs).data * v).sum())


def gradcheck(
    fn,
    inputs,
    eps=1e-6,
    atol=1e-5,
    rtol=1e-3,
    order=1,
    full_jacobian_max=256,
    n_projections=3,
    raise_exception=True,
    seed=0,
):
    """Check ``fn``'s gradients (order 1 or 2) w.r.t. the float ``inputs`` in float64.

    Returns a :class:`GradcheckReport`; raises :class:`GradcheckError` on failure when
    ``raise_exception``. Float32 inputs are copied to float64 with a warning.
    """
    if order not in (1, 2):
        raise ValueError(f"gradcheck: order must be 1 or 2, got {order}")
    xs = _as_float64_inputs(inputs)
    rng = xp.random.default_rng(seed)
    if order == 2:
        # f2(x) = <∇x <f(x), w>, ...>: its gradient exercises every VJP's own VJP
        fn = _first_gradient(fn, Tensor(rng.standard_normal(fn(*xs).shape)))
    report = GradcheckReport(order=order)
    out = fn(*xs)
    for k, x in enumerate(xs):
        if not x.requires_grad:
            continue
        if x.size * max(out.size, 1) <= full_jacobian_max:
            rel, ab, ok = _check_full(fn, xs, k, out.shape, eps, atol, rtol)
            method = "jacobian"
        else:
            rel, ab, ok = _check_projection(
                fn, xs, k, out.shape, eps, atol, rtol, rng, n_projections
            )
            method = "projection"
        report.max_rel_error.append(rel)
        report.max_abs_error.append(ab)
        report.passed_inputs.append(ok)
        report.method.append(method)
    if raise_exception and not report.passed:
        raise GradcheckError(str(report))
    return report


def _first_gradient(fn, w):
    """x -> the flattened gradients of <fn(x), w>, recorded so they can be differentiated."""

    def first_gradient(*args):
        ins = [a for a in args if a.requires_grad]
        gs = grad(fn(*args), ins, grad_outputs=w, create_graph=True, allow_unused=True)
        flat = [reshape(g, (-1,)) for g in gs if g is not None]
        return concatenate(flat) if flat else Tensor(xp.zeros(0))

    return first_gradient


def _vjp(out, x, v):
    """vᵀ ∂out/∂x as an array; zero when out does not depend on x at all."""
    if not out.requires_grad:
        return xp.zeros(x.shape)
    (g,) = grad(out, [x], grad_outputs=Tensor(v), allow_unused=True)
    return xp.zeros(x.shape) if g is None else g.data


def _perturbed(xs, k, delta):
    ys = list(xs)
    ys[k] = Tensor(xs[k].data + delta, requires_grad=True)
    return ys


def _check_projection(fn, xs, k, out_shape, eps, atol, rtol, rng, n):
    worst_rel = worst_abs = 0.0
    ok = True
    for _ in range(n):
        u = rng.standard_normal(xs[k].shape)
        v = rng.standard_normal(out_shape)
        analytic = float((_vjp(fn(*xs), xs[k], v) * u).sum())
        numeric = (
            _scalar_of(fn, _perturbed(xs, k, eps * u), v)
            - _scalar_of(fn, _perturbed(xs, k, -eps * u), v)
        ) / (2 * eps)
        err = abs(analytic - numeric)
        worst_abs = max(worst_abs, err)
        worst_rel = max(worst_rel, float(relative_error(analytic, numeric)))
        ok &= err <= atol + rtol * abs(numeric)
    return worst_rel, worst_abs, bool(ok)


def _check_full(fn, xs, k, out_shape, eps, atol, rtol):
    x = xs[k]
    m = max(1, int(xp.prod(xp.asarray(out_shape))))
    analytic = xp.zeros((m, x.size))
    for j in range(m):
        v = xp.zeros(m)
        v[j] = 1.0
        analytic[j] = _vjp(fn(*xs), x, v.reshape(out_shape)).reshape(-1)
    numeric = xp.zeros((m, x.size))
    for i in range(x.size):
        d = xp.zeros(x.size)
        d[i] = eps
        d = d.reshape(x.shape)
        hi = fn(*_perturbed(xs, k, d)).data.reshape(-1)
        lo = fn(*_perturbed(xs, k, -d)).data.reshape(-1)
        numeric[:, i] = (hi - lo) / (2 * eps)
    err = xp.abs(analytic - numeric)
    ok = bool((err <= atol + rtol * xp.abs(numeric)).all())
    rel = float(relative_error(analytic, numeric).max()) if err.size else 0.0
    return rel, float(err.max()) if err.size else 0.0, ok


__all__ = ["GradcheckError", "GradcheckReport", "gradcheck", "relative_error"]
