"""``chainrule export RUN_OR_CHECKPOINT --onnx model.onnx``: a trained model for other tools.

The model is rebuilt from a run folder (its best checkpoint, else its last) or a training
checkpoint, and written as

- ``--onnx FILE``: an ONNX graph (needs ``pip install 'chainrule[onnx]'``) that takes raw
  feature rows — the run's standardization is inside it — and returns what
  ``chainrule predict`` prints: class probabilities for a classifier (``--logits`` for the
  raw outputs), the predictions for a regression;
- ``--safetensors FILE``: the weights, named as PyTorch's ``nn.Sequential`` names them
  (``0.weight``, ``0.bias``, …), with the model's description (``cr.load`` rebuilds it);
- ``--torch FILE``: a PyTorch state dict of the equal ``torch.nn.Sequential`` (needs torch).

A model file written by ``cr.save(model, path)`` works too (no standardization, raw outputs
unless ``--probabilities``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from chainrule.experiment.run_folder import find_checkpoint, restore_model
from chainrule.files import atomic_write
from chainrule.interop.checkpoint import load, save
from chainrule.interop.layers import chain
from chainrule.interop.onnx import export
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module
from chainrule.train.state import STATE_FORMAT


def register(subparsers):
    p = subparsers.add_parser(
        "export",
        help="write a trained model as ONNX, safetensors or a PyTorch state dict",
        description="Rebuild the model of a run folder or checkpoint and write it for other\n"
        "tools: an ONNX graph that takes raw inputs (the run's standardization inside) and\n"
        "returns what 'chainrule predict' prints, the weights as safetensors with PyTorch's\n"
        "names, or a PyTorch state dict.",
        epilog="examples:\n"
        "  chainrule export runs/a --onnx model.onnx        # raw rows in, probabilities out\n"
        "  chainrule export runs/a --onnx logits.onnx --logits\n"
        "  chainrule export runs/a --safetensors w.safetensors --torch w.pt\n"
        "the ONNX model runs in onnxruntime: see docs/interop.md",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT", help="a run folder or checkpoint")
    p.add_argument("--onnx", metavar="FILE", help="write an ONNX model")
    p.add_argument("--safetensors", metavar="FILE", help="write the weights as safetensors")
    p.add_argument("--torch", metavar="FILE", help="write a PyTorch state dict (.pt)")
    out = p.add_mutually_exclusive_group()
    out.add_argument(
        "--logits", action="store_true", help="ONNX returns a classifier's raw outputs"
    )
    out.add_argument(
        "--probabilities",
        action="store_true",
        help="ONNX ends in a softmax (the default for a classifier)",
    )
    p.add_argument(
        "--input-dtype",
        choices=("float32", "float64"),
        help="the ONNX input's dtype (default: float64 when the run standardized its "
        "inputs, so raw values keep their digits; else the model's dtype)",
    )
    p.set_defaults(func=export_command)


def _model_of(path):
    """``(model, description)`` where description has the run's data facts or is empty."""

    checkpoint = find_checkpoint(path)
    if os.path.isfile(checkpoint):
        obj = load(checkpoint)
        if isinstance(obj, Module):
            return obj.eval(), {}, checkpoint
        if not (isinstance(obj, dict) and obj.get("format") == STATE_FORMAT):
            raise ValueError(
                f"{checkpoint} holds neither a model (cr.save(model, path)) nor a training "
                "checkpoint; a bare state_dict has no architecture to export"
            )
    model, config, data_state, checkpoint = restore_model(checkpoint)
    return model, {"config": config, **data_state}, checkpoint


def export_command(args) -> int:

    if not (args.onnx or args.safetensors or args.torch):
        raise ValueError("nothing to write: give --onnx FILE, --safetensors FILE or --torch FILE")
    model, facts, checkpoint = _model_of(args.checkpoint)
    task = facts.get("task")
    if args.logits and task != "classification":
        raise ValueError("--logits: only a classifier has logits to choose over probabilities")
    written = []
    if args.onnx:
        first = next(layer for layer in chain(model, "export") if type(layer) is Linear)
        dtype = first.weight.data.dtype
        softmax = args.probabilities or (task == "classification" and not args.logits)
        metadata = {"chainrule.source": checkpoint}
        if task:
            metadata["chainrule.task"] = task
            metadata["chainrule.output"] = "probabilities" if softmax else "outputs"
            if facts.get("classes") is not None:
                metadata["chainrule.classes"] = json.dumps(facts["classes"])
        try:
            export(
                model,
                np.zeros((1, first.in_features), dtype=dtype),
                args.onnx,
                softmax=softmax,
                standardize=facts.get("standardizer"),
                input_dtype=args.input_dtype,
                metadata=metadata,
            )
        except ModuleNotFoundError as e:
            raise ValueError(str(e)) from None
        except TypeError as e:  # an unsupported layer, named
            raise ValueError(str(e)) from None
        what = "probabilities" if softmax else "outputs"
        raw = "raw inputs (standardized inside)" if facts.get("standardizer") else "inputs"
        written.append(f"{args.onnx} (ONNX: {raw} -> {what})")
    if args.safetensors:
        try:
            save(model, args.safetensors)
        except TypeError as e:
            raise ValueError(str(e)) from None
        written.append(f"{args.safetensors} (safetensors weights, PyTorch names)")
    if args.torch:
        written.append(_write_torch(model, args.torch))
    for line in written:
        print(f"wrote {line}", file=sys.stderr)
    return 0


def _write_torch(model, path) -> str:
    try:
        import torch
    except ModuleNotFoundError:
        raise ValueError("--torch needs PyTorch: pip install torch") from None

    try:
        state = model.to_torch().state_dict()
    except TypeError as e:
        raise ValueError(str(e)) from None
    atomic_write(path, lambda f: torch.save(state, f))
    return f"{path} (PyTorch state dict of the equal torch.nn.Sequential)"
