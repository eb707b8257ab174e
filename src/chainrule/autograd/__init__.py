"""Reverse-mode automatic differentiation: primitives, the backward walk, grad mode,
and the gradient checker."""

from chainrule.autograd.description import Description
from chainrule.autograd.engine import backward, grad, run_backward
from chainrule.autograd.gradcheck import GradcheckError, GradcheckReport, gradcheck
from chainrule.autograd.mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from chainrule.autograd.primitive import PRIMITIVES, Primitive, apply, defprimitive, tensor_function

__all__ = [
    "PRIMITIVES",
    "Description",
    "GradcheckError",
    "GradcheckReport",
    "Primitive",
    "apply",
    "backward",
    "defprimitive",
    "enable_grad",
    "grad",
    "gradcheck",
    "is_grad_enabled",
    "no_grad",
    "run_backward",
    "set_grad_enabled",
    "tensor_function",
]
