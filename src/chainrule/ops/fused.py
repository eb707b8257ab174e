"""Fused primitives for the classifier's output: softmax, log_softmax, cross_entropy.

Composing these from exp/sum/log would overflow for logits of magnitude ~100 in float32
and waste memory; fused, they subtract the row max first (``log Σ e^a = m + log Σ e^(a-m)``)
and their VJPs are the closed forms: for softmax + negative log-likelihood,
``L = −log p_y`` with ``p = softmax(a)``, ``∂L/∂a = p − y`` (probabilities minus the
one-hot label).
"""

from __future__ import annotations

from chainrule.autograd.primitive import apply, defprimitive, namespace_helper, tensor_function
from chainrule.backend import xp
from chainrule.ops.labels import logits_labels
from chainrule.ops.operands import lift
from chainrule.ops.reduce import _logsumexp


def _one_axis(name, axis, dim):
    if dim is not None:
        if axis not in (-1, None, dim):
            raise TypeError(f"{name}: pass either axis or dim, not both")
        axis = dim
    return int(axis)


def _softmax(x, axis=-1):
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


SOFTMAX = defprimitive(
    "softmax",
    _softmax,
    lambda F, g, ans, x, axis=-1: ans * (g - (g * ans).sum(axis=axis, keepdims=True)),
    saves=("ans",),
    symbol="softmax",
    formula="softmax({0})",
    vjp="{out} ⊙ ({g} − Σ {g} ⊙ {out})",
    sentence="softmax: p ⊙ (upstream − Σ upstream ⊙ p)",
)


@tensor_function(SOFTMAX)
def softmax(x, axis=-1, *, dim=None):
    """p_k = e^(a_k) / Σ_c e^(a_c) along ``axis``; ∂p_k/∂a_j = p_k(δ_kj − p_j), so the
    VJP is p ⊙ (g − Σ g p). ``dim`` is PyTorch's name for ``axis``."""
    return apply(SOFTMAX, lift(x), axis=_one_axis("softmax", axis, dim))


def _log_softmax(x, axis=-1):
    return x - _logsumexp(x, axis=axis, keepdims=True)


LOG_SOFTMAX = defprimitive(
    "log_softmax",
    _log_softmax,
    lambda F, g, ans, x, axis=-1: g - F.exp(ans) * g.sum(axis=axis, keepdims=True),
    saves=("ans",),
    symbol="log_softmax",
    formula="log_softmax({0})",
    vjp="{g} − softmax({0}) · Σ {g}",
    sentence="log_softmax: with the NLL loss above it, this gives p − y",
)


@tensor_function(LOG_SOFTMAX)
def log_softmax(x, axis=-1, *, dim=None):
    """log p_k = a_k − log Σ_c e^(a_c) along ``axis``; ∂/∂a_j = δ_kj − p_j, so the VJP
    is g − p Σ g. ``dim`` is PyTorch's name for ``axis``."""
    return apply(LOG_SOFTMAX, lift(x), axis=_one_axis("log_softmax", axis, dim))


def _one_hot(labels, n_classes, dtype):
    out = xp.zeros((labels.shape[0], n_classes), dtype=dtype)
    out[xp.arange(labels.shape[0]), labels] = 1
    return out


def _cross_entropy(x, labels, reduction="mean"):
    # L_i = log Σ_c e^(z_ic) - z_i,y_i with z = a - max_c a (the max cancels). A row whose
    # max is ±inf or nan gives nan either way, so no finiteness guard is needed here.
    n = x.shape[0]
    z = x - x.max(axis=1, keepdims=True)
    losses = xp.log(xp.exp(z).sum(axis=1)) - z[xp.arange(n), labels]
    if reduction == "none":
        return losses
    total = losses.sum()
    return total / n if reduction == "mean" else total


def _minus_one_hot_raw(p, labels):
    """``p - onehot(labels)`` on a fresh array ``p``: 1 is subtracted in place at each
    row's label, so no (N, C) one-hot array is built."""
    p[xp.arange(p.shape[0]), labels] -= 1
    return p


def _minus_one_hot_diff(p, labels):
    return p - _one_hot(labels, p.shape[1], p.dtype)


namespace_helper("minus_one_hot", raw=_minus_one_hot_raw, diff=_minus_one_hot_diff)


def _cross_entropy_vjp(F, g, ans, x, labels, reduction="mean"):
    # ∂L/∂a = softmax(a) - onehot(y), scaled by the upstream gradient of each row
    n = x.shape[0]
    delta = F.minus_one_hot(F.softmax(x, axis=1), labels)
    if reduction == "none":
        return delta * g.reshape((n, 1))
    delta *= g / n if reduction == "mean" else g  # in place on the fresh raw array
    return delta


CROSS_ENTROPY = defprimitive(
    "cross_entropy",
    _cross_entropy,
    _cross_entropy_vjp,
    saves=(0,),
    symbol="xent",
    formula="cross_entropy({0}, labels)",
    vjp="(softmax({0}) − onehot(labels)) · {g} / N",
    params=("reduction",),
    sentence="softmax + negative log-likelihood, fused: the gradient is (p − y) / N",
)

REDUCTIONS = ("mean", "sum", "none")


@tensor_function(CROSS_ENTROPY)
def cross_entropy(logits, labels, reduction="mean"):
    """Softmax + negative log-likelihood of integer ``labels``, fused and stable:
    ``L_i = log Σ_c e^(a_ic) − a_i,y_i``, so ∂L_i/∂a_i = p_i − onehot(y_i) (divided by N
    for the mean); ``reduction`` is "mean", "sum" or "none"."""
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"cross_entropy: unknown reduction {reduction!r}; choose from {REDUCTIONS}"
        )
    logits = lift(logits)
    labels = logits_labels("cross_entropy", logits, labels)
    return apply(CROSS_ENTROPY, logits, labels=labels, reduction=reduction)
