"""``cr.save(obj, path)`` / ``cr.load(path)``: checkpoints that cannot run code when loaded.

A checkpoint is one ``.npz`` archive (``numpy.savez``). Every array in ``obj`` becomes one
entry (``a0``, ``a1``, ...); the nested structure around them — dicts, lists, tuples,
numbers, strings, ``None`` — is described by a JSON document stored in the entry
``__chainrule__`` as a ``uint8`` array. ``load`` opens the archive with
``numpy.load(allow_pickle=False)``: nothing is ever unpickled, so a checkpoint from a
stranger can at worst fail to load.

The JSON encoding keeps types exact. Lists, strings, ``None``, bools, ints (of any size:
generator states hold 128-bit integers) and finite floats are plain JSON; everything else
is an object with exactly one tag key::

    {"array": "a3"}        a NumPy array stored as archive entry a3
    {"tensor": "a4"}       a chainrule Tensor (its data; loaded back as a Tensor)
    {"dict": {...}}        a dict whose keys are all strings
    {"items": [[k, v]]}    a dict with other keys (an optimizer's {0: {...}, 1: {...}})
    {"tuple": [...]}       a tuple
    {"float": "nan"}       nan, inf or -inf (JSON has no spelling for them)

Writes are atomic and honour the umask (:func:`chainrule.files.atomic_write`): the
archive goes to a temporary file in the target's folder, is flushed and fsync'd, then
``os.replace``'d over the target, so a crash or a full disk leaves either the old file or
the new one, never half of one. Loads are all-or-nothing:
every entry is read and checked (the zip CRCs catch flipped bits, a missing end record
catches truncation) before anything is returned, so a caller never sees part of a
checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import zipfile

import numpy as np

from chainrule.files import atomic_write

FORMAT = "chainrule-checkpoint"
VERSION = 1
_META_KEY = "__chainrule__"


class CheckpointError(ValueError):
    """A file that is not a complete, valid chainrule checkpoint."""


# --- encoding ------------------------------------------------------------------------------
def _encode(obj, arrays: dict, where: str):
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
        return {"tensor": _store(obj.data, arrays, where)}
    if isinstance(obj, np.ndarray) or hasattr(obj, "__array_interface__"):
        return {"array": _store(obj, arrays, where)}
    if hasattr(obj, "get") and hasattr(obj, "shape") and hasattr(obj, "dtype"):  # CuPy
        return {"array": _store(obj.get(), arrays, where)}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {"dict": {k: _encode(v, arrays, f"{where}[{k!r}]") for k, v in obj.items()}}
        return {
            "items": [
                [_encode(k, arrays, f"{where} key"), _encode(v, arrays, f"{where}[{k!r}]")]
                for k, v in obj.items()
            ]
        }
    if isinstance(obj, tuple):
        return {"tuple": [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]
    raise TypeError(
        f"cr.save: cannot store {type(obj).__name__} at {where}; checkpoints hold arrays, "
        "tensors, numbers, strings, None and dicts/lists/tuples of them"
    )


def _store(array, arrays: dict, where: str) -> str:
    array = np.asarray(array)
    if array.dtype.hasobject:
        raise TypeError(f"cr.save: object array at {where} cannot be stored without pickle")
    name = f"a{len(arrays)}"
    arrays[name] = array
    return name


def _decode(node, arrays: dict):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [_decode(v, arrays) for v in node]
    if not isinstance(node, dict) or len(node) != 1:
        raise CheckpointError(f"malformed structure entry {str(node)[:60]!r}")
    ((tag, value),) = node.items()
    if tag == "array":
        return arrays[value]
    if tag == "tensor":
        from chainrule.tensor import Tensor

        return Tensor(arrays[value])
    if tag == "dict":
        return {k: _decode(v, arrays) for k, v in value.items()}
    if tag == "items":
        return {_hashable(_decode(k, arrays)): _decode(v, arrays) for k, v in value}
    if tag == "tuple":
        return tuple(_decode(v, arrays) for v in value)
    if tag == "float":
        return float(value)
    raise CheckpointError(f"unknown structure tag {tag!r}")


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key


def _referenced(node, out: set) -> set:
    """Names of the archive entries the structure refers to."""
    if isinstance(node, list):
        for v in node:
            _referenced(v, out)
    elif isinstance(node, dict) and len(node) == 1:
        ((tag, value),) = node.items()
        if tag in ("array", "tensor"):
            out.add(value)
        elif tag == "dict":
            for v in value.values():
                _referenced(v, out)
        elif tag in ("items", "tuple"):
            _referenced(value, out)
    return out


# --- writing -------------------------------------------------------------------------------
def save(obj, path) -> None:
    """Write ``obj`` (a state_dict, or any nesting of dicts/lists/tuples around arrays,
    tensors, numbers, strings and None) to ``path`` as a checkpoint, atomically.

    >>> cr.save(model.state_dict(), "model.ckpt.npz")
    >>> cr.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, p)
    """
    arrays: dict = {}
    root = _encode(obj, arrays, "obj")
    meta = json.dumps({"format": FORMAT, "version": VERSION, "root": root}, allow_nan=False)
    arrays[_META_KEY] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)
    atomic_write(path, lambda f: np.savez(f, **arrays))


# --- reading -------------------------------------------------------------------------------
def load(path):
    """Read a checkpoint written by :func:`save`; arrays come back as NumPy arrays, tensors
    as Tensors. Raises :class:`CheckpointError` (a ``ValueError``) with one line naming the
    file if it is truncated, corrupted or not a chainrule checkpoint — before returning
    anything. Never unpickles."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if os.path.isdir(path):
        raise CheckpointError(f"{path} is a folder, not a checkpoint file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if _META_KEY not in archive.files:
                raise CheckpointError("no chainrule metadata entry (not a chainrule checkpoint)")
            # read every entry now: the zip CRC check runs as each is read in full
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(arrays.pop(_META_KEY).tobytes().decode("utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise CheckpointError("metadata is not a chainrule checkpoint's")
        if meta.get("version") != VERSION:
            raise CheckpointError(f"unsupported checkpoint version {meta.get('version')!r}")
        missing = _referenced(meta["root"], set()) - set(arrays)
        if missing:
            raise CheckpointError(f"missing array entries {sorted(missing)[:5]}")
        return _decode(meta["root"], arrays)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
    except (
        zipfile.BadZipFile,
        EOFError,
        OSError,
        KeyError,
        ValueError,
        UnicodeDecodeError,
        TypeError,
    ) as e:
        if isinstance(e, FileNotFoundError):
            raise
        detail = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        raise CheckpointError(
            f"{path} is not a readable chainrule checkpoint (truncated or corrupted?): {detail}"
        ) from None
