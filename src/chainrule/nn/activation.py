"""Activation layers: each wraps one fused primitive, so a layer is one graph node."""

from __future__ import annotations

from chainrule.nn import functional as F
from chainrule.nn.module import Module


class ReLU(Module):
    """``max(0, x)``; gradient 1 where x > 0, else 0 (dead units pass no gradient)."""

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    """``x`` for x > 0, ``negative_slope · x`` otherwise (default slope 0.01)."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """``σ(x) = 1/(1 + e^-x)``; ∂/∂x = σ(1 - σ) ≤ 1/4, the root of vanishing gradients."""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """``tanh(x)``; ∂/∂x = 1 - tanh²(x), close to 0 once |x| is large (saturation)."""

    def forward(self, x):
        return F.tanh(x)


class ELU(Module):
    """``x`` for x > 0, ``α(eˣ - 1)`` otherwise (default α = 1)."""

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class GELU(Module):
    """``x Φ(x)`` with Φ the standard normal CDF (exact, through erf), or its tanh
    approximation with ``approximate="tanh"``; as ``torch.nn.GELU``."""

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    """Softmax along ``dim`` (default: the last axis)."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """Log-softmax along ``dim`` (default: the last axis); pair it with NLLLoss."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.log_softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Dropout(Module):
    """Inverted dropout with drop probability ``p`` (default 0.5).

    In training mode each element is zeroed with probability p and the rest are scaled
    by 1/(1-p); after ``model.eval()`` the layer is the identity. Masks are drawn from
    chainrule's seeded generator (``cr.manual_seed``).
    """

    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = float(p)

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


__all__ = [
    "ELU",
    "GELU",
    "Dropout",
    "LeakyReLU",
    "LogSoftmax",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
]
