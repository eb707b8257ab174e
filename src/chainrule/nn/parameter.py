"""Parameter: a leaf Tensor that a Module registers as trainable."""

from __future__ import annotations

from chainrule.tensor import Tensor, _as_array


class Parameter(Tensor):
    """A trainable tensor: always a float leaf with ``requires_grad=True``.

    ``Parameter(x)`` takes a Tensor or array-like; the data is copied.
    """

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        arr = _as_array(data, None)
        if arr.dtype.kind not in "fc":
            raise TypeError(f"Parameter: data must be floating point, got {arr.dtype}")
        super().__init__(arr, requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
