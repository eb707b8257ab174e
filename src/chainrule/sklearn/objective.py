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

The targets a loss function receives are what the DataLoader yields: int class indices
(softmax) or a float matrix (n, n_outputs); with sample weights, a float matrix whose
last column holds the weights (so one ``ArrayDataset`` carries both through shuffling).
"""

from __future__ import annotations

import numpy as np

from chainrule import nn, ops
from chainrule.autograd import apply, defprimitive
from chainrule.backend import xp
from chainrule.nn import functional as F
from chainrule.tensor import Tensor


def _l2(*ws, scale):
    total = 0.0
    for w in ws:
        flat = w.reshape(-1)
        total += float(flat @ flat)  # one BLAS dot per matrix
    return xp.asarray(0.5 * scale * total, dtype=ws[0].dtype)


def _l2_vjp(i, F, g, ans, *ws, scale):
    return g * scale * ws[i]  # ∂/∂W_i (scale/2 · Σ‖W‖²) = scale · W_i


L2_PENALTY = defprimitive("sklearn_l2_penalty", _l2, _l2_vjp, variadic=True)


def l2_penalty(weights, scale):
    """``scale/2 · Σ_l ‖W_l‖²`` as one graph node (VJP ``g · scale · W_l``).

    The same value and gradient as ``cr.nn.l2_penalty(model, scale)``, fused because
    that one is composed of a square, a sum and an add per matrix: on sklearn-sized
    batches (200 rows of digits) those nodes took a quarter of every training step.
    """
    return apply(L2_PENALTY, *weights, scale=float(scale))


def _data_loss(kind: str, z: Tensor, target, weight):
    """Σ_i w_i ℓ_i / Σ_i w_i (or the plain mean over rows without weights)."""
    n = z.shape[0]
    if kind == "softmax":
        if weight is None:
            return F.cross_entropy(z, target)
        per_row = F.cross_entropy(z, target, reduction="none")
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
        # is sklearn's half Poisson deviance (0 for a perfect fit)
        y = np.asarray(target)
        const = np.where(y > 0, y * np.log(np.where(y > 0, y, 1)), 0) - y
        per_elem = ops.exp(z) - z * y + const
        if weight is None:
            return per_elem.sum() * (1.0 / n)
        per_row = per_elem.sum(axis=1)
    else:  # pragma: no cover - out_activation_ is always one of the above
        raise ValueError(f"unknown output activation {kind!r}")
    return (per_row * weight).sum() * (1.0 / _total(weight))


def _total(weight) -> float:
    """Σ w over the batch; a batch whose rows all weigh 0 adds nothing (no 0/0)."""
    return float(weight.sum()) or 1.0


def make_loss(model, kind: str, alpha: float, l1: float, weighted: bool, dtype):
    """``loss_fn(z, targets) -> scalar Tensor``: the objective J above for one batch."""
    label_targets = kind == "softmax"
    weights = [lin.weight for lin in model.linears]  # biases are not penalized

    def loss_fn(z, targets):
        weight = None
        if weighted:
            weight = targets[:, -1].astype(dtype)
            targets = targets[:, :-1]
            if label_targets:
                targets = targets[:, 0].astype(np.int64)
        loss = _data_loss(kind, z, targets, weight)
        norm = _total(weight) if weighted else z.shape[0]
        if alpha > 0:
            loss = loss + l2_penalty(weights, alpha / norm)
        if l1 > 0:
            loss = loss + nn.l1_penalty(model, l1 / norm)
        return loss

    return loss_fn


def pack_targets(targets, sample_weight, dtype):
    """One array for the DataLoader: the targets, plus the weights as a last column."""
    if sample_weight is None:
        return targets
    t = targets.reshape(len(targets), -1).astype(dtype)
    return np.concatenate([t, sample_weight.reshape(-1, 1).astype(dtype)], axis=1)
