"""Fused primitives for the classifier's output: softmax, log_softmax, cross_entropy.

Composing these from exp/sum/log would overflow for logits of magnitude ~100 in float32
and waste memory; fused, they subtract the row max first (``log Σ e^a = m + log Σ e^(a-m)``)
and their VJPs are the closed forms the lecture derives: for softmax + negative
log-likelihood, ``∂L/∂a = p - y`` (probabilities minus the one-hot label).
"""

from __future__ import annotations

from chainrule.autograd.primitive import DIFF, RAW, apply, defprimitive
from chainrule.backend import xp
from chainrule.errors import ShapeError
from chainrule.ops.operands import lift
from chainrule.ops.reduce import _logsumexp
from chainrule.tensor import Tensor


def _softmax(x, axis=-1):
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


SOFTMAX = defprimitive(
    "softmax",
    _softmax,
    lambda F, g, ans, x, axis=-1: ans * (g - (g * ans).sum(axis=axis, keepdims=True)),
)


def _log_softmax(x, axis=-1):
    return x - _logsumexp(x, axis=axis, keepdims=True)


LOG_SOFTMAX = defprimitive(
    "log_softmax",
    _log_softmax,
    lambda F, g, ans, x, axis=-1: g - F.exp(ans) * g.sum(axis=axis, keepdims=True),
)


def softmax(x, axis=-1):
    """p_k = e^(a_k) / Σ_c e^(a_c) along ``axis``; VJP: p ⊙ (g - Σ g p)."""
    return apply(SOFTMAX, lift(x), axis=int(axis))


def log_softmax(x, axis=-1):
    """log p_k = a_k - log Σ_c e^(a_c) along ``axis``; VJP: g - p Σ g."""
    return apply(LOG_SOFTMAX, lift(x), axis=int(axis))


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


RAW.minus_one_hot = _minus_one_hot_raw
DIFF.minus_one_hot = _minus_one_hot_diff


def _cross_entropy_vjp(F, g, ans, x, labels, reduction="mean"):
    # ∂L/∂a = softmax(a) - onehot(y), scaled by the upstream gradient of each row
    n = x.shape[0]
    delta = F.minus_one_hot(F.softmax(x, axis=1), labels)
    if reduction == "none":
        return delta * g.reshape((n, 1))
    delta *= g / n if reduction == "mean" else g  # in place on the fresh raw array
    return delta


CROSS_ENTROPY = defprimitive("cross_entropy", _cross_entropy, _cross_entropy_vjp)

REDUCTIONS = ("mean", "sum", "none")


def check_labels(name, logits, labels):
    """Integer class labels as a raw array, checked against ``logits`` of shape (N, C)."""
    labels = xp.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if labels.dtype.kind not in "iu":
        if labels.dtype.kind == "f" and labels.size and (labels == xp.round(labels)).all():
            labels = labels.astype(xp.int64)
        else:
            raise TypeError(f"{name}: labels must be integer class indices, got {labels.dtype}")
    if logits.ndim != 2:
        raise ShapeError(f"{name}: logits must have shape (batch, classes), got {logits.shape}")
    if labels.shape != (logits.shape[0],):
        raise ShapeError(
            f"{name}: logits have batch size {logits.shape[0]} but labels have shape {labels.shape}"
        )
    if labels.size:
        lo, hi = int(labels.min()), int(labels.max())
        c = logits.shape[1]
        if lo < 0 or hi >= c:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{name}: label {bad} is out of range for {c} classes (0..{c - 1})")
    return labels


def cross_entropy(logits, labels, reduction="mean"):
    """Softmax + negative log-likelihood of integer ``labels``, fused and stable:
    ``L_i = log Σ_c e^(a_ic) - a_i,y_i``; ``reduction`` is "mean", "sum" or "none"."""
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"cross_entropy: unknown reduction {reduction!r}; choose from {REDUCTIONS}"
        )
    logits = lift(logits)
    labels = check_labels("cross_entropy", logits, labels)
    return apply(CROSS_ENTROPY, logits, labels=labels, reduction=reduction)
