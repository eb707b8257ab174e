"""Find the (Linear, activation) pairs of a model, in forward order.

The monitor and the model gradient check work on any Module whose leaf modules form the
chain ``h_{k+1} = g(W_k h_k + b_k)``: an ``MLP`` (its ``.layers``), a
``Sequential``, or any Module that registers its Linear layers and activations in the
order it applies them. A Linear layer is a module with a 2-D ``weight``; the activation
of layer k is the next leaf module when it is an activation, else "identity" (the
output layer, or a Linear followed directly by another Linear).
"""

from __future__ import annotations

from dataclasses import dataclass

# class name (lower case, underscores dropped) -> the activation's kind
ACTIVATIONS = {
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
    "leakyrelu": "leaky_relu",
    "elu": "elu",
    "gelu": "gelu",
    "identity": "identity",
    "softmax": "softmax",
    "logsoftmax": "log_softmax",
}

#: activations whose outputs have bounds where the local derivative vanishes
BOUNDED = ("sigmoid", "tanh")


@dataclass
class LayerInfo:
    """One Linear layer of the chain: its name in the model, the module, its activation."""

    index: int
    name: str
    module: object
    activation: str

    @property
    def weight(self):
        return self.module.weight

    @property
    def bias(self):
        return getattr(self.module, "bias", None)


def _children(module):
    """Direct sub-modules in registration order, whatever the Module implementation."""
    if hasattr(module, "named_children"):
        return list(module.named_children())
    subs = getattr(module, "_modules", None)
    if isinstance(subs, dict):
        return list(subs.items())
    return []


def _leaves(module, prefix=""):
    kids = _children(module)
    if not kids:
        return [(prefix, module)]
    out = []
    for name, child in kids:
        if child is None:
            continue
        out.extend(_leaves(child, f"{prefix}.{name}" if prefix else str(name)))
    return out


def is_linear(module) -> bool:
    w = getattr(module, "weight", None)
    return (
        w is not None and getattr(w, "ndim", 0) == 2 and "linear" in type(module).__name__.lower()
    )


def activation_kind(module):
    """The activation's kind ("relu", "tanh", ...) or None when ``module`` is not one."""
    key = type(module).__name__.lower().replace("_", "")
    return ACTIVATIONS.get(key)


def find_layers(model):
    """The model's Linear layers in forward order, each with the activation that follows.

    Raises ValueError when the model has no Linear layer.
    """
    leaves = _leaves(model)
    if not leaves or (len(leaves) == 1 and leaves[0][1] is model and not is_linear(model)):
        leaves = leaves if is_linear(model) else []
    layers = []
    for pos, (name, mod) in enumerate(leaves):
        if not is_linear(mod):
            continue
        act = "identity"
        for _, nxt in leaves[pos + 1 :]:
            kind = activation_kind(nxt)
            if kind is not None:
                act = kind
                break
            if is_linear(nxt):
                break
            # dropout, normalization, ...: look past them for the activation
        layers.append(LayerInfo(len(layers), name or type(mod).__name__, mod, act))
    if not layers:
        raise ValueError(
            f"diagnostics: {type(model).__name__} has no Linear layers to monitor "
            "(expected an MLP, a Sequential or a Module made of Linear layers and activations)"
        )
    return layers


__all__ = ["ACTIVATIONS", "BOUNDED", "LayerInfo", "activation_kind", "find_layers", "is_linear"]
