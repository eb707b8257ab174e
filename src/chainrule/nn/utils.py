"""``cr.nn.utils``: PyTorch's helpers for gradients and flat parameter vectors.

``clip_grad_norm_`` and ``clip_grad_value_`` live with the optimizers
(``chainrule.optim.clipping``) and are re-exported here under torch's path.
"""

from __future__ import annotations

from chainrule.backend import xp
from chainrule.errors import ShapeError
from chainrule.ops import concatenate, reshape
from chainrule.tensor import Tensor


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients together so their joint ``norm_type``-norm is at most
    ``max_norm``; returns the norm before clipping. See ``chainrule.optim.clipping``."""
    from chainrule.optim.clipping import clip_grad_norm_ as clip

    return clip(parameters, max_norm, norm_type, error_if_nonfinite)


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element to ``[-clip_value, clip_value]``.
    See ``chainrule.optim.clipping``."""
    from chainrule.optim.clipping import clip_grad_value_ as clip

    return clip(parameters, clip_value)


def _as_list(parameters):
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def parameters_to_vector(parameters):
    """All parameters flattened and joined into one 1-D Tensor (differentiable, like
    torch's: a gradient w.r.t. the vector flows back to each parameter)."""
    params = _as_list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: no parameters")
    return concatenate([reshape(p, (-1,)) for p in params])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D ``vec`` into each parameter's data, in place
    (torch makes the parameters views of ``vec``; a copy is safer and the values are
    the same)."""
    arr = vec.data if isinstance(vec, Tensor) else xp.asarray(vec)
    if arr.ndim != 1:
        raise ShapeError(f"vector_to_parameters: vec must be 1-D, got shape {arr.shape}")
    params = _as_list(parameters)
    total = sum(p.size for p in params)
    if arr.size != total:
        raise ShapeError(
            f"vector_to_parameters: vec has {arr.size} elements but the parameters have {total}"
        )
    offset = 0
    for p in params:
        p.data[...] = arr[offset : offset + p.size].reshape(p.shape)
        offset += p.size


__all__ = [
    "clip_grad_norm_",
    "clip_grad_value_",
    "parameters_to_vector",
    "vector_to_parameters",
]
