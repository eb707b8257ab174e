"""Gradient clipping: rescale or clamp ``p.grad`` before the optimizer step.

Re-exported as ``chainrule.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``. Both replace
each ``p.grad`` with a new Tensor instead of writing into the old array, because one
gradient array may be shared by several parameters.
"""

from __future__ import annotations

import math

from chainrule import backend
from chainrule.tensor import Tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    seen, params = set(), []
    for p in parameters:
        if p.grad is not None and id(p) not in seen:
            seen.add(id(p))
            params.append(p)
    return params


def clip_grad_norm_(
    parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False
) -> float:
    r"""Scale all gradients together so their joint norm is at most ``max_norm``.

    Same arithmetic as ``torch.nn.utils.clip_grad_norm_``::

        N ← ‖(‖g₁‖ₚ, ‖g₂‖ₚ, ...)‖ₚ          the norm of all gradients as one vector
        c ← min(1, max_norm / (N + 1e-6))
        gᵢ ← c·gᵢ                            (skipped when c = 1)

    ``norm_type`` is p: 2 (default), ``inf`` (largest absolute entry) or any p > 0.
    Returns N as a Python float (the norm *before* clipping — log it to watch for
    exploding gradients). Raises ``RuntimeError`` when N is nan/inf and
    ``error_if_nonfinite`` is set.
    """
    params = _grads(parameters)
    norm_type = float(norm_type)
    if max_norm < 0 or math.isnan(max_norm):
        raise ValueError(f"clip_grad_norm_: invalid max_norm {max_norm!r} (must be >= 0)")
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: invalid norm_type {norm_type!r} (must be > 0)")
    if not params:
        return 0.0
    norms = []
    for p in params:
        g = p.grad.data
        xp = backend.namespace_of(g)
        if norm_type == math.inf:
            norms.append(float(xp.max(xp.abs(g))) if g.size else 0.0)
        elif norm_type == 2.0:
            flat = g.reshape(-1)
            norms.append(math.sqrt(float(xp.dot(flat, flat))))
        else:
            norms.append(float(xp.sum(xp.abs(g) ** norm_type)) ** (1.0 / norm_type))
    if norm_type == math.inf:
        total = max(norms)
    else:
        total = math.fsum(n**norm_type for n in norms) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
            f"{total}; set error_if_nonfinite=False to clip anyway"
        )
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:  # also when nan: like torch, a nan norm turns every gradient nan
        for p in params:
            p.grad = Tensor(p.grad.data * coef)
    return total


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient entry into ``[-clip_value, clip_value]`` (new arrays)."""
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: invalid clip_value {clip_value!r} (must be >= 0)")
    for p in _grads(parameters):
        g = p.grad.data
        p.grad = Tensor(backend.namespace_of(g).clip(g, -clip_value, clip_value))
