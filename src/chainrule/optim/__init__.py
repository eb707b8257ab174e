"""Optimizers, learning-rate schedules and gradient clipping, matching ``torch.optim``.

Every optimizer updates ``p.data`` in place from ``p.grad.data`` and keeps its state in
``optimizer.state`` (keyed by parameter); the docstrings carry the update equations and
the convention each one follows.
"""

from chainrule.optim import lr_scheduler, schedules
from chainrule.optim.adagrad import Adagrad
from chainrule.optim.adam import Adam, AdamW
from chainrule.optim.clipping import clip_grad_norm_, clip_grad_value_
from chainrule.optim.optimizer import Optimizer, get_num_threads, set_num_threads
from chainrule.optim.rmsprop import RMSprop
from chainrule.optim.sgd import SGD

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "RMSprop",
    "clip_grad_norm_",
    "clip_grad_value_",
    "get_num_threads",
    "lr_scheduler",
    "schedules",
    "set_num_threads",
]
