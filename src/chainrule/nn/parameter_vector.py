"""All of a model's parameters as one flat vector, and back (PyTorch's
``parameters_to_vector`` / ``vector_to_parameters``).

For parameters ``p_1 … p_k`` (any shapes), in the order given::

    θ = concat(vec(p_1), …, vec(p_k))          parameters_to_vector
    p_i ← reshape(θ[o_i : o_i + |p_i|])        vector_to_parameters,  o_i = Σ_{j<i} |p_j|
    ∇θ = concat(vec(∇p_1), …, vec(∇p_k))       gradients_to_vector

The one flattening in chainrule: what optimizers that work on a single vector (scipy's
L-BFGS in :mod:`chainrule.sklearn.lbfgs`) and parameter-space diagnostics use.
Available under torch's path as ``cr.nn.utils`` too.
"""

from __future__ import annotations

from chainrule.backend import xp
from chainrule.errors import ShapeError
from chainrule.ops import concatenate, reshape
from chainrule.tensor import Tensor


def _as_list(parameters):
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def parameters_to_vector(parameters):
    """All parameters flattened and joined into one 1-D Tensor (differentiable, like
    torch's: a gradient w.r.t. the vector flows back to each parameter)."""
    params = _as_list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: no parameters")
    return concatenate([reshape(p, (-1,)) for p in params])


def gradients_to_vector(parameters, dtype=None):
    """The parameters' gradients flattened in :func:`parameters_to_vector`'s order, as
    one raw 1-D array (zeros for a parameter that has no gradient); ``dtype`` to convert
    (scipy's optimizers want float64)."""
    params = _as_list(parameters)
    if not params:
        raise ValueError("gradients_to_vector: no parameters")
    parts = [
        p.grad.data.reshape(-1) if p.grad is not None else xp.zeros(p.size, p.dtype) for p in params
    ]
    flat = xp.concatenate(parts)
    return flat if dtype is None else flat.astype(dtype, copy=False)


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D ``vec`` into each parameter's data, in place,
    converting to each parameter's dtype (torch makes the parameters views of ``vec``; a
    copy is safer and the values are the same)."""
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


__all__ = ["gradients_to_vector", "parameters_to_vector", "vector_to_parameters"]
