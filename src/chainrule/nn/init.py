"""Weight initializers (``cr.nn.init``), with PyTorch's names and formulas.

Every function fills a Tensor's ``.data`` in place (outside the graph) and returns the
tensor. Random ones draw from chainrule's seeded generator (``cr.manual_seed``), or from
the ``numpy.random.Generator`` passed as ``generator=``. Samples are drawn in float64 and
stored in the tensor's dtype.

For a weight of shape (out, in): ``fan_in = in``, ``fan_out = out`` (times the receptive
field size for tensors with more than 2 dimensions).

==================  ===================================================================
initializer         distribution
==================  ===================================================================
xavier_uniform_     U(-a, a),  a = gain·√(6 / (fan_in + fan_out))
xavier_normal_      N(0, σ²),  σ = gain·√(2 / (fan_in + fan_out))
kaiming_uniform_    U(-b, b),  b = gain·√(3 / fan),  gain = calculate_gain(nonlinearity, a)
kaiming_normal_     N(0, σ²),  σ = gain / √fan   (fan = fan_in or fan_out, by ``mode``)
lecun_normal_       N(0, σ²),  σ = gain / √fan_in  (LeCun 1998; gain 1 by default)
orthogonal_         gain·Q, Q from the QR decomposition of a standard normal matrix
==================  ===================================================================

Why not zeros or a constant: every hidden unit of a layer would compute the same
function and receive the same gradient, forever (see ``examples/init_symmetry.py``).
"""

from __future__ import annotations

import math
import numbers

from chainrule import backend
from chainrule.backend import xp
from chainrule.tensor import Tensor


def _array(tensor, name):
    if isinstance(tensor, Tensor):
        return tensor.data
    if hasattr(tensor, "shape") and hasattr(tensor, "dtype"):
        return tensor
    raise TypeError(f"{name}: expected a Tensor, got {type(tensor).__name__}")


def _fill(tensor, values):
    _array(tensor, "init")[...] = values
    return tensor


def _gen(generator):
    return backend.rng() if generator is None else generator


def calculate_gain(nonlinearity, param=None):
    """The recommended scale for weights feeding ``nonlinearity`` (PyTorch's table):

    linear / identity / sigmoid: 1; tanh: 5/3; relu: √2;
    leaky_relu: √(2 / (1 + slope²)) (slope = ``param``, default 0.01); selu: 3/4.
    """
    if nonlinearity in ("linear", "identity", "conv1d", "conv2d", "conv3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, numbers.Real) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def calculate_fan_in_and_fan_out(tensor):
    """``(fan_in, fan_out)``: (shape[1], shape[0]) times the receptive field size."""
    shape = _array(tensor, "calculate_fan_in_and_fan_out").shape
    if len(shape) < 2:
        raise ValueError(
            f"fan in and fan out can not be computed for a tensor with fewer than 2 "
            f"dimensions (shape {shape})"
        )
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def zeros_(tensor):
    """Fill with 0."""
    return _fill(tensor, 0)


def ones_(tensor):
    """Fill with 1."""
    return _fill(tensor, 1)


def constant_(tensor, val):
    """Fill with ``val``."""
    return _fill(tensor, val)


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with samples of U(a, b)."""
    arr = _array(tensor, "uniform_")
    return _fill(tensor, _gen(generator).uniform(a, b, arr.shape))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with samples of N(mean, std²)."""
    arr = _array(tensor, "normal_")
    return _fill(tensor, _gen(generator).normal(mean, std, arr.shape))


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Glorot & Bengio (2010): U(-a, a) with ``a = gain·√(6 / (fan_in + fan_out))``,
    which keeps the variance of activations and of gradients roughly constant across
    layers of a linear(-ish) network."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """Glorot normal: N(0, σ²) with ``σ = gain·√(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He et al. (2015): U(-b, b) with ``b = gain·√(3 / fan)``,
    ``gain = calculate_gain(nonlinearity, a)``. ``a`` is the negative slope of a leaky
    ReLU; with ``a=√5`` this is PyTorch's default for Linear: U(-1/√fan_in, 1/√fan_in)."""
    fan = _fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He normal: N(0, σ²) with ``σ = gain / √fan``; for ReLU (gain √2) the variance
    2/fan_in keeps activations from shrinking layer after layer."""
    fan = _fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def lecun_normal_(tensor, gain=1.0, generator=None):
    """LeCun normal: N(0, σ²) with ``σ = gain / √fan_in`` (variance 1/fan_in).

    PyTorch has no such function; this is the plain normal form (JAX and Keras use a
    truncated normal with the same variance).
    """
    fan_in, _ = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain / math.sqrt(fan_in), generator)


def orthogonal_(tensor, gain=1.0, generator=None):
    """Saxe et al. (2013): a (semi-)orthogonal matrix times ``gain``, as PyTorch makes it:
    QR-decompose a standard normal (rows, cols) matrix (transposed if rows < cols) and
    fix the signs with ``sign(diag(R))`` so the result is uniformly distributed."""
    arr = _array(tensor, "orthogonal_")
    if arr.ndim < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dimensions, got {arr.shape}")
    if arr.size == 0:
        return tensor
    rows = arr.shape[0]
    cols = arr.size // rows
    flat = _gen(generator).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = xp.linalg.qr(flat)
    q = q * xp.sign(xp.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, (gain * q).reshape(arr.shape))


__all__ = [
    "calculate_fan_in_and_fan_out",
    "calculate_gain",
    "constant_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "lecun_normal_",
    "normal_",
    "ones_",
    "orthogonal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]
