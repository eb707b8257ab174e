"""The training objective, with scikit-learn's exact definitions, on chainrule tensors.

For a batch of n rows with sample weights w (all 1 when none are given), outputs z (the
MLP's logits) and the weight matrices W_l (biases are not penalized)::

    J = Σ_i w_i ℓ(z_i, y_i) / Σ_i w_i  +  α/2 · Σ_l ‖W_l‖² / Σ_i w_i  [+ l1 · Σ_l |W_l| / Σ_i w_i]

with ℓ, per output activation (sklearn's ``LOSS_FUNCTIONS``):

    softmax   (multiclass)          ℓ = -log softmax(z)_y               (log_loss)
    logistic  (binary, multilabel)  ℓ = Σ_k -[y_k log σ(z_k) + (1-y_k) log σ(-z_k)]
    identity  (squared_error)       ℓ = 1/2 · Σ_k (z_k - y_k)²
    exp       (poisson)             ℓ = Σ_k [y_k log(y_k/ŷ_k) - y_k + ŷ_k],  ŷ = e^z

sklearn evaluates the log losses on clipped probabilities; here they are computed from the
logits (fused, stable), which only differs where sklearn's clip at machine epsilon
bites. The l1 term is chainrule's addition and scaled like α's.

Multi-output squared error: sklearn's reported ``loss_`` averages over the outputs but its
gradient (``delta = ŷ - y``, divided by n only) is the gradient of the *sum* over
outputs. chainrule optimizes that sum — the same gradient, so the same training
trajectory — and reports the objective it optimizes (with one output they coincide).

**Where the L2 term goes.** Its gradient ``α·W_l / Σw`` is exactly what coupled weight
decay adds to a gradient, so for the stochastic solvers it is applied by the optimizer
(``cr.nn.param_groups``: a weight group whose ``weight_decay`` is set to ``α / Σw`` before
every step, by :class:`~chainrule.sklearn.convergence.SklearnL2`), and its *value*, one
BLAS dot per matrix outside the graph, is added by the same callback to the epoch's
loss (``loss_curve_``): composed in the graph (a square, a sum and an add per matrix) it
took a quarter of every training step on sklearn-sized batches, and kept out of the
batch loss the step is a pure function of the batch, which ``cr.compile`` can replay. L-BFGS
has no optimizer, so there the term is part of the graph (``cr.nn.l2_penalty``).

The targets a loss function receives are what the DataLoader yields: int class indices
(softmax) or a float matrix (n, n_outputs); with sample weights, a float matrix whose
last column holds the weights (so one ``ArrayDataset`` carries both through shuffling).
"""

from __future__ import annotations

import numpy as np

from chainrule import nn, ops
from chainrule.nn import functional as F
from chainrule.ops.selection import equal
from chainrule.tensor import Tensor


def _data_loss(kind: str, z: Tensor, target, weight):
    """Σ_i w_i ℓ_i / Σ_i w_i (or the plain mean over rows without weights)."""
    n = z.shape[0]
    if kind == "softmax":
        if weight is None:
            return F.cross_entropy(z, target)
        # the engine's fused primitive, as F.cross_entropy runs it for class indices
        # (there is no ignore_index here, so no branch on the labels' values)
        per_row = ops.cross_entropy(z, target, reduction="none")
    elif kind == "logistic":
        per_elem = F.binary_cross_entropy_with_logits(z, target, reduction="none")
        if weight is None:
            return per_elem.sum() * (1.0 / n)
        per_row = per_elem.sum(axis=1)
    elif kind == "identity":
        if weight is None:
            return F.mse_loss(z, target) * (0.5 * z.shape[1])
        d = z - target
        per_row = (d * d).sum(axis=1) * 0.5
    elif kind == "exp":
        # ŷ - y·z + (y log y - y): the last part is constant in z, kept so that the value
        # is sklearn's half Poisson deviance (0 for a perfect fit); y >= 0 (checked by the
        # regressor), so "y > 0" is "not y == 0"
        # (chainrule ops on the targets, not NumPy: cr.compile replays only what it
        # sees computed from the step's arguments)
        y = target if isinstance(target, Tensor) else Tensor(np.asarray(target, dtype=z.dtype))
        zero = equal(y, 0.0)
        const = ops.where(zero, 0.0, y * ops.log(ops.where(zero, 1.0, y))) - y
        per_elem = ops.exp(z) - z * y + const
        if weight is None:
            return per_elem.sum() * (1.0 / n)
        per_row = per_elem.sum(axis=1)
    else:  # pragma: no cover - out_activation_ is always one of the above
        raise ValueError(f"unknown output activation {kind!r}")
    return (per_row * weight).sum() * _over_total(1.0, weight)


def batch_norm(targets, weighted: bool) -> float:
    """The batch's divisor: Σw with sample weights (the targets' last column), else n."""
    return _total(targets[:, -1]) if weighted else float(len(targets))


def _total(weight) -> float:
    """Σ w over the batch; a batch whose rows all weigh 0 adds nothing (no 0/0)."""
    return float(weight.sum()) or 1.0


def _over_total(numerator: float, weight: Tensor) -> Tensor:
    """``numerator / Σw`` (Σw = 1 when it is 0, as :func:`_total`) as a 0-d Tensor of
    the weights' dtype, by ops: the same bits as the Python float ``numerator /
    _total(w)`` (the division in float64, then one rounding), but computed from each
    batch's weights, so that a compiled step replays it."""
    total = weight.sum()
    total = ops.where(equal(total, 0.0), 1.0, total)
    return ops.astype(numerator / ops.astype(total, np.float64), weight.dtype)


def half_squared_norm(weights) -> float:
    """``1/2 · Σ_l ‖W_l‖²``, outside the graph (one BLAS dot per matrix)."""
    total = 0.0
    for w in weights:
        flat = w.data.reshape(-1)
        total += float(flat @ flat)
    return 0.5 * total


def make_loss(model, kind, alpha, l1, weighted, dtype, l2_in_graph=False, weight_decay=0.0):
    """``loss_fn(z, targets) -> scalar Tensor``: the objective J above for one batch.

    With ``l2_in_graph=False`` (adam, sgd) the L2 term is left out: the optimizer's
    weight decay supplies its gradient and
    :class:`~chainrule.sklearn.convergence.SklearnL2` adds its value to the epoch's
    loss (see the module docstring). With
    ``l2_in_graph=True`` (L-BFGS, which has no optimizer) chainrule's ``weight_decay`` λ
    joins the graph as ``λ/2 · Σ‖W‖²``, the term whose gradient coupled decay adds.

    With sample weights the weights, targets and labels are sliced out of the batch with
    ops (not NumPy), so a compiled step recomputes them from every batch."""
    label_targets = kind == "softmax"

    def loss_fn(z, targets):
        weight = None
        if weighted:
            t = targets if isinstance(targets, Tensor) else Tensor(targets)
            weight = ops.astype(t[:, -1], dtype)
            targets = t[:, :-1]
            if label_targets:
                targets = ops.astype(targets[:, 0], np.int64)
        loss = _data_loss(kind, z, targets, weight)
        if l2_in_graph and (alpha > 0 or weight_decay > 0):
            norm = _total(weight.data) if weighted else z.shape[0]
            loss = loss + nn.l2_penalty(model, alpha / norm + weight_decay)
        if l1 > 0:
            lam = _over_total(l1, weight) if weighted else l1 / z.shape[0]
            loss = loss + nn.l1_penalty(model, lam)
        return loss

    return loss_fn


def pack_targets(targets, sample_weight, dtype):
    """One array for the DataLoader: the targets, plus the weights as a last column."""
    if sample_weight is None:
        return targets
    t = targets.reshape(len(targets), -1).astype(dtype)
    return np.concatenate([t, sample_weight.reshape(-1, 1).astype(dtype)], axis=1)
