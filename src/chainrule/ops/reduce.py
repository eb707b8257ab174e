"""Reductions: sum, mean, max, min, logsumexp over an ``axis`` (int, tuple or None).

``dim`` is accepted as an alias of ``axis`` (PyTorch's name). The VJP of every reduction
reshapes the upstream gradient to the ``keepdims`` shape and broadcasts it back.
"""

from __future__ import annotations

import math

from chainrule.autograd.primitive import apply, defprimitive, tensor_function
from chainrule.backend import xp
from chainrule.ops.operands import keep_dims, keepdims_shape, lift, normalize_axis
from chainrule.tensor import Tensor


def _sum(x, axis=None, keepdims=False):
    return x.sum(axis=axis, keepdims=keepdims)


SUM = defprimitive(
    "sum",
    _sum,
    lambda F, g, ans, x, axis=None, keepdims=False: F.broadcast_to(
        g.reshape(keepdims_shape(x.shape, axis)), x.shape
    ),
    pattern="distributes",
    saves=(),
    symbol="Σ",
    formula="Σ {0}",
    local="1",
    vjp="{g} copied to every element of {0}",
    params=("axis", "keepdims"),
    pattern_text="distributes: every element gets the upstream gradient unchanged",
)


@tensor_function(SUM)
def sum(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Σ over ``axis``; ∂/∂x_i = 1: every input element receives the upstream gradient
    unchanged."""
    x = lift(x)
    keepdims = keep_dims("sum", keepdims, keepdim)
    return apply(SUM, x, axis=normalize_axis(axis, x.ndim, dim), keepdims=keepdims)


def mean(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Σ / n over ``axis`` (composed: sum, then divide by the count)."""
    x = lift(x)
    keepdims = keep_dims("mean", keepdims, keepdim)
    axes = normalize_axis(axis, x.ndim, dim)
    n = x.size if axes is None else math.prod(x.shape[a] for a in axes)
    return sum(x, axes, keepdims) / n


def _max_share(F, ans, x, axis):
    """1/k for each of the k elements that attain the max, 0 elsewhere."""
    xd = F.data(x)
    winners = xd == F.data(ans).reshape(keepdims_shape(xd.shape, axis))
    return (winners / winners.sum(axis=axis, keepdims=True)).astype(xd.dtype)


def _tied_for_max(x, axis):
    """True at the elements that attain the max of their group along with others."""
    winners = x == x.max(axis=axis, keepdims=True)
    return winners & (winners.sum(axis=axis, keepdims=True) > 1)


def _max(x, axis=None, keepdims=False):
    return x.max(axis=axis, keepdims=keepdims)


MAX = defprimitive(
    "max",
    _max,
    lambda F, g, ans, x, axis=None, keepdims=False: (
        g.reshape(keepdims_shape(x.shape, axis)) * _max_share(F, ans, x, axis)
    ),
    pattern="routes",
    saves=(0, "ans"),
    symbol="max",
    formula="max({0})",
    local="1 for the largest element (1/k each when k tie), else 0",
    vjp="{g} to the largest element of {0} (shared when several tie), 0 elsewhere",
    tie=lambda i, inputs, params: _tied_for_max(inputs[0], params.get("axis")),
    ties="routes, but several elements tie for the largest: the engine shares the "
    "gradient equally among them, 1/k each for k tied (as torch.amax)",
    params=("axis", "keepdims"),
    pattern_text="routes: only the largest element gets the gradient; the others get 0",
)


@tensor_function(MAX)
def max(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Largest element over ``axis``; ∂/∂x_i = 1 for the winner, else 0: the gradient is
    *routed* to it. When k elements tie for the max they share it equally (1/k each), as
    torch.amax does."""
    x = lift(x)
    keepdims = keep_dims("max", keepdims, keepdim)
    return apply(MAX, x, axis=normalize_axis(axis, x.ndim, dim), keepdims=keepdims)


def min(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Smallest element over ``axis``, as -max(-x) (same routing and tie rule)."""
    return -max(-lift(x), axis, keep_dims("min", keepdims, keepdim), dim=dim)


def _logsumexp(x, axis=None, keepdims=False):
    # log Σ e^x = m + log Σ e^(x - m) with m = max x, so no exp overflows
    m = x.max(axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    out = xp.log(xp.exp(x - m).sum(axis=axis, keepdims=True)) + m
    if keepdims:
        return out
    return out.reshape(()) if axis is None else xp.squeeze(out, axis=axis)


LOGSUMEXP = defprimitive(
    "logsumexp",
    _logsumexp,
    lambda F, g, ans, x, axis=None, keepdims=False: (
        g.reshape(keepdims_shape(x.shape, axis))
        * F.exp(x - ans.reshape(keepdims_shape(x.shape, axis)))
    ),
    saves=(0, "ans"),
    symbol="lse",
    formula="log Σ e^{0}",
    local="softmax({0})",
    vjp="{g} ⊙ softmax({0})",
    params=("axis", "keepdims"),
)


@tensor_function(LOGSUMEXP)
def logsumexp(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """log Σ e^x over ``axis``, computed stably; ∂/∂x = softmax(x). Fused for stability."""
    x = lift(x)
    keepdims = keep_dims("logsumexp", keepdims, keepdim)
    return apply(LOGSUMEXP, x, axis=normalize_axis(axis, x.ndim, dim), keepdims=keepdims)


# ---------------------------------------------------------------- arg reductions
def _arg(name, fn, x, axis, keepdims, dim, keepdim):
    x = lift(x)
    keepdims = keep_dims(name, keepdims, keepdim)
    axes = normalize_axis(axis, x.ndim, dim)
    if axes is not None and len(axes) != 1:
        raise ValueError(f"{name}: give one axis (or none for the flattened tensor), got {axes}")
    data = x.data
    if axes is None:
        out = fn(data.reshape(-1))
        out = out.reshape((1,) * data.ndim) if keepdims else out
    else:
        out = fn(data, axis=axes[0], keepdims=keepdims)
    return Tensor(xp.asarray(out))


def argmax(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Index of the largest element (of the flattened tensor, or along ``axis``/``dim``);
    an integer tensor outside the graph. Ties: the first index, as NumPy and PyTorch."""
    return _arg("argmax", xp.argmax, x, axis, keepdims, dim, keepdim)


def argmin(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Index of the smallest element (see :func:`argmax`)."""
    return _arg("argmin", xp.argmin, x, axis, keepdims, dim, keepdim)
