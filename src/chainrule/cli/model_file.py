"""The model behind ``--model FILE`` (``chainrule gradcheck``, ``chainrule explain``).

FILE is any of

- a run folder or a training checkpoint (``chainrule train``): the model, its loss, and
  the data facts (features, classes, standardization) the run saved;
- a model file written by ``cr.save(model, path)`` (``cr.load`` rebuilds it);
- bare weights — a ``.pt``/``.pth`` state dict (read by ``torch.load(weights_only=True)``),
  a safetensors file another tool wrote (``safetensors.torch.save_file``), or
  ``cr.save(model.state_dict(), path)`` — with ``--activation`` (and optionally
  ``--layers``) saying what the weights do not: the activation between the Linear layers
  (see :mod:`chainrule.interop.from_weights`).

Every problem is a ValueError or OSError with one line (the CLI prints it, exit 2).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from chainrule.data import load_dataset
from chainrule.data.prepare import prepare_inputs
from chainrule.experiment.options import EmptyEntry, split_list
from chainrule.experiment.run_folder import find_checkpoint, restore_model
from chainrule.experiment.wiring import build_loss, check_targets
from chainrule.interop.checkpoint import load
from chainrule.interop.from_weights import chain_from_weights
from chainrule.interop.layers import chain
from chainrule.nn import functional as F
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module
from chainrule.train.state import STATE_FORMAT

# where a torch checkpoint dict usually keeps the model's state dict
_STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model")


@dataclass
class ModelSource:
    """A model read from ``--model FILE`` and what the file says about it."""

    model: Module
    path: str  # the file read (a run folder's checkpoint)
    kind: str  # "run", "model" or "weights"
    task: str | None = None  # "classification" / "regression" for a run
    data_state: dict = field(default_factory=dict)  # a run's features, classes, standardizer
    config: object = None  # a run's TrainConfig

    @property
    def linears(self) -> list:
        return [layer for layer in chain(self.model, "--model") if type(layer) is Linear]

    @property
    def n_features(self) -> int:
        return self.linears[0].in_features

    @property
    def n_outputs(self) -> int:
        return self.linears[-1].out_features

    def describe(self) -> str:
        """``runs/a/best.safetensors (run: Linear 64-32, ReLU, Linear 32-10)``."""
        parts = []
        for layer in chain(self.model, "--model"):
            if type(layer) is Linear:
                parts.append(f"Linear {layer.in_features}-{layer.out_features}")
            else:
                parts.append(type(layer).__name__)
        origin = {"run": "run", "model": "cr.save model", "weights": "weights"}[self.kind]
        return f"{self.path} ({origin}: {', '.join(parts)})"


def read_model(path, *, activation=None, layers=None) -> ModelSource:
    """The model ``--model path`` names (see the module docstring); ``activation`` and
    ``layers`` (a ``"4,8,3"`` string) only for bare weights. In eval mode."""
    path = os.fspath(path)
    bare_only = [
        name for name, given in (("--activation", activation), ("--layers", layers)) if given
    ]
    if os.path.isdir(path):
        source = _run(path)
    else:
        if not os.path.exists(path):
            raise FileNotFoundError(f"--model: no such file or run folder: {path}")
        obj = load(path)
        if isinstance(obj, Module):
            chain(obj, "--model")  # refuse unsupported modules by name, before anything runs
            source = ModelSource(obj, path, "model")
        elif isinstance(obj, dict) and obj.get("format") == STATE_FORMAT:
            source = _run(path)
        else:
            state = _state_dict(obj, path)
            if not activation:
                raise ValueError(
                    f"{path} holds bare weights ({', '.join(list(state)[:4])}"
                    f"{', ...' if len(state) > 4 else ''}) and no architecture: give "
                    "--activation NAME (relu, tanh, ...), and --layers N,N,... to check the sizes"
                )
            sizes = layer_sizes(layers) if layers else None
            model = chain_from_weights(state, activation, sizes, what=path)
            return ModelSource(model.eval(), path, "weights")
    if bare_only:
        raise ValueError(
            f"{' and '.join(bare_only)}: {source.path} describes its own architecture; "
            "--activation and --layers are for bare weights (a state dict)"
        )
    source.model.eval()
    return source


def _run(path) -> ModelSource:
    model, config, data_state, checkpoint = restore_model(find_checkpoint(path))
    return ModelSource(model, checkpoint, "run", data_state["task"], data_state, config)


def _state_dict(obj, path) -> dict:
    """The ``{name: array}`` of a state dict file, or of the one under ``state_dict`` /
    ``model_state_dict`` / ``model`` in a torch checkpoint dict."""
    if _all_arrays(obj):
        return obj
    if isinstance(obj, dict):
        for key in _STATE_DICT_KEYS:
            if _all_arrays(obj.get(key)):
                return obj[key]
        keys = ", ".join(map(repr, list(obj)[:6]))
        raise ValueError(
            f"{path} is a dict ({keys}) but neither a state dict of arrays nor one that keeps "
            f"one under {', '.join(map(repr, _STATE_DICT_KEYS))}"
        )
    what = "a list" if isinstance(obj, list) else type(obj).__name__
    raise ValueError(f"{path} holds {what}, not a model or a state dict")


def _all_arrays(obj) -> bool:
    return (
        isinstance(obj, dict)
        and bool(obj)
        and all(isinstance(v, np.ndarray) or hasattr(v, "numpy") for v in obj.values())
    )


def layer_sizes(text):
    try:
        sizes = [int(s) for s in split_list(text)]
    except EmptyEntry:
        raise ValueError(f"--layers: empty entry in {text!r} (write e.g. 4,16,3)") from None
    except ValueError:
        raise ValueError(f"--layers: expected comma-separated integers, got {text!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"--layers: need at least an input and an output size, got {text!r}")
    return sizes


# --- the loss and the data ------------------------------------------------------------------
def loss_for(source: ModelSource, option):
    """``(loss_fn(outputs, targets), name)``: ``--loss`` if given, else a run's own loss,
    else softmax cross-entropy on class labels."""
    if source.kind == "run" and option is None:
        fn = build_loss(source.config, source.task, source.n_outputs)
        name = source.config.loss
        if source.task == "classification" and name != "cross-entropy":
            name = f"{name} on the softmax probabilities"
        return fn, f"{name}, the run's"
    option = option or "cross-entropy"
    if option == "cross-entropy":
        if source.task == "regression":
            raise ValueError("--loss cross-entropy: the run is a regression; use --loss mse")
        return F.cross_entropy, "cross-entropy"

    def mse(outputs, targets):
        return F.mse_loss(outputs, targets.reshape(outputs.shape))

    return mse, "mse"


def is_classifier(source: ModelSource, loss_option) -> bool:
    """Whether the targets are class labels (cross-entropy, or a run's classification)."""
    if source.kind == "run" and loss_option is None:
        return source.task == "classification"
    return (loss_option or "cross-entropy") == "cross-entropy"


def data_rows(source: ModelSource, name, data_dir, split, rows):
    """``(X, y)``: the rows ``rows`` (a slice or index list) of data set ``name``'s
    ``split``, standardized as the run did (a run), features and labels checked."""
    splits = load_dataset(name, data_dir=data_dir)
    X, y = (splits.X_test, splits.y_test) if split == "test" else (splits.X_train, splits.y_train)
    if len(y) == 0:
        raise ValueError(f"--data {name}: its {split} split is empty")
    X, y = np.asarray(X), np.asarray(y)
    if X.shape[1] != source.n_features:
        raise ValueError(
            f"--data {name} has {X.shape[1]} features, but the model takes {source.n_features}"
        )
    if source.kind == "run" and splits.task != source.task:
        raise ValueError(
            f"--data {name} is a {splits.task} data set, but the run was trained for {source.task}"
        )
    X, y = X[rows], y[rows]
    dtype = np.dtype(source.linears[0].weight.data.dtype)
    if source.kind == "run":
        X = prepare_inputs(X, source.data_state, dtype)
    if splits.task == "classification":
        check_targets(y, source.n_outputs, "classification", f"--data {name}")
    return np.asarray(X, dtype=dtype), y


__all__ = ["ModelSource", "data_rows", "is_classifier", "layer_sizes", "loss_for", "read_model"]
