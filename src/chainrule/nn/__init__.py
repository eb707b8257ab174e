"""Neural-network building blocks: Module, layers, the MLP, losses, init, regularization.

>>> model = cr.nn.MLP([784, 500, 300, 10], activation="relu", init="he")
>>> loss = cr.nn.functional.cross_entropy(model(xb), yb) + cr.nn.l2_penalty(model, 1e-4)

Names and semantics follow ``torch.nn`` (see docs/nn.md for the differences).
"""

import sys
import types

from chainrule.nn import functional, init, parameter_vector
from chainrule.nn.activation import (
    ELU,
    GELU,
    Dropout,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from chainrule.nn.containers import ModuleDict, ModuleList, Sequential
from chainrule.nn.linear import Identity, Linear
from chainrule.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from chainrule.nn.mlp import MLP, Hidden
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.regularization import l1_penalty, l2_penalty, param_groups
from chainrule.optim.clipping import clip_grad_norm_ as _clip_grad_norm_
from chainrule.optim.clipping import clip_grad_value_ as _clip_grad_value_


def from_torch(module):
    """The chainrule model equal to a PyTorch one, weights copied exactly: a
    ``torch.nn.Sequential`` of Linear and activation layers, or an ``nn.Module`` whose
    forward is such a chain (traced with ``torch.fx``); anything else is refused by name.
    See :func:`chainrule.interop.pytorch.from_torch` and docs/interop.md."""
    # interop sits above nn (it converts whole models); imported when called
    from chainrule.interop.pytorch import from_torch as convert

    return convert(module)


# ``cr.nn.utils``, torch's path (``torch.nn.utils``) for the flat-vector helpers and the
# gradient clipping that lives with the optimizers, without a file named utils.py: a
# namespace module, registered so that ``import chainrule.nn.utils`` works too
utils = types.ModuleType(
    "chainrule.nn.utils",
    "torch's ``nn.utils`` helpers: flat parameter vectors (chainrule.nn.parameter_vector) "
    "and gradient clipping (chainrule.optim.clipping).",
)
utils.parameters_to_vector = parameter_vector.parameters_to_vector
utils.vector_to_parameters = parameter_vector.vector_to_parameters
utils.gradients_to_vector = parameter_vector.gradients_to_vector
utils.clip_grad_norm_ = _clip_grad_norm_
utils.clip_grad_value_ = _clip_grad_value_
utils.__all__ = [
    "clip_grad_norm_",
    "clip_grad_value_",
    "gradients_to_vector",
    "parameters_to_vector",
    "vector_to_parameters",
]
sys.modules[utils.__name__] = utils

__all__ = [
    "ELU",
    "GELU",
    "MLP",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "Dropout",
    "Hidden",
    "HuberLoss",
    "Identity",
    "L1Loss",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "Module",
    "ModuleDict",
    "ModuleList",
    "NLLLoss",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "SmoothL1Loss",
    "Softmax",
    "Tanh",
    "from_torch",
    "functional",
    "init",
    "l1_penalty",
    "l2_penalty",
    "param_groups",
    "parameter_vector",
    "utils",
]
