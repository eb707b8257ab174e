"""Linear (the lecture's layer ``a = W h + b``) and Identity."""

from __future__ import annotations

import math

from chainrule import backend
from chainrule.backend import xp
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops import linear


class Linear(Module):
    """``y = x Wᵀ + b`` on a batch of rows: the lecture's ``a = W h + b`` for every row.

    Args:
        in_features: size of each input row.
        out_features: size of each output row.
        bias: add a learnable bias ``b`` (default True).
        dtype: parameter dtype (default: ``cr.get_default_dtype()``, float32).

    Attributes:
        weight: Parameter of shape (out_features, in_features), as in PyTorch.
        bias: Parameter of shape (out_features,), or None.

    **Default initialization** is PyTorch's: ``kaiming_uniform_(W, a=√5)``, which works
    out to ``W ~ U(-1/√in, 1/√in)``, and ``b ~ U(-1/√in, 1/√in)`` — drawn (weight first,
    then bias) from chainrule's seeded generator, so ``cr.manual_seed(s)`` makes it
    reproducible. ``MLP(init=...)`` or ``cr.nn.init`` replace it.

    The forward pass is one fused graph node, ``cr.ops.linear``.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=None):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(
                f"Linear: in_features and out_features must be >= 1, got "
                f"{in_features} and {out_features}"
            )
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        dt = backend.get_default_dtype() if dtype is None else xp.dtype(dtype)
        self.weight = Parameter(xp.empty((self.out_features, self.in_features), dtype=dt))
        self.bias = Parameter(xp.empty(self.out_features, dtype=dt)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        """Re-draw weight and bias with PyTorch's default: U(-1/√in, 1/√in) for both."""
        from chainrule.nn import init

        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Identity(Module):
    """Returns its input unchanged (a placeholder layer)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


__all__ = ["Identity", "Linear"]
