"""Making tensors: ``tensor``, ``as_tensor``, ``zeros``, ``ones``, ``full``, ``arange``,
``eye``, the seeded ``randn``/``rand``, and their ``*_like`` forms.

Every function returns a leaf (no op made it). Python floats become the default float
dtype (float32 unless :func:`chainrule.set_default_dtype` says otherwise), as in PyTorch;
random draws come from chainrule's seeded generator (:func:`chainrule.manual_seed`).
"""

from __future__ import annotations

import numbers

from chainrule import backend
from chainrule.backend import xp
from chainrule.tensor import Tensor, _as_array

# dtype names as in PyTorch (``cr.float32``); they are NumPy's dtypes
float32 = xp.float32
float64 = xp.float64
int32 = xp.int32
int64 = xp.int64


def from_numpy(array):
    """A tensor that shares memory with the NumPy ``array`` (as ``torch.from_numpy``):
    changes to one show in the other; the dtype is kept."""
    if not isinstance(array, xp.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


def tensor(data, dtype=None, requires_grad=False):
    """Make a leaf tensor (always a copy of ``data``).

    Python floats and lists of them become float32 (see :func:`set_default_dtype`);
    NumPy arrays keep their dtype; integer and bool data stay integer/bool and cannot
    require grad.
    """
    t = Tensor(_as_array(data, dtype))
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(data, dtype=None):
    """Wrap ``data`` as a Tensor without copying when it already is one (or an array)."""
    if isinstance(data, Tensor):
        return data if dtype is None or data.dtype == dtype else Tensor(data.data.astype(dtype))
    if hasattr(data, "dtype") and hasattr(data, "shape") and (dtype is None or data.dtype == dtype):
        return Tensor(data)
    return Tensor(_as_array(data, dtype))


def _float_dtype(dtype):
    return backend.get_default_dtype() if dtype is None else xp.dtype(dtype)


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def zeros(*shape, dtype=None, requires_grad=False):
    return tensor(xp.zeros(_shape(shape), _float_dtype(dtype)), requires_grad=requires_grad)


def ones(*shape, dtype=None, requires_grad=False):
    return tensor(xp.ones(_shape(shape), _float_dtype(dtype)), requires_grad=requires_grad)


def full(shape, fill_value, dtype=None, requires_grad=False):
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    return tensor(xp.full(shape, fill_value, _float_dtype(dtype)), requires_grad=requires_grad)


def arange(start, stop=None, step=1, dtype=None, requires_grad=False):
    """Like numpy.arange; integer arguments give an integer tensor unless dtype is set."""
    if stop is None:
        start, stop = 0, start
    args = (start, stop, step)
    if dtype is None and any(isinstance(a, float) for a in args):
        dtype = backend.get_default_dtype()
    return tensor(xp.arange(*args, dtype=dtype), requires_grad=requires_grad)


def eye(n, m=None, dtype=None, requires_grad=False):
    return tensor(xp.eye(n, m, dtype=_float_dtype(dtype)), requires_grad=requires_grad)


def randn(*shape, dtype=None, requires_grad=False):
    """Standard normal samples from chainrule's seeded generator (``manual_seed``)."""
    dt = _float_dtype(dtype)
    return tensor(
        backend.rng().standard_normal(_shape(shape), dtype=dt), requires_grad=requires_grad
    )


def rand(*shape, dtype=None, requires_grad=False):
    """Uniform samples on [0, 1) from chainrule's seeded generator."""
    dt = _float_dtype(dtype)
    return tensor(backend.rng().random(_shape(shape), dtype=dt), requires_grad=requires_grad)


def _like(fn, t, dtype, requires_grad, *args):
    return fn(*t.shape, *args, dtype=dtype or t.dtype, requires_grad=requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return _like(zeros, t, dtype, requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return _like(ones, t, dtype, requires_grad)


def full_like(t, fill_value, dtype=None, requires_grad=False):
    return full(t.shape, fill_value, dtype=dtype or t.dtype, requires_grad=requires_grad)


def randn_like(t, dtype=None, requires_grad=False):
    return _like(randn, t, dtype, requires_grad)


def rand_like(t, dtype=None, requires_grad=False):
    return _like(rand, t, dtype, requires_grad)
