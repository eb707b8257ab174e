"""Regularization: the lecture's L2 penalty (weight decay), the L1 penalty, and optimizer
parameter groups that keep biases out of weight decay.

The lecture's loss is ``L = -Σ_j y_j log p(c_j | x) + λ/2 ‖W‖²``: the penalty is on the
weights, not the biases (a bias does not scale an input, so shrinking it does not make
the function smoother). Its gradient is ``λW``, which is exactly what
``SGD(weight_decay=λ)`` adds to each gradient — so adding ``l2_penalty(model, λ)`` to
the loss and using plain SGD gives the same trajectory as ``SGD(param_groups(model, λ))``.
"""

from __future__ import annotations

from chainrule.nn.module import Module
from chainrule.tensor import Tensor


def _select(params_or_module, include_bias, name):
    """The tensors a penalty applies to.

    A Module: its weight tensors (ndim >= 2), plus biases and other 1-D parameters when
    ``include_bias``. An explicit iterable of tensors: all of them, unless
    ``include_bias=False`` is passed to drop the 1-D ones.
    """
    if isinstance(params_or_module, Module):
        params = list(params_or_module.parameters())
        if include_bias is None:
            include_bias = False
    elif isinstance(params_or_module, Tensor):
        params = [params_or_module]
    else:
        params = list(params_or_module)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"{name}: expected a Module or Tensors, got {type(p).__name__}")
    if include_bias is False:
        params = [p for p in params if p.ndim >= 2]
    return params


def l2_penalty(params_or_module, lam, include_bias=None):
    """``λ/2 · Σ ‖W‖²`` (sum of squares of every selected tensor), a differentiable
    scalar to add to the loss; its gradient is ``λW``.

    By default a Module contributes its weight matrices only (ndim >= 2, not biases,
    as on the lecture's slide); ``include_bias=True`` adds the biases. An explicit list
    of tensors is used as given (``include_bias=False`` filters out the 1-D ones).
    """
    params = _select(params_or_module, include_bias, "l2_penalty")
    if not params:
        raise ValueError("l2_penalty: no parameters to penalize")
    total = None
    for p in params:
        sq = (p * p).sum()
        total = sq if total is None else total + sq
    return total * (0.5 * lam)


def l1_penalty(params_or_module, lam, include_bias=None):
    """``λ · Σ |W|``, a differentiable scalar to add to the loss (gradient ``λ sign(W)``);
    selects tensors exactly like :func:`l2_penalty`. Drives small weights to exactly 0
    (sparsity) where L2 only shrinks them."""
    params = _select(params_or_module, include_bias, "l1_penalty")
    if not params:
        raise ValueError("l1_penalty: no parameters to penalize")
    total = None
    for p in params:
        s = abs(p).sum()
        total = s if total is None else total + s
    return total * lam


def param_groups(model, weight_decay, **options):
    """Optimizer parameter groups with weight decay on the weights only:

    ``[{"params": [weights (ndim >= 2)], "weight_decay": weight_decay, **options},
    {"params": [biases and other 1-D parameters], "weight_decay": 0.0, **options}]``

    (a group with no parameters is left out). Pass it where an optimizer takes
    parameters: ``cr.optim.SGD(cr.nn.param_groups(model, 1e-4), lr=0.1)``.
    """
    params = list(model.parameters()) if isinstance(model, Module) else list(model)
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = []
    if decay:
        groups.append({"params": decay, "weight_decay": float(weight_decay), **options})
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0, **options})
    return groups


__all__ = ["l1_penalty", "l2_penalty", "param_groups"]
