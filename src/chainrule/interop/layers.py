"""The models that leave chainrule: a chain of layers, described, rebuilt and named.

Every model that ``chainrule train``, ``cr.nn.MLP`` and ``cr.nn.Sequential`` build is a
chain ``h ← layer_k(h)`` of these layers, and only these cross to other tools (ONNX,
PyTorch) or are rebuilt from a file:

    Linear  ReLU  LeakyReLU  Tanh  Sigmoid  ELU  GELU  Softmax  LogSoftmax  Dropout  Identity

(nested in ``Sequential`` and ``MLP``). Anything else is refused with its class name —
a custom ``forward`` could do anything, and exporting a guess would be worse than
saying no.

**Names in files.** A weight is named as PyTorch names the same weight of the equivalent
``torch.nn.Sequential``: ``0.weight``, ``0.bias``, ``2.weight``, … (the index is the
layer's position, activations and Dropout included). For a ``Sequential`` these are its
own ``state_dict()`` keys; an ``MLP`` keeps its layers in ``.layers``, so its key
``layers.k.weight`` is written as ``k.weight``.
"""

from __future__ import annotations

from chainrule import backend
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
from chainrule.nn.containers import Sequential
from chainrule.nn.linear import Identity, Linear
from chainrule.nn.mlp import MLP

# class -> (its name in a spec, the constructor arguments a spec records)
LAYERS = {
    Linear: ("Linear", ()),
    ReLU: ("ReLU", ()),
    LeakyReLU: ("LeakyReLU", ("negative_slope",)),
    Tanh: ("Tanh", ()),
    Sigmoid: ("Sigmoid", ()),
    ELU: ("ELU", ("alpha",)),
    GELU: ("GELU", ("approximate",)),
    Softmax: ("Softmax", ("dim",)),
    LogSoftmax: ("LogSoftmax", ("dim",)),
    Dropout: ("Dropout", ("p",)),
    Identity: ("Identity", ()),
}
_BY_NAME = {name: cls for cls, (name, _) in LAYERS.items()}
SUPPORTED = ", ".join(name for name, _ in LAYERS.values())


def _refuse(module, where: str, who: str):
    place = f" at {where}" if where else ""
    return TypeError(
        f"{who}: {type(module).__name__}{place} is not supported; a model must be an MLP or "
        f"a Sequential of {SUPPORTED}"
    )


def chain(model, who: str) -> list:
    """The leaf layers of ``model`` in the order its forward applies them (nested
    Sequentials flattened); raises TypeError naming the first unsupported module."""
    return [layer for _, layer in named_chain(model, who)]


def named_chain(model, who: str, prefix: str = "") -> list:
    """``[(dotted name, layer)]`` of :func:`chain`, with names relative to ``model``."""
    if type(model) is MLP:
        return named_chain(model.layers, who, f"{prefix}layers.")
    if type(model) is Sequential:
        out = []
        for name, child in model._modules.items():
            if child is not None:
                out += named_chain(child, who, f"{prefix}{name}.")
        return out
    if type(model) in LAYERS:
        return [(prefix.rstrip("."), model)]
    raise _refuse(model, prefix.rstrip("."), who)


# --- describe and rebuild ------------------------------------------------------------------
def describe(module, who: str = "cr.save", where: str = "") -> dict:
    """A JSON description of ``module`` from which :func:`build` makes an equal model."""
    kind = type(module)
    if kind is MLP:
        return {"type": "MLP", "sizes": list(module.sizes), "layers": describe(module.layers, who)}
    if kind is Sequential:
        return {
            "type": "Sequential",
            "layers": [
                [name, describe(child, who, f"{where}.{name}" if where else name)]
                for name, child in module._modules.items()
                if child is not None
            ],
        }
    if kind not in LAYERS:
        raise _refuse(module, where, who)
    name, args = LAYERS[kind]
    spec = {"type": name, **{a: getattr(module, a) for a in args}}
    if kind is Linear:
        spec.update(
            in_features=module.in_features,
            out_features=module.out_features,
            bias=module.bias is not None,
        )
    return spec


def build(spec: dict, state: dict):
    """The model ``spec`` describes, holding the weights ``state`` (named as in files).

    Building draws initial weights that the saved ones replace at once; the global
    generator is put back afterwards, so loading a model does not change what
    ``cr.manual_seed`` made the program draw next.
    """
    rng_state = backend.get_rng_state()
    try:
        model = _build(spec, state, "")
    finally:
        backend.set_rng_state(rng_state)
    load_file_names(model, state)
    return model


def _build(spec: dict, state: dict, prefix: str):
    kind = spec["type"]
    if kind == "MLP":
        mlp = MLP(spec["sizes"], activation="identity")
        mlp.layers = _build(spec["layers"], state, prefix)
        return mlp
    if kind == "Sequential":
        return Sequential(
            {name: _build(child, state, f"{prefix}{name}.") for name, child in spec["layers"]}
        )
    if kind == "Linear":
        dtype = state[f"{prefix}weight"].dtype
        return Linear(spec["in_features"], spec["out_features"], bias=spec["bias"], dtype=dtype)
    if kind not in _BY_NAME:
        raise ValueError(f"unknown layer type {kind!r} in the model description")
    cls = _BY_NAME[kind]
    return cls(**{a: spec[a] for a in LAYERS[cls][1]})


# --- names in files ------------------------------------------------------------------------
def file_names(model) -> dict:
    """``{name in the file: array}``: the state_dict with PyTorch's ``nn.Sequential`` names
    (an MLP's ``layers.`` prefix dropped)."""
    state = model.state_dict()
    if type(model) is MLP:
        return {k.removeprefix("layers."): v for k, v in state.items()}
    return state


def load_file_names(model, state: dict) -> None:
    """``model.load_state_dict`` from arrays named as :func:`file_names` names them."""
    if type(model) is MLP:
        model.layers.load_state_dict(state)
    else:
        model.load_state_dict(state)


__all__ = [
    "LAYERS",
    "SUPPORTED",
    "build",
    "chain",
    "describe",
    "file_names",
    "load_file_names",
    "named_chain",
]
