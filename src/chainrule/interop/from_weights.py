"""A model from bare weights: a state dict with no architecture in it.

A ``.pt`` state dict (``torch.save(model.state_dict(), path)``) or a safetensors file
written by ``safetensors.torch.save_file`` holds each ``Linear`` layer's ``weight``
``(out, in)`` and ``bias`` ``(out,)`` under the layer's name (``0.weight``, ``fc1.bias``),
and nothing else: not the activations, which have no weights. Given the activation,
:func:`chain_from_weights` rebuilds the chain

    h_0 = x,   h_k = g(W_k h_{k-1} + b_k)   (k < K),   output = W_K h_{K-1} + b_K

as a ``cr.nn.Sequential`` whose Linear layers keep the file's names, so the model's
``state_dict()`` keys are the file's and its weights are the file's, exactly. The layer
order is the file's when the shapes chain (each ``in`` equals the previous ``out``), else
the names' natural order (``2.weight`` before ``10.weight``); a file whose layers chain in
neither order, or that holds anything but Linear weights, is refused by name.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from itertools import pairwise

import numpy as np

from chainrule import backend
from chainrule.nn.containers import Sequential
from chainrule.nn.linear import Linear
from chainrule.nn.mlp import ACTIVATIONS


def chain_from_weights(state: dict, activation: str, sizes=None, *, what: str = "the weights"):
    """The Sequential of Linear layers (named as in ``state``) with ``activation`` between
    them; ``sizes`` (input to output), when given, must match the weights' shapes.

    Raises ValueError naming the entry or the size that does not fit.
    """
    key = str(activation).lower()
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")
    layers = _linear_layers(state, what)
    order = _chained_order(layers, what)
    found = [layers[order[0]][0].shape[1]] + [layers[name][0].shape[0] for name in order]
    if sizes is not None and list(sizes) != found:
        raise ValueError(
            f"--layers {'-'.join(map(str, sizes))} does not match {what}: its Linear layers "
            f"{', '.join(order)} are {'-'.join(map(str, found))}"
        )
    modules: OrderedDict = OrderedDict()
    rng_state = backend.get_rng_state()  # building draws weights the file's replace at once
    try:
        for k, name in enumerate(order):
            weight, bias = layers[name]
            linear = Linear(
                weight.shape[1], weight.shape[0], bias=bias is not None, dtype=weight.dtype
            )
            linear.weight.data[...] = weight
            if bias is not None:
                linear.bias.data[...] = bias
            modules[name] = linear
            if k < len(order) - 1:
                modules[_free_name(name, order, modules)] = ACTIVATIONS[key][0]()
    finally:
        backend.set_rng_state(rng_state)
    return Sequential(modules)


def _linear_layers(state: dict, what: str) -> dict:
    """``{layer name: (weight, bias or None)}`` in the file's order, dtypes checked."""
    if not isinstance(state, dict) or not state:
        raise ValueError(f"{what}: no weights in it")
    layers: dict = {}
    for name, value in state.items():
        array = np.asarray(value) if not hasattr(value, "numpy") else value.numpy()
        prefix, _, suffix = str(name).rpartition(".")
        if suffix not in ("weight", "bias") or array.ndim != (2 if suffix == "weight" else 1):
            raise ValueError(
                f"{what}: {name!r} (shape {tuple(array.shape)}) is not a Linear layer's weight "
                "(out, in) or bias (out,); only chains of Linear layers and activations convert"
            )
        if array.dtype.kind != "f":
            raise ValueError(f"{what}: {name!r} is {array.dtype}, not floating point")
        if array.dtype.itemsize < 4:  # float16: widened exactly; chainrule computes in ≥ 32 bits
            array = array.astype(np.float32)
        entry = layers.setdefault(prefix, [None, None])
        entry[0 if suffix == "weight" else 1] = array
    for prefix, (weight, bias) in layers.items():
        if weight is None:
            raise ValueError(f"{what}: {prefix}.bias has no {prefix}.weight")
        if bias is not None and bias.shape != weight.shape[:1]:
            raise ValueError(
                f"{what}: {prefix}.bias has shape {bias.shape}, but {prefix}.weight "
                f"{weight.shape} has {weight.shape[0]} outputs"
            )
    return {prefix: (w, b) for prefix, (w, b) in layers.items()}


def _natural(name: str):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _chains(order, layers) -> bool:
    return all(layers[b][0].shape[1] == layers[a][0].shape[0] for a, b in pairwise(order))


def _chained_order(layers: dict, what: str) -> list:
    for order in (list(layers), sorted(layers, key=_natural)):
        if _chains(order, layers):
            return order
    shapes = ", ".join(f"{n} {layers[n][0].shape[1]}->{layers[n][0].shape[0]}" for n in layers)
    raise ValueError(
        f"{what}: the Linear layers do not chain in the file's order nor by name "
        f"({shapes}); each layer's input size must be the previous one's output size"
    )


def _free_name(after: str, order: list, modules: dict) -> str:
    """The activation's name: the index after a numeric layer name (``0`` → ``1``, as in
    torch's Sequential; ``layers.0`` → ``layers.1``), else ``act_<layer>``; never one the
    weights use."""
    taken = set(order) | set(modules)
    head, _, last = after.rpartition(".")
    if last.isdigit():
        name = f"{head}.{int(last) + 1}" if head else str(int(last) + 1)
    else:
        name = f"act_{after}"
    while name in taken:
        name += "_"
    return name


__all__ = ["chain_from_weights"]
