"""The nested structure of a checkpoint, as JSON with references to stored arrays.

``cr.save`` accepts any nesting of dicts, lists and tuples around arrays, tensors,
numbers, strings, ``None`` — a state_dict, an optimizer's state, a whole training state.
:func:`encode` turns it into a JSON document in which every array is replaced by a
reference to a stored tensor; :func:`decode` turns the document and the stored tensors
back into the same objects. Both file formats (safetensors, and the older ``.npz``) use
this one encoding.

The JSON keeps types exact. Lists, strings, ``None``, bools, ints (of any size: generator
states hold 128-bit integers) and finite floats are plain JSON; everything else is an
object with exactly one tag key::

    {"array": "model.layers.0.weight"}   a NumPy array stored under that name
    {"tensor": "t"}                      a chainrule Tensor (its data; loaded as a Tensor)
    {"dict": {...}}                      a dict whose keys are all strings
    {"items": [[k, v]]}                  a dict with other keys (an optimizer's {0: {...}})
    {"tuple": [...]}                     a tuple
    {"float": "nan"}                     nan, inf or -inf (JSON has no spelling for them)
    {"module": {"spec": ..., "state": {...}}}   a whole model (see interop/layers.py)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


class CheckpointError(ValueError):
    """A file that is not a complete, valid chainrule checkpoint."""


def encode(obj, store: Callable[[np.ndarray, tuple], str], path: tuple = ()):
    """The JSON form of ``obj``; every array goes through ``store(array, path) -> name``,
    where ``path`` is the tuple of keys and indices that lead to it in ``obj``
    (``("model", "layers.0.weight")``)."""
    where = show(path)
    from chainrule.nn.module import Module
    from chainrule.tensor import Tensor

    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, np.bool_):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(obj, Tensor):
        return {"tensor": store(_host_array(obj.data, where), path)}
    if isinstance(obj, Module):
        from chainrule.interop.layers import describe, file_names

        spec = describe(obj, "cr.save")
        state = {
            name: {"array": store(value, (*path, name))} for name, value in file_names(obj).items()
        }
        return {"module": {"spec": spec, "state": state}}
    if isinstance(obj, np.ndarray) or hasattr(obj, "__array_interface__") or _is_device(obj):
        return {"array": store(_host_array(obj, where), path)}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {"dict": {k: encode(v, store, (*path, k)) for k, v in obj.items()}}
        return {
            "items": [
                [encode(k, store, (*path, "key")), encode(v, store, (*path, k))]
                for k, v in obj.items()
            ]
        }
    if isinstance(obj, tuple):
        return {"tuple": [encode(v, store, (*path, i)) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [encode(v, store, (*path, i)) for i, v in enumerate(obj)]
    raise TypeError(
        f"cr.save: cannot store {type(obj).__name__} at {where}; checkpoints hold arrays, "
        "tensors, models, numbers, strings, None and dicts/lists/tuples of them"
    )


def show(path: tuple) -> str:
    """``path`` as Python would index it: ``obj['model']['0.weight']``."""
    return "obj" + "".join(f"[{part!r}]" for part in path)


def _is_device(obj) -> bool:
    """A CuPy array (it has ``.get()`` to copy itself to the host)."""
    return hasattr(obj, "get") and hasattr(obj, "shape") and hasattr(obj, "dtype")


def _host_array(obj, where: str) -> np.ndarray:
    array = obj.get() if _is_device(obj) else np.asarray(obj)
    if array.dtype.hasobject:
        raise TypeError(f"cr.save: object array at {where} cannot be stored without pickle")
    return array


def decode(node, arrays: dict):
    """The objects that :func:`encode` described; ``arrays`` maps stored names to arrays."""
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [decode(v, arrays) for v in node]
    if not isinstance(node, dict) or len(node) != 1:
        raise CheckpointError(f"malformed structure entry {str(node)[:60]!r}")
    ((tag, value),) = node.items()
    if tag == "array":
        return arrays[value]
    if tag == "tensor":
        from chainrule.tensor import Tensor

        return Tensor(arrays[value])
    if tag == "dict":
        return {k: decode(v, arrays) for k, v in value.items()}
    if tag == "items":
        return {_hashable(decode(k, arrays)): decode(v, arrays) for k, v in value}
    if tag == "tuple":
        return tuple(decode(v, arrays) for v in value)
    if tag == "float":
        return float(value)
    if tag == "module":
        from chainrule.interop.layers import build

        state = {name: arrays[ref["array"]] for name, ref in value["state"].items()}
        return build(value["spec"], state)
    raise CheckpointError(f"unknown structure tag {tag!r}")


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key


def referenced(node, out: set | None = None) -> set:
    """Names of the stored arrays the structure refers to."""
    out = set() if out is None else out
    if isinstance(node, list):
        for v in node:
            referenced(v, out)
    elif isinstance(node, dict) and len(node) == 1:
        ((tag, value),) = node.items()
        if tag in ("array", "tensor"):
            out.add(value)
        elif tag == "dict":
            for v in value.values():
                referenced(v, out)
        elif tag in ("items", "tuple"):
            referenced(value, out)
        elif tag == "module":
            for ref in value["state"].values():
                referenced(ref, out)
    return out


__all__ = ["CheckpointError", "decode", "encode", "referenced", "show"]
