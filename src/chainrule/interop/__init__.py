"""Models in and out: safetensors checkpoints, ONNX export, PyTorch conversion.

- :func:`save` / :func:`load` (``cr.save``/``cr.load``): safetensors files with the
  structure and a checksum in their metadata; chainrule 0.1's ``.npz`` still read.
- :mod:`chainrule.interop.onnx` (``cr.onnx.export``): a model as an ONNX graph.
- :func:`from_torch` / :func:`to_torch` (``cr.nn.from_torch``, ``model.to_torch()``):
  PyTorch MLPs in and out, weights exact.

See docs/interop.md for every round trip and what it is tested against.
"""

from chainrule.interop.checkpoint import load, save
from chainrule.interop.pytorch import from_torch, load_torch_file, to_torch
from chainrule.interop.tree import CheckpointError

__all__ = ["CheckpointError", "from_torch", "load", "load_torch_file", "save", "to_torch"]
