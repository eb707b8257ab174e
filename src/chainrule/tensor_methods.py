"""The methods of :class:`~chainrule.tensor.Tensor` that call an op: NumPy's names for
array math, PyTorch's names where they mean the same, and the in-place operations.

Each is a one-line call into :mod:`chainrule.ops` (so a method and its function can never
disagree). ``Tensor`` inherits them from :class:`TensorMethods`; the ops package is bound
in by :mod:`chainrule.tensor` once ``Tensor`` exists — part of the declared tensor ↔ ops
cycle, broken by late binding.

Where NumPy and PyTorch spell a thing differently both spellings work: ``keepdims`` and
``keepdim``, ``axis`` and ``dim``, ``clip`` and ``clamp``, ``astype`` and ``to``.
``size`` is NumPy's element count and, called, PyTorch's ``size()`` / ``size(dim)``.
"""

from __future__ import annotations

import math

from chainrule.backend import xp

_ops = None  # chainrule.ops, bound by chainrule.tensor (see the module docstring)
_inplace = None  # chainrule.ops.inplace, likewise


def bind(ops, inplace):
    global _ops, _inplace
    _ops, _inplace = ops, inplace


class Size(int):
    """The number of elements (``t.size``, as NumPy's ``a.size``) that, called, answers as
    PyTorch's ``t.size()`` (the shape) and ``t.size(dim)`` (one axis' length)."""

    def __new__(cls, shape):
        obj = super().__new__(cls, math.prod(shape))
        obj.shape = tuple(shape)
        return obj

    def __call__(self, dim=None):
        if dim is None:
            return self.shape
        n = len(self.shape)
        if not -n <= dim < max(n, 1):
            raise IndexError(f"size: dim {dim} is out of range for a tensor with {n} dimensions")
        return self.shape[dim] if n else 1


def _device_name(device):
    """``device`` as ``"cpu"``; any other device is refused with the reason."""
    name = str(device)
    if name.split(":")[0] == "cpu":
        return "cpu"
    raise ValueError(
        f"device {name!r} is not available: chainrule computes on the CPU with NumPy, and "
        "its GPU backend (CuPy) is not built yet; use 'cpu'"
    )


def _dtype_or_device(arg):
    """Tell ``to("cpu")`` from ``to(cr.float64)`` / ``to("float64")`` / ``to(torch.float64)``."""
    name = str(arg)
    if name.startswith("torch."):  # a torch dtype: the NumPy dtype of the same name
        name = name[len("torch.") :]
    for candidate in (arg, name):
        try:
            return xp.dtype(candidate), None
        except TypeError:
            continue
    return None, _device_name(arg)


class TensorMethods:
    """Mixed into ``Tensor`` (no state of its own)."""

    __slots__ = ()

    # --- elementwise -------------------------------------------------------------
    def exp(self):
        return _ops.exp(self)

    def log(self):
        return _ops.log(self)

    def sqrt(self):
        return _ops.sqrt(self)

    def abs(self):
        return _ops.abs(self)

    def tanh(self):
        return _ops.tanh(self)

    def sigmoid(self):
        return _ops.sigmoid(self)

    def relu(self):
        return _ops.relu(self)

    def pow(self, exponent):
        return _ops.pow(self, exponent)

    def clip(self, min=None, max=None):
        return _ops.clip(self, min, max)

    clamp = clip  # PyTorch's name

    # --- reductions ----------------------------------------------------------------
    def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _ops.sum(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _ops.mean(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def max(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _ops.max(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def min(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _ops.min(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def logsumexp(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _ops.logsumexp(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def argmax(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _ops.argmax(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def argmin(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _ops.argmin(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def softmax(self, axis=-1, *, dim=None):
        return _ops.softmax(self, axis, dim=dim)

    def log_softmax(self, axis=-1, *, dim=None):
        return _ops.log_softmax(self, axis, dim=dim)

    # --- shapes --------------------------------------------------------------------
    @property
    def size(self):
        """Number of elements; ``t.size()`` is the shape and ``t.size(dim)`` one length."""
        return Size(self.data.shape)

    def numel(self):
        """Number of elements (PyTorch's name for ``size``)."""
        return self.data.size

    def dim(self):
        """Number of dimensions (PyTorch's name for ``ndim``)."""
        return self.data.ndim

    def reshape(self, *shape):
        return _ops.reshape(self, shape[0] if len(shape) == 1 else shape)

    def view(self, *shape):
        return self.reshape(*shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if len(axes) == 2:  # PyTorch's transpose(dim0, dim1): swap two axes
            return _ops.swapaxes(self, *axes)
        return _ops.transpose(self, axes or None)

    def permute(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _ops.transpose(self, axes)

    def t(self):
        """Transpose a matrix (PyTorch's ``t()``); vectors and scalars are returned as is."""
        if self.ndim > 2:
            raise ValueError(
                f"t: expects a tensor with at most 2 dimensions, got {self.ndim} "
                "(use .mT or .transpose(dim0, dim1))"
            )
        return _ops.transpose(self, None)

    @property
    def T(self):
        return _ops.transpose(self, None)

    @property
    def mT(self):
        return _ops.swapaxes(self, -1, -2)

    def swapaxes(self, axis1, axis2):
        return _ops.swapaxes(self, axis1, axis2)

    def flatten(self, start_dim=0, end_dim=-1):
        return _ops.flatten(self, start_dim, end_dim)

    def squeeze(self, axis=None):
        return _ops.squeeze(self, axis)

    def unsqueeze(self, axis):
        return _ops.expand_dims(self, axis)

    def expand_dims(self, axis):
        return _ops.expand_dims(self, axis)

    def broadcast_to(self, shape):
        return _ops.broadcast_to(self, shape)

    # --- dtype, device, copies -----------------------------------------------------
    def astype(self, dtype):
        return _ops.astype(self, dtype)

    def float(self):
        return _ops.astype(self, xp.float32)

    def double(self):
        return _ops.astype(self, xp.float64)

    def clone(self):
        """A copy with its own memory that stays in the graph (the gradient passes
        through unchanged), as ``torch.clone``."""
        return _ops.clone(self)

    def to(self, *args, dtype=None, device=None, copy=False):
        """``to(dtype)``, ``to("cpu")``, ``to(device, dtype)`` or ``to(other_tensor)``:
        a cast (differentiable) and a device check; the tensor itself when nothing
        changes (unless ``copy=True``). A GPU device is refused: there is no GPU backend
        yet."""
        for arg in args:
            if isinstance(arg, TensorMethods):
                dtype = arg.dtype if dtype is None else dtype
                continue
            d, dev = _dtype_or_device(arg)
            dtype = d if d is not None else dtype
            device = dev if dev is not None else device
        if device is not None:
            _device_name(device)
        if dtype is not None:
            dtype = _dtype_or_device(dtype)[0]
        out = self if dtype is None or dtype == self.dtype else _ops.astype(self, dtype)
        return _ops.clone(out) if copy and out is self else out

    def cpu(self):
        """The tensor itself: chainrule's tensors live on the CPU."""
        return self

    def cuda(self, device=None):
        """Refused with the reason: chainrule has no GPU backend yet."""
        _device_name("cuda" if device is None else f"cuda:{device}")

    @property
    def device(self):
        """Always ``"cpu"`` (NumPy)."""
        return "cpu"

    # --- in place ------------------------------------------------------------------
    @property
    def _version(self):
        """How many times this tensor was changed in place (PyTorch's ``_version``)."""
        return 0 if self._inplace is None else self._inplace.version

    def add_(self, other, *, alpha=None):
        """``self += alpha · other`` in place."""
        return _inplace.arithmetic_(self, "add_", other, alpha)

    def sub_(self, other, *, alpha=None):
        """``self -= alpha · other`` in place."""
        return _inplace.arithmetic_(self, "sub_", other, alpha)

    def mul_(self, other):
        return _inplace.arithmetic_(self, "mul_", other)

    def div_(self, other):
        return _inplace.arithmetic_(self, "div_", other)

    def pow_(self, exponent):
        return _inplace.pow_(self, exponent)

    def clamp_(self, min=None, max=None):
        return _inplace.clamp_(self, min, max)

    clip_ = clamp_

    def neg_(self):
        return _inplace.arithmetic_(self, "mul_", -1)

    def copy_(self, src):
        """Copy ``src`` (broadcast, cast) into this tensor's memory."""
        return _inplace.copy_(self, src)

    def fill_(self, value):
        return _inplace.fill_(self, value)

    def zero_(self):
        """Fill with zeros in place (``w.grad.zero_()``)."""
        return _inplace.fill_(self, 0)

    def __iadd__(self, other):
        return _inplace.arithmetic_(self, "add_", other)

    def __isub__(self, other):
        return _inplace.arithmetic_(self, "sub_", other)

    def __imul__(self, other):
        return _inplace.arithmetic_(self, "mul_", other)

    def __itruediv__(self, other):
        return _inplace.arithmetic_(self, "div_", other)

    def __ipow__(self, other):
        return _inplace.pow_(self, other)

    def __setitem__(self, index, value):
        _inplace.setitem_(self, index, value)
