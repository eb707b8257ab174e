"""Tensor: an array, its gradient, and the op that made it.

A Tensor is the graph itself: an interior tensor remembers the primitive that produced it
(``_op``), that primitive's inputs (``_parents``) and its static parameters
(``_params``). Leaves have no ``_op``. Everything numeric lives in ``data``, a raw array
of the backend (NumPy by default).
"""

from __future__ import annotations

from chainrule import backend
from chainrule.backend import xp


class Tensor:
    """A multi-dimensional array that can record the operations applied to it.

    Attributes:
        data: the raw array (``numpy.ndarray``, or ``cupy.ndarray`` on a GPU).
        grad: the accumulated gradient (a Tensor) after ``backward()``, else None.
        requires_grad: whether ops on this tensor are recorded for backward.
        name: an optional label shown in graphs and narration.
    """

    __slots__ = (
        "__weakref__",
        "_hooks",
        "_op",
        "_params",
        "_parents",
        "_retains_grad",
        "_seq",
        "data",
        "grad",
        "name",
        "requires_grad",
    )
    __array_ufunc__ = None  # make `ndarray * Tensor` defer to Tensor.__rmul__
    __hash__ = object.__hash__  # == builds a tensor, so hash by identity (dict keys)

    def __init__(self, data, requires_grad=False):
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self._op = None
        self._parents = None
        self._params = None
        self._hooks = None
        self._retains_grad = False
        self._seq = 0  # creation order of recorded tensors: a ready-made topological order
        self.name = None

    # --- introspection -------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by an op."""
        return self._op is None

    @property
    def op(self):
        """The primitive that produced this tensor (None for leaves)."""
        return self._op

    @property
    def parents(self) -> tuple:
        """The inputs of the op that produced this tensor (empty for leaves)."""
        return self._parents or ()

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        body = xp.array2string(self.data, separator=", ", precision=4, threshold=50)
        body = body.replace("\n", "\n       ")
        extras = []
        if self.data.dtype != backend.get_default_dtype():
            extras.append(f"dtype={self.data.dtype}")
        if self._op is not None:
            extras.append(f"op={self._op.name}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return f"tensor({body}{''.join(', ' + e for e in extras)})"

    def _repr_mimebundle_(self, include=None, exclude=None):
        # late-bound: chainrule.display sits above this layer (DESIGN.md), so it is
        # imported on the first notebook display, never when this module is imported
        from chainrule.display import mimebundle

        return mimebundle(self, include, exclude)

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def numpy(self):
        """The data as a NumPy array (a view; copied from the GPU if needed)."""
        return self.data.get() if hasattr(self.data, "get") else self.data

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors convert, got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                "use .any() or .all()"
            )
        return bool(self.data)

    def any(self):
        return Tensor(xp.asarray(self.data.any()))

    def all(self):
        return Tensor(xp.asarray(self.data.all()))

    # --- autograd ------------------------------------------------------------------
    def detach(self):
        """The same data, cut from the graph (shares memory, like torch)."""
        return Tensor(self.data)

    def requires_grad_(self, requires_grad=True):
        """Mark a leaf as a parameter whose gradient backward should compute."""
        if requires_grad and self.data.dtype.kind not in "fc":
            raise TypeError(
                f"requires_grad: only floating-point tensors can require grad, got {self.dtype}"
            )
        if self._op is not None and not requires_grad:
            raise RuntimeError("requires_grad_: use .detach() to cut an interior tensor")
        self.requires_grad = requires_grad
        return self

    def backward(self, gradient=None, retain_graph=False, create_graph=False):
        """Run the chain rule backwards from this tensor; leaves accumulate ``.grad``."""
        _engine.backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

    def retain_grad(self):
        """Keep ``.grad`` on this interior tensor after backward (leaves always do)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: the tensor does not require grad")
        self._retains_grad = True
        return self

    def register_hook(self, fn):
        """Call ``fn(grad)`` when this tensor's gradient is computed; a returned Tensor
        replaces the gradient. Returns a handle whose ``remove()`` unregisters it."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: the tensor does not require grad")
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(fn)
        return _HookHandle(self._hooks, fn)

    def zero_(self):
        """Fill with zeros in place (outside the graph)."""
        self.data[...] = 0
        return self

    # --- operators -----------------------------------------------------------------
    def __add__(self, other):
        return _ops.add(self, other)

    def __radd__(self, other):
        return _ops.add(other, self)

    def __sub__(self, other):
        return _ops.sub(self, other)

    def __rsub__(self, other):
        return _ops.sub(other, self)

    def __mul__(self, other):
        return _ops.mul(self, other)

    def __rmul__(self, other):
        return _ops.mul(other, self)

    def __truediv__(self, other):
        return _ops.div(self, other)

    def __rtruediv__(self, other):
        return _ops.div(other, self)

    def __pow__(self, other):
        return _ops.pow(self, other)

    def __rpow__(self, other):
        return _ops.pow(other, self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __neg__(self):
        return _ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def __getitem__(self, index):
        return _ops.getitem(self, index)

    # comparisons are not differentiable: they return bool tensors
    def __lt__(self, other):
        return Tensor(self.data < _raw(other))

    def __le__(self, other):
        return Tensor(self.data <= _raw(other))

    def __gt__(self, other):
        return Tensor(self.data > _raw(other))

    def __ge__(self, other):
        return Tensor(self.data >= _raw(other))

    def __eq__(self, other):
        return Tensor(self.data == _raw(other))

    def __ne__(self, other):
        return Tensor(self.data != _raw(other))

    def __and__(self, other):
        return Tensor(self.data & _raw(other))

    def __or__(self, other):
        return Tensor(self.data | _raw(other))

    def __invert__(self):
        return Tensor(~self.data)

    # --- methods (the same names as the functions in chainrule.ops) ------------------
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

    def clip(self, min=None, max=None):
        return _ops.clip(self, min, max)

    def sum(self, axis=None, keepdims=False, *, dim=None):
        return _ops.sum(self, axis, keepdims, dim=dim)

    def mean(self, axis=None, keepdims=False, *, dim=None):
        return _ops.mean(self, axis, keepdims, dim=dim)

    def max(self, axis=None, keepdims=False, *, dim=None):
        return _ops.max(self, axis, keepdims, dim=dim)

    def min(self, axis=None, keepdims=False, *, dim=None):
        return _ops.min(self, axis, keepdims, dim=dim)

    def logsumexp(self, axis=None, keepdims=False, *, dim=None):
        return _ops.logsumexp(self, axis, keepdims, dim=dim)

    def softmax(self, axis=-1):
        return _ops.softmax(self, axis)

    def log_softmax(self, axis=-1):
        return _ops.log_softmax(self, axis)

    def reshape(self, *shape):
        return _ops.reshape(self, shape[0] if len(shape) == 1 else shape)

    def view(self, *shape):
        return self.reshape(*shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _ops.transpose(self, axes or None)

    def permute(self, *axes):
        return self.transpose(*axes)

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

    def astype(self, dtype):
        return _ops.astype(self, dtype)

    def float(self):
        return _ops.astype(self, xp.float32)

    def double(self):
        return _ops.astype(self, xp.float64)


class _HookHandle:
    __slots__ = ("fn", "hooks")

    def __init__(self, hooks, fn):
        self.hooks, self.fn = hooks, fn

    def remove(self):
        if self.fn in self.hooks:
            self.hooks.remove(self.fn)


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


# --- conversion --------------------------------------------------------------------
def _as_array(data, dtype):
    """Convert user data to an array with chainrule's dtype policy.

    Python floats (and lists holding any) become the default float dtype; Python ints and
    bools stay integer/bool, like torch.tensor; arrays keep their dtype.
    """
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return xp.array(data, dtype=dtype)
    if hasattr(data, "dtype") and hasattr(data, "shape"):
        return xp.array(data)
    arr = xp.array(data)
    if arr.dtype.kind == "f":
        arr = arr.astype(backend.get_default_dtype())
    elif arr.dtype.kind not in "biuc":
        raise TypeError(f"tensor: cannot make a tensor from data of type {arr.dtype}")
    return arr


# The declared cycle tensor ↔ ops ↔ engine, broken by late binding: Tensor's operators
# call chainrule.ops, whose modules import Tensor, so ops load after the class exists;
# apply() in autograd.primitive makes Tensors, so it is handed the class here.
from chainrule import ops as _ops  # noqa: E402
from chainrule.autograd import engine as _engine  # noqa: E402
from chainrule.autograd.primitive import _bind_tensor  # noqa: E402

_bind_tensor(Tensor)
