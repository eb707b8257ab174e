"""Tensor: an array, its gradient, and the op that made it.

A Tensor is the graph itself: an interior tensor remembers the primitive that produced it
(``_op``), that primitive's inputs (``_parents``) and its static parameters
(``_params``). Leaves have no ``_op``. Everything numeric lives in ``data``, a raw array
of the backend (NumPy by default).
"""

from __future__ import annotations

from chainrule import backend
from chainrule.backend import xp
from chainrule.tensor_methods import TensorMethods

_NDARRAY = xp.ndarray


class Tensor(TensorMethods):
    """A multi-dimensional array that can record the operations applied to it.

    Make tensors with :func:`chainrule.tensor` (or ``zeros``, ``randn``, ...); the
    constructor wraps an existing array. The methods that call ops (``exp``, ``sum``,
    ``reshape``, ``add_``, ``to``, ...) come from
    :class:`~chainrule.tensor_methods.TensorMethods`.

    Attributes:
        data: the raw array (``numpy.ndarray``, or ``cupy.ndarray`` on a GPU).
        grad: the accumulated gradient (a Tensor) after ``backward()``, else None.
        requires_grad: whether ops on this tensor are recorded for backward.
        name: an optional label shown in graphs and narration.
    """

    __slots__ = (
        "__weakref__",
        "_hooks",
        "_inplace",
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
        if type(data) is not _NDARRAY:  # every op's output is one: checked once, cheaply
            data = _wrapped_array(data)
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self._op = None
        self._parents = None
        self._params = None
        self._hooks = None
        self._retains_grad = False
        self._inplace = None  # in-place history (chainrule.autograd.versions), if any
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
        if not self.data.ndim:
            raise TypeError("len() of a 0-d tensor: it holds one number (use .item())")
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


class _HookHandle:
    __slots__ = ("fn", "hooks")

    def __init__(self, hooks, fn):
        self.hooks, self.fn = hooks, fn

    def remove(self):
        if self.fn in self.hooks:
            self.hooks.remove(self.fn)


def _wrapped_array(data):
    """The array ``Tensor(data)`` wraps: an ndarray-like (CuPy), a NumPy scalar as a 0-d
    array; anything else is refused with the function that makes a tensor from it."""
    if isinstance(data, xp.generic):
        return xp.asarray(data)
    if hasattr(data, "shape") and hasattr(data, "dtype") and hasattr(data, "ndim"):
        return data
    raise TypeError(
        f"Tensor({data!r:.40}): the constructor wraps an existing array; make a tensor "
        "with cr.tensor(data) instead (cr.tensor(3) holds the number 3; cr.zeros(3) is "
        "three zeros)"
    )


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
from chainrule import tensor_methods as _methods  # noqa: E402
from chainrule.autograd import engine as _engine  # noqa: E402
from chainrule.autograd.primitive import _bind_tensor  # noqa: E402
from chainrule.ops import inplace as _inplace  # noqa: E402

_bind_tensor(Tensor)
_methods.bind(_ops, _inplace)
