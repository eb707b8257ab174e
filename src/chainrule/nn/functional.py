"""Functional forms of layers and losses (``cr.nn.functional``, imported as ``F``)."""

from __future__ import annotations

from chainrule.ops import (
    cross_entropy as _fused_cross_entropy,
)
from chainrule.ops import (
    leaky_relu,
    linear,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    tanh,
)


def cross_entropy(logits, labels, reduction="mean"):
    """Softmax + negative log-likelihood from logits and integer labels (fused, stable)."""
    return _fused_cross_entropy(logits, labels, reduction=reduction)


__all__ = [
    "cross_entropy",
    "leaky_relu",
    "linear",
    "log_softmax",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
]
