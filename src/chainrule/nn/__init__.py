"""Neural-network building blocks: Module, layers, the MLP, losses, init, regularization.

>>> model = cr.nn.MLP([784, 500, 300, 10], activation="relu", init="he")
>>> loss = cr.nn.functional.cross_entropy(model(xb), yb) + cr.nn.l2_penalty(model, 1e-4)

Names and semantics follow ``torch.nn`` (see docs/nn.md for the differences).
"""

from chainrule.nn import functional, init, utils
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


def from_torch(module):
    """The chainrule model equal to a PyTorch one, weights copied exactly: a
    ``torch.nn.Sequential`` of Linear and activation layers, or an ``nn.Module`` whose
    forward is such a chain (traced with ``torch.fx``); anything else is refused by name.
    See :func:`chainrule.interop.pytorch.from_torch` and docs/interop.md."""
    # interop sits above nn (it converts whole models); imported when called
    from chainrule.interop.pytorch import from_torch as convert

    return convert(module)


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
    "utils",
]
