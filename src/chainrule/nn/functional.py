"""Functional forms of layers and losses (``cr.nn.functional``, imported as ``F``).

Names, arguments and definitions follow ``torch.nn.functional``. Every loss takes
``reduction="mean" | "sum" | "none"`` and checks that input and target agree on batch
size (the error names both). Activations are single graph nodes (fused primitives);
losses are composed from primitives except where a fused one is faster or stabler
(plain cross-entropy, binary cross-entropy).
"""

from __future__ import annotations

import numbers

from chainrule import backend
from chainrule.autograd.primitive import apply
from chainrule.backend import xp
from chainrule.errors import ShapeError
from chainrule.nn.primitives import (
    binary_cross_entropy_elementwise,
    elu,
    erf,
    gelu,
    log_sigmoid,
)
from chainrule.ops import (
    getitem,
    leaky_relu,
    linear,
    relu,
    sigmoid,
    tanh,
    where,
)
from chainrule.ops import log_softmax as _log_softmax
from chainrule.ops import softmax as _softmax
from chainrule.ops.cast import astype
from chainrule.ops.fused import CROSS_ENTROPY
from chainrule.ops.labels import logits_labels
from chainrule.ops.operands import constant, lift
from chainrule.ops.selection import equal, take
from chainrule.tensor import Tensor

REDUCTIONS = ("mean", "sum", "none")


# ---------------------------------------------------------------- activations
def softmax(x, dim=-1, *, axis=None):
    """``p_k = e^(a_k) / Σ_c e^(a_c)`` along ``dim`` (default: the last axis)."""
    return _softmax(x, dim if axis is None else axis)


def log_softmax(x, dim=-1, *, axis=None):
    """``log p_k = a_k - log Σ_c e^(a_c)`` along ``dim``, stable for any magnitude."""
    return _log_softmax(x, dim if axis is None else axis)


def dropout(x, p=0.5, training=True):
    """Inverted dropout: zero each element with probability ``p`` and scale the survivors
    by ``1/(1-p)``, so the expected activation is unchanged and evaluation needs no
    rescaling. Identity when ``training`` is False or ``p == 0``.

    The mask comes from chainrule's seeded generator (``cr.manual_seed``); it is a
    constant of the graph, so the backward pass multiplies by the same mask.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    x = lift(x)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * xp.zeros(x.shape, dtype=x.dtype)
    keep = backend.rng().random(x.shape) >= p
    mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))
    return x * mask


# ---------------------------------------------------------------- helpers
def _check_reduction(name, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: unknown reduction {reduction!r}; choose from {REDUCTIONS}")


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.mean()


def _check_same_shape(name, input, target):
    if input.shape == target.shape:
        return
    n_in = input.shape[0] if input.ndim else None
    n_t = target.shape[0] if target.ndim else None
    if n_in != n_t:
        raise ShapeError(
            f"{name}: input has batch size {n_in} but target has batch size {n_t} "
            f"(input {input.shape}, target {target.shape})"
        )
    raise ShapeError(
        f"{name}: input has shape {input.shape} but target has shape {target.shape}; they "
        "must be the same (PyTorch would silently broadcast them)"
    )


def _target(target, like):
    """The target as a Tensor in the input's float dtype (it may require grad)."""
    if isinstance(target, Tensor):
        if target.dtype != like.dtype and not target.requires_grad:
            return Tensor(target.data.astype(like.dtype))
        return target
    return Tensor(xp.asarray(target, dtype=like.dtype))


def _class_weight(name, weight, n_classes, dtype):
    """The class weights as a Tensor of the input's dtype, or None.

    A Tensor keeps its identity (cast by an op when its dtype differs), so a compiled step
    reads its current values at every replay; an array or list becomes a new constant
    Tensor. The loss is not differentiated with respect to the weights (PyTorch refuses a
    weight that requires grad; here it is detached)."""
    if weight is None:
        return None
    if isinstance(weight, Tensor):
        w = weight.detach() if weight.requires_grad else weight
        if w.dtype != dtype:
            w = astype(w, dtype)
    else:
        w = Tensor(xp.asarray(weight, dtype=dtype))
    if w.shape != (n_classes,):
        raise ShapeError(f"{name}: weight must have shape ({n_classes},), got {w.shape}")
    return w


def _no_ignored_rows(labels, ignore_index):
    """True when no label is ``ignore_index``: ``cross_entropy`` may take its fused path.

    A branch on the labels' values: ``cr.compile`` records this call's answer and asks
    again at every replay (``compile.known_calls``), capturing the step again when a
    batch would go the other way."""
    return not (labels == ignore_index).any()


class _ClassRows:
    """Per-row quantities of integer ``labels`` (N,), computed with ops so that a compiled
    step recomputes them from each call's labels:

    * ``ignored`` — the mask ``y_n == ignore_index``;
    * ``safe`` — the labels with ignored rows set to class 0 (a valid index);
    * ``kept`` — 1 for the rows not ignored, 0 for the others (in ``dtype``);
    * ``taken`` — ``w_{safe_n}``, each row's class weight, when ``w`` is given;
    * ``coef`` — ``w_{y_n}`` on the kept rows and 0 on the ignored ones (``kept`` when
      there are no weights).
    """

    def __init__(self, labels, w, ignore_index, dtype):
        n = labels.shape[0]
        y = Tensor(labels)
        zero = constant(0.0, dtype)
        self.ignored = equal(y, ignore_index)
        self.safe = where(self.ignored, Tensor(xp.zeros((), dtype=labels.dtype)), y)
        self.w = w
        self._kept = None
        self._ones = xp.ones(n, dtype=dtype)
        self._zero = zero
        if w is None:
            self.taken = None
            self.coef = self.kept
        else:
            self.taken = take(w, self.safe)
            self.coef = where(self.ignored, zero, self.taken)

    @property
    def kept(self):
        if self._kept is None:
            self._kept = where(self.ignored, self._zero, Tensor(self._ones))
        return self._kept


def _nll_from_log_probs(logp, rows, reduction):
    """``L_n = -c_n · logp[n, y_n]`` with ``c_n = w_{y_n}`` (0 on ignored rows); "mean"
    divides by ``Σ_n c_n``, the total weight of the rows not ignored (PyTorch's weighted
    mean)."""
    n = logp.shape[0]
    picked = getitem(logp, (xp.arange(n), rows.safe))
    losses = -(picked * rows.coef)
    if reduction == "none":
        return losses
    total = losses.sum()
    if reduction == "sum":
        return total
    return total / rows.coef.sum()


# ---------------------------------------------------------------- classification losses
def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of integer ``target`` given log-probabilities ``input``
    (N, C): ``L_n = -w_{y_n} · input[n, y_n]``; rows whose target is ``ignore_index``
    contribute 0, and "mean" divides by the total weight of the other rows."""
    _check_reduction("nll_loss", reduction)
    input = lift(input)
    labels = logits_labels("nll_loss", input, target, ignore_index=ignore_index)
    w = _class_weight("nll_loss", weight, input.shape[1], input.dtype)
    rows = _ClassRows(labels, w, ignore_index, input.dtype)
    return _nll_from_log_probs(input, rows, reduction)


def cross_entropy(
    input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0
):
    """Softmax + negative log-likelihood from logits ``input`` (N, C), as PyTorch defines it.

    ``target`` is either class indices (N,) — integers, or floats with integer values —
    or class probabilities (N, C), float.

    Class indices, with ``ε = label_smoothing`` and class weights ``w`` (default 1)::

        L_n = (1 - ε)·(-w_{y_n} log p_{n,y_n}) + (ε/C)·Σ_c (-w_c log p_{n,c})

    rows with ``target == ignore_index`` are dropped, and "mean" divides by
    ``Σ_n w_{y_n}`` over the kept rows. Probabilities ``q`` (smoothed to
    ``(1 - ε)q + ε/C``): ``L_n = -Σ_c w_c q_{n,c} log p_{n,c}``, and "mean" divides by N.

    The plain case (integer targets, no weight, no smoothing, no ignored rows) runs the
    engine's fused primitive (one node, VJP ``p - onehot(y)``); the others are composed
    from ``log_softmax`` and indexing. Both are stable for logits of any magnitude.
    """
    _check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    input = lift(input)
    raw_target = target.data if isinstance(target, Tensor) else xp.asarray(target)
    if raw_target.dtype.kind == "f" and raw_target.ndim == 2:
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing)
    labels = logits_labels("cross_entropy", input, raw_target, ignore_index=ignore_index)
    if weight is None and label_smoothing == 0.0 and _no_ignored_rows(labels, ignore_index):
        # the fused primitive directly: the labels are already checked
        return apply(CROSS_ENTROPY, input, labels=labels, reduction=reduction)
    n_classes = input.shape[1]
    w = _class_weight("cross_entropy", weight, n_classes, input.dtype)
    rows = _ClassRows(labels, w, ignore_index, input.dtype)
    logp = _log_softmax(input, 1)
    nll = _nll_from_log_probs(logp, rows, reduction)
    if label_smoothing == 0.0:
        return nll
    # the smoothing term: -Σ_c w_c log p_{n,c}, zero on ignored rows
    kept = rows.kept
    smooth = -((logp if w is None else logp * w).sum(axis=1)) * kept
    if reduction == "sum":
        smooth = smooth.sum()
    elif reduction == "mean":
        denom = kept.sum() if w is None else (rows.taken * kept).sum()
        smooth = smooth.sum() / denom
    return (1 - label_smoothing) * nll + smooth * (label_smoothing / n_classes)


def _cross_entropy_probs(input, target, weight, reduction, label_smoothing):
    target = _target(target, input)
    if input.ndim != 2:
        raise ShapeError(f"cross_entropy: input must be (batch, classes), got {input.shape}")
    _check_same_shape("cross_entropy", input, target)
    c = input.shape[1]
    if label_smoothing > 0.0:
        target = target * (1 - label_smoothing) + label_smoothing / c
    logp = _log_softmax(input, 1)
    w = _class_weight("cross_entropy", weight, c, input.dtype)
    prod = logp * target if w is None else logp * target * w
    losses = -prod.sum(axis=1)
    return _reduce(losses, reduction)  # "mean" divides by N, weights or not


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """``L = -w (y log p + (1 - y) log(1 - p))`` for probabilities ``input`` in [0, 1].

    Each log is clamped at -100 (PyTorch's rule), so p = 0 or 1 gives a finite loss.
    Prefer :func:`binary_cross_entropy_with_logits` on raw scores: it is stable.
    """
    _check_reduction("binary_cross_entropy", reduction)
    input = lift(input)
    target = _target(target, input)
    _check_same_shape("binary_cross_entropy", input, target)
    if input.size and ((input.data < 0).any() or (input.data > 1).any()):
        raise ValueError("binary_cross_entropy: all elements of input must be in [0, 1]")
    loss = binary_cross_entropy_elementwise(input, target)
    if weight is not None:
        loss = loss * _target(weight, input)
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """Sigmoid + binary cross-entropy from raw scores ``x``, stable for any magnitude:

    ``L = w [(1 - y) x - (1 + (pw - 1) y) log σ(x)]``

    which equals ``-w [pw·y log σ(x) + (1 - y) log(1 - σ(x))]``; ``pos_weight`` (pw,
    broadcast over the last axis) scales the positive term, as in PyTorch.
    """
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    input = lift(input)
    target = _target(target, input)
    _check_same_shape("binary_cross_entropy_with_logits", input, target)
    log_sig = log_sigmoid(input)
    if pos_weight is not None:
        log_sig = log_sig * ((_target(pos_weight, input) - 1) * target + 1)
    loss = (1 - target) * input - log_sig
    if weight is not None:
        loss = loss * _target(weight, input)
    return _reduce(loss, reduction)


# ---------------------------------------------------------------- regression losses
def mse_loss(input, target, reduction="mean"):
    """Mean squared error ``(x - y)²``. Shapes must match exactly (PyTorch broadcasts
    with a warning; a (N, 1) output against (N,) targets is almost always a bug)."""
    _check_reduction("mse_loss", reduction)
    input = lift(input)
    target = _target(target, input)
    _check_same_shape("mse_loss", input, target)
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input, target, reduction="mean"):
    """Mean absolute error ``|x - y|`` (gradient sign(x - y), 0 at a tie)."""
    _check_reduction("l1_loss", reduction)
    input = lift(input)
    target = _target(target, input)
    _check_same_shape("l1_loss", input, target)
    return _reduce(abs(input - target), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """``½d²`` where ``|d| < δ``, else ``δ(|d| - ½δ)``, with ``d = x - y``: quadratic near
    0, linear in the tails (gradients bounded by δ)."""
    _check_reduction("huber_loss", reduction)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    input = lift(input)
    target = _target(target, input)
    _check_same_shape("huber_loss", input, target)
    d = input - target
    a = abs(d)
    loss = where(a.data < delta, 0.5 * d * d, delta * (a - 0.5 * delta))
    return _reduce(loss, reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """``½d²/β`` where ``|d| < β``, else ``|d| - ½β`` (Huber loss divided by β);
    ``beta=0`` is the L1 loss."""
    _check_reduction("smooth_l1_loss", reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    if beta == 0:
        return l1_loss(input, target, reduction)
    input = lift(input)
    target = _target(target, input)
    _check_same_shape("smooth_l1_loss", input, target)
    d = input - target
    a = abs(d)
    loss = where(a.data < beta, 0.5 * d * d / beta, a - 0.5 * beta)
    return _reduce(loss, reduction)


# ---------------------------------------------------------------- encoding
def one_hot(labels, num_classes=-1):
    """Integer labels (any shape) -> int64 one-hot with a new last axis of length
    ``num_classes`` (default: max label + 1), like ``torch.nn.functional.one_hot``."""
    arr = xp.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be integers, got {arr.dtype}")
    if num_classes == -1:
        num_classes = int(arr.max()) + 1 if arr.size else 0
    if not isinstance(num_classes, numbers.Integral) or num_classes < 0:
        raise ValueError(f"one_hot: num_classes must be a non-negative int, got {num_classes}")
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise ValueError(
            f"one_hot: labels must be in [0, {num_classes}), got {arr.min()}..{arr.max()}"
        )
    out = xp.zeros((*arr.shape, num_classes), dtype=xp.int64)
    xp.put_along_axis(out, arr[..., None].astype(xp.intp), 1, axis=-1)
    return Tensor(out)


__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "dropout",
    "elu",
    "erf",
    "gelu",
    "huber_loss",
    "l1_loss",
    "leaky_relu",
    "linear",
    "log_sigmoid",
    "log_softmax",
    "mse_loss",
    "nll_loss",
    "one_hot",
    "relu",
    "sigmoid",
    "smooth_l1_loss",
    "softmax",
    "tanh",
]
