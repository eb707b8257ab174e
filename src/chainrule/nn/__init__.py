"""Neural-network building blocks."""

from chainrule.nn import functional
from chainrule.nn.parameter import Parameter

__all__ = ["Parameter", "functional"]
