"""PyTorch in and out: ``cr.nn.from_torch(module)``, ``model.to_torch()``, ``.pt`` files.

``from_torch`` converts what PyTorch users write for an MLP into the equal chainrule
model, weights copied exactly (dtype kept):

- a ``torch.nn.Sequential`` (nested ones too) of ``Linear``, ``ReLU``, ``LeakyReLU``,
  ``Tanh``, ``Sigmoid``, ``ELU``, ``GELU``, ``Softmax``, ``LogSoftmax``, ``Dropout``,
  ``Identity``: a ``cr.nn.Sequential`` with the same child names, so its
  ``state_dict()`` keys equal PyTorch's;
- any other ``nn.Module`` whose ``forward`` is such a chain — ``self.fc2(F.relu(self.fc1(x)))``
  — found by tracing it with ``torch.fx.symbolic_trace``: every operation must take the
  previous one's output as its only tensor input and be a layer above or its functional
  form (``F.relu``, ``torch.tanh``, ``x.sigmoid()``, ``F.softmax(x, dim=1)``, …). The
  children keep their names (``fc1.weight``). A forward that branches, adds, reshapes,
  or uses Python control flow on values is refused, naming the operation: a model that
  cannot be traced safely is not guessed at.

``to_torch`` is the reverse (a ``torch.nn.Sequential``; an MLP's ``layers.k`` become its
``k``), and :func:`load_torch_file` reads ``.pt``/``.pth`` state dicts with
``torch.load(weights_only=True)``, PyTorch's loader that refuses anything but tensors and
plain containers. chainrule has no unpickler of its own and never will.

PyTorch is imported inside each function: it is optional (``pip install torch``).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from chainrule.interop.layers import named_chain
from chainrule.interop.tree import CheckpointError
from chainrule.nn import activation as A
from chainrule.nn.containers import Sequential
from chainrule.nn.linear import Identity, Linear
from chainrule.nn.mlp import MLP


def _torch(who: str):
    try:
        import torch
    except ModuleNotFoundError:
        raise ModuleNotFoundError(f"{who} needs PyTorch: pip install torch") from None
    return torch


# --- torch -> chainrule --------------------------------------------------------------------
def from_torch(module):
    """The chainrule model equal to the PyTorch ``module`` (see the module docstring).

    Raises TypeError naming the first layer or operation that has no chainrule equal.
    """
    torch = _torch("cr.nn.from_torch")
    nn = torch.nn
    if not isinstance(module, nn.Module):
        raise TypeError(f"from_torch: expected a torch.nn.Module, got {type(module).__name__}")
    if type(module) is nn.Sequential or _leaf(module, nn) is not None:
        model = _convert_module(module, "", nn)
    else:
        model = _convert_traced(module, torch)
    model.train(module.training)
    return model


def _leaf(module, nn):
    """The chainrule layer equal to a PyTorch leaf layer, or None if it is none of them."""
    kind = type(module)
    if kind is nn.Linear:
        return _linear(module)
    if kind is nn.ReLU:
        return A.ReLU()
    if kind is nn.LeakyReLU:
        return A.LeakyReLU(module.negative_slope)
    if kind is nn.Tanh:
        return A.Tanh()
    if kind is nn.Sigmoid:
        return A.Sigmoid()
    if kind is nn.ELU:
        return A.ELU(module.alpha)
    if kind is nn.GELU:
        return A.GELU(module.approximate)
    if kind in (nn.Softmax, nn.LogSoftmax):
        return _softmax(kind is nn.LogSoftmax, module.dim, type(module).__name__)
    if kind is nn.Dropout:
        return A.Dropout(module.p)
    if kind is nn.Identity:
        return Identity()
    return None


def _softmax(log: bool, dim, name: str):
    if dim is None:  # PyTorch's deprecated implicit axis depends on the input's rank
        raise TypeError(f"from_torch: {name}(dim=None) has no fixed axis; give it dim=-1")
    return A.LogSoftmax(dim) if log else A.Softmax(dim)


def _linear(layer):
    weight = _array(layer.weight, "Linear.weight")
    bias = layer.bias is not None
    lin = Linear(layer.in_features, layer.out_features, bias=bias, dtype=weight.dtype)
    lin.weight.data[...] = weight
    if layer.bias is not None:
        lin.bias.data[...] = _array(layer.bias, "Linear.bias")
    return lin


def _array(tensor, what: str) -> np.ndarray:
    array = tensor.detach().cpu()
    if not array.dtype.is_floating_point or array.element_size() < 4:
        raise TypeError(
            f"from_torch: {what} is {array.dtype}; chainrule computes in float32 or float64 "
            "(call .float() or .double() on the module first)"
        )
    return array.numpy().copy()


def _convert_module(module, where: str, nn):
    if type(module) is nn.Sequential:
        _refuse_shared_weights(module, nn)
        return Sequential(
            OrderedDict(
                (name, _convert_module(child, f"{where}.{name}" if where else name, nn))
                # _modules, not named_children(): that skips a module seen before, and
                # Sequential(lin, act, lin2, act) reuses one activation object twice
                for name, child in module._modules.items()
                if child is not None
            )
        )
    layer = _leaf(module, nn)
    if layer is None:
        place = f" at {where}" if where else ""
        raise TypeError(
            f"from_torch: {type(module).__name__}{place} has no chainrule equal; convertible "
            "layers: Linear, ReLU, LeakyReLU, Tanh, Sigmoid, ELU, GELU, Softmax, LogSoftmax, "
            "Dropout, Identity (in a Sequential, or called one after another in forward)"
        )
    return layer


def _refuse_shared_weights(module, nn):
    """A Linear used twice shares its weights; two chainrule copies would not (their
    gradients would not add up), so it is refused rather than silently split."""
    seen: dict = {}
    for name, child in module.named_modules(remove_duplicate=False):
        if type(child) is nn.Linear:
            if id(child) in seen:
                raise TypeError(
                    f"from_torch: Linear {seen[id(child)]} is used again at {name}; shared "
                    "weights do not convert (give each place its own layer)"
                )
            seen[id(child)] = name


def _convert_traced(module, torch):
    """Trace ``module.forward`` with torch.fx and convert it if it is a chain of layers."""
    import torch.fx as fx

    name = type(module).__name__
    try:
        graph_module = fx.symbolic_trace(module)
    except Exception as e:  # fx raises TraceError, TypeError, ...: any means "not a chain"
        raise TypeError(
            f"from_torch: {name}.forward cannot be traced safely by torch.fx "
            f"({_first_line(e)}); "
            "convert a torch.nn.Sequential instead"
        ) from None
    layers: OrderedDict = OrderedDict()
    previous = None
    used = set()
    for node in graph_module.graph.nodes:
        if node.op == "placeholder":
            if previous is not None:
                raise TypeError(f"from_torch: {name}.forward takes more than one input")
            previous = node
            continue
        if node.op == "output":
            if node.args[0] is not previous:
                raise TypeError(
                    f"from_torch: {name}.forward does not return its last layer's output"
                )
            break
        what = _describe(node)
        if len(previous.users) != 1:
            users = " and ".join(_describe(user) for user in previous.users)
            raise TypeError(
                f"from_torch: {name}.forward is not a chain of layers: {users} "
                f"{'both' if len(previous.users) == 2 else 'all'} take "
                f"{previous.name!r} (branches, skips and sums do not convert)"
            )
        if _tensor_inputs(node, fx) != [previous]:
            raise TypeError(
                f"from_torch: {name}.forward is not a chain of layers: {what} does not simply "
                "take the previous layer's output (branches, skips and sums do not convert)"
            )
        if node.op == "call_module":
            if node.target in used:
                raise TypeError(f"from_torch: {name}.forward calls self.{node.target} twice")
            used.add(node.target)
            child = graph_module.get_submodule(node.target)
            layer = _convert_module(child, node.target, torch.nn)
            key = node.target if "." not in node.target else node.name
        else:
            layer = _functional(node, torch, what, name)
            key = node.name
        layers[key] = layer
        previous = node
    if not layers:
        raise TypeError(f"from_torch: {name}.forward applies no layers")
    return Sequential(layers)


def _describe(node) -> str:
    target = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "?")
    kinds = {"call_module": f"self.{target}", "get_attr": f"self.{target}"}
    shown = kinds.get(node.op, f".{target}()" if node.op == "call_method" else f"{target}()")
    return f"operation {node.name!r} ({shown})"


def _tensor_inputs(node, fx) -> list:
    found = []
    fx.node.map_arg((node.args, node.kwargs), lambda n: found.append(n))
    return found


def _functional(node, torch, what: str, model: str):
    """The layer for ``F.relu(x)``, ``torch.tanh(x)``, ``x.sigmoid()``, ``F.softmax(x, 1)``…"""
    F = torch.nn.functional
    fn, op = node.target, node.op
    simple = {
        "relu": A.ReLU,
        "tanh": A.Tanh,
        "sigmoid": A.Sigmoid,
    }
    if op == "call_function":
        for key, make in simple.items():
            if fn in (getattr(torch, key), getattr(F, key, None)):
                return make()
        if fn is F.leaky_relu:
            return A.LeakyReLU(_arg(node, 1, "negative_slope", 0.01))
        if fn is F.elu:
            return A.ELU(_arg(node, 1, "alpha", 1.0))
        if fn is F.gelu:
            return A.GELU(_arg(node, 1, "approximate", "none"))
        if fn in (F.softmax, torch.softmax, F.log_softmax, torch.log_softmax):
            _no_dtype(node, what)
            log = fn in (F.log_softmax, torch.log_softmax)
            return _softmax(log, _arg(node, 1, "dim", None), "log_softmax" if log else "softmax")
        if fn is F.dropout:
            return A.Dropout(_arg(node, 1, "p", 0.5))
    elif op == "call_method":
        if fn in simple and len(node.args) == 1 and not node.kwargs:
            return simple[fn]()
        if fn in ("softmax", "log_softmax"):
            _no_dtype(node, what)
            return _softmax(fn == "log_softmax", _arg(node, 1, "dim", None), fn)
    raise TypeError(
        f"from_torch: {model}.forward uses {what}, which has no chainrule layer; only "
        "Linear layers and activations (modules or their functional forms) convert"
    )


def _arg(node, position: int, name: str, default):
    if len(node.args) > position:
        return node.args[position]
    return node.kwargs.get(name, default)


def _no_dtype(node, what):
    if node.kwargs.get("dtype") is not None or len(node.args) > 3:
        raise TypeError(f"from_torch: {what} changes the dtype, which does not convert")


# --- chainrule -> torch --------------------------------------------------------------------
def to_torch(model):
    """A ``torch.nn.Sequential`` equal to ``model`` (an MLP, or a Sequential of the layers
    of :mod:`chainrule.interop.layers`), weights copied, in the same train/eval mode."""
    torch = _torch("to_torch")
    named_chain(model, "to_torch")  # refuse unsupported modules before building anything
    out = _to_torch(model.layers if type(model) is MLP else model, torch)
    out.train(model.training)
    return out


def _to_torch(module, torch):
    nn = torch.nn
    if type(module) is Sequential:
        return nn.Sequential(
            OrderedDict((name, _to_torch(child, torch)) for name, child in module.named_children())
        )
    if type(module) is MLP:
        return _to_torch(module.layers, torch)
    kind = type(module)
    if kind is Linear:
        w = module.weight.data
        layer = nn.Linear(
            module.in_features,
            module.out_features,
            bias=module.bias is not None,
            dtype={np.float16: torch.float16, np.float32: torch.float32, np.float64: torch.float64}[
                w.dtype.type
            ],
        )
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(np.array(w)))
            if module.bias is not None:
                layer.bias.copy_(torch.from_numpy(np.array(module.bias.data)))
        return layer
    simple = {
        A.ReLU: nn.ReLU,
        A.Tanh: nn.Tanh,
        A.Sigmoid: nn.Sigmoid,
        Identity: nn.Identity,
    }
    if kind in simple:
        return simple[kind]()
    if kind is A.LeakyReLU:
        return nn.LeakyReLU(module.negative_slope)
    if kind is A.ELU:
        return nn.ELU(module.alpha)
    if kind is A.GELU:
        return nn.GELU(approximate=module.approximate)
    if kind is A.Softmax:
        return nn.Softmax(dim=module.dim)
    if kind is A.LogSoftmax:
        return nn.LogSoftmax(dim=module.dim)
    if kind is A.Dropout:
        return nn.Dropout(module.p)
    raise TypeError(f"to_torch: {kind.__name__} has no PyTorch equal")  # pragma: no cover


# --- files ---------------------------------------------------------------------------------
def load_torch_file(path: str):
    """The contents of a ``.pt``/``.pth`` file, tensors as NumPy arrays, read by
    ``torch.load(weights_only=True)``. Without PyTorch: a one-line error saying so."""
    import pickle
    import re

    try:
        import torch
    except ModuleNotFoundError:
        raise CheckpointError(
            f"{path}: reading a PyTorch file needs PyTorch (pip install torch); chainrule "
            "does not unpickle files itself — or save it with safetensors.torch.save_file"
        ) from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's weights-only unpickler names a refused class as "GLOBAL module.Name" in
        # the error it chains; any other unpickling error means the bytes are no torch file
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e.__context__ or e))
        if found:
            raise CheckpointError(
                f"{path}: torch.load(weights_only=True) refuses it: it holds a "
                f"{found.group(1)} object, not just tensors (a whole pickled model?); "
                "save model.state_dict() instead"
            ) from None
        raise CheckpointError(f"{path} is not a readable PyTorch file: {_first_line(e)}") from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is not a readable PyTorch file: {_first_line(e)}") from None
    return _numpy_tree(obj, torch)


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _numpy_tree(obj, torch):
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu()
        if t.dtype == torch.bfloat16:  # NumPy has no bfloat16; float32 holds it exactly
            t = t.float()
        return t.numpy().copy()
    if isinstance(obj, dict):
        return {k: _numpy_tree(v, torch) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_numpy_tree(v, torch) for v in obj)
    return obj


__all__ = ["from_torch", "load_torch_file", "to_torch"]
