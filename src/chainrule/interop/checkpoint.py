"""``cr.save(obj, path)`` / ``cr.load(path)``: checkpoints that cannot run code when loaded.

``cr.save`` writes a **safetensors** file (interop/safetensors_file.py): the arrays as
tensors, the structure around them as metadata, a SHA-256 over every byte. ``obj`` is a
model (``cr.save(model, "m.safetensors")``; ``cr.load`` gives the model back), a
state_dict, or any nesting of dicts/lists/tuples around arrays, tensors, numbers,
strings and ``None`` (a whole training state). Tensor names are the paths to them
(``model.layers.0.weight``, ``optimizer.state.0.exp_avg``); a saved model's weights are
named as in the equivalent ``torch.nn.Sequential`` (``0.weight``, ``0.bias``, …), so
``safetensors.torch.load_file`` gives PyTorch a state dict it loads as it is.

``cr.load`` reads by content, not by name: chainrule's safetensors files (checked
completely first), ``.npz`` checkpoints of chainrule 0.1, safetensors files other tools
wrote (returned as ``{name: array}``), and PyTorch ``.pt``/``.pth`` files through
``torch.load(weights_only=True)`` when PyTorch is installed. Nothing is ever unpickled
by chainrule.

Writes are atomic and honour the umask (:func:`chainrule.files.atomic_write`); loads are
all-or-nothing: a truncated, corrupted or foreign file raises :class:`CheckpointError`
(a ``ValueError``) with one line naming the file, before anything is returned.
"""

from __future__ import annotations

import io
import os

import numpy as np

from chainrule.files import atomic_write
from chainrule.interop import npz_file, safetensors_file
from chainrule.interop.tree import CheckpointError, decode, encode, referenced, show

TORCH_SUFFIXES = (".pt", ".pth")
# the dtypes a safetensors file holds (NumPy kind, item sizes)
_SAFETENSORS_KINDS = {"b": (1,), "i": (1, 2, 4, 8), "u": (1, 2, 4, 8), "f": (2, 4, 8)}


def save(obj, path) -> None:
    """Write ``obj`` to ``path`` atomically: a safetensors file, or chainrule 0.1's npz
    archive when ``path`` ends in ``.npz``.

    >>> cr.save(model, "model.safetensors")             # cr.load gives the model back
    >>> cr.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, p)
    """
    path = os.fspath(path)
    if path.lower().endswith(TORCH_SUFFIXES):
        raise ValueError(
            f"cr.save: {path}: chainrule writes safetensors (.safetensors) or .npz, not "
            "PyTorch's pickle format; for PyTorch use torch.save(model.to_torch().state_dict(), "
            "path), or give PyTorch this file through safetensors.torch.load_file"
        )
    if path.lower().endswith(".npz"):
        arrays: dict = {}

        def store_npz(array, where):
            name = f"a{len(arrays)}"
            arrays[name] = array
            return name

        structure = encode(obj, store_npz)
        atomic_write(path, lambda f: npz_file.write(f, arrays, structure))
        return
    tensors: dict = {}
    structure = encode(obj, lambda array, where: _store_tensor(tensors, array, where))
    atomic_write(path, safetensors_file.to_bytes(tensors, structure))


def _store_tensor(tensors: dict, array: np.ndarray, where: tuple) -> str:
    """Keep ``array`` under its path (``model.layers.0.weight``); a path that two arrays
    share (a key ``"a.b"`` next to a key ``"a"`` holding ``"b"``) gets ``#2``, ``#3``…"""
    kind, size = array.dtype.kind, array.dtype.itemsize
    if size not in _SAFETENSORS_KINDS.get(kind, ()):
        raise TypeError(
            f"cr.save: the array at {show(where)} has dtype {array.dtype}, which safetensors "
            "cannot hold (booleans, integers and floats only); save to a .npz path instead"
        )
    base = ".".join(str(part) for part in where) or "obj"
    name, n = base, 1
    while name in tensors or name == "__metadata__":
        n += 1
        name = f"{base}#{n}"
    tensors[name] = array
    return name


def load(path):
    """Read a checkpoint (see the module docstring); arrays come back as NumPy arrays,
    tensors as Tensors, a saved model as that model. Raises :class:`CheckpointError`
    with one line naming the file if it is truncated, corrupted or not a checkpoint —
    before returning anything. Never unpickles."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if os.path.isdir(path):
        raise CheckpointError(f"{path} is a folder, not a checkpoint file")
    if path.lower().endswith(TORCH_SUFFIXES):
        from chainrule.interop.pytorch import load_torch_file

        return load_torch_file(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:4] in npz_file.ZIP_MAGIC:
            arrays, structure = npz_file.read(io.BytesIO(raw))
        elif safetensors_file.is_safetensors(raw):
            arrays, structure = safetensors_file.from_bytes(raw)
            if structure is None:  # written by another tool: its tensors, by name
                return arrays
        elif len(raw) <= safetensors_file.MAGIC_LENGTH:
            raise CheckpointError(f"truncated or empty: {len(raw)} bytes")
        else:
            raise CheckpointError("neither a safetensors file nor an .npz archive")
        missing = referenced(structure) - set(arrays)
        if missing:
            raise CheckpointError(f"missing array entries {sorted(missing)[:5]}")
        try:
            return decode(structure, arrays)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            if isinstance(e, CheckpointError):
                raise
            raise CheckpointError(f"malformed structure ({type(e).__name__}: {e})") from None
    except CheckpointError as e:
        raise CheckpointError(f"{path} is not a readable chainrule checkpoint: {e}") from None
    except IsADirectoryError:  # pragma: no cover - raced with the check above
        raise CheckpointError(f"{path} is a folder, not a checkpoint file") from None


__all__ = ["CheckpointError", "load", "save"]
