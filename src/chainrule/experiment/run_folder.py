"""Finding checkpoints and rebuilding trained models from them (evaluate, predict, resume).

A training checkpoint carries the resolved config and the data facts (feature count,
output count, class names, standardizer statistics) next to the weights, so a model can be
rebuilt and fed new inputs exactly as in training without the original command line.
"""

from __future__ import annotations

import os

from chainrule.checkpoint import load
from chainrule.train.config import TrainConfig
from chainrule.train.state import STATE_FORMAT, check_model_state


def find_checkpoint(path, prefer: str = "best") -> str:
    """``path`` itself if it is a file; for a run folder its ``best.ckpt.npz`` or
    ``last.ckpt.npz`` (``prefer`` says which to try first)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        order = ("best", "last") if prefer == "best" else ("last", "best")
        for name in order:
            candidate = os.path.join(path, f"{name}.ckpt.npz")
            if os.path.isfile(candidate):
                return candidate
        raise FileNotFoundError(f"no last.ckpt.npz or best.ckpt.npz in run folder {path}")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such checkpoint or run folder: {path}")
    return path


def load_training_state(path) -> dict:
    """A training-state checkpoint (``last``/``best.ckpt.npz``), checked for the parts a
    rebuild needs."""
    state = load(path)
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ValueError(
            f"{path} is not a training checkpoint (it holds no config to rebuild the model "
            "from); use cr.load() for a plain state_dict"
        )
    extra = state.get("extra") or {}
    if "config" not in extra or "data" not in extra:
        raise ValueError(f"{path}: training checkpoint lacks its config or data description")
    return state


def config_of(state: dict) -> TrainConfig:
    return TrainConfig.from_dict(state["extra"]["config"], source="checkpoint config")


def restore_model(path):
    """``(model, config, data_state, checkpoint_path)`` from a checkpoint or run folder; the
    model is in eval mode with the saved weights."""
    from chainrule.train.run import build_model

    ckpt = find_checkpoint(path)
    state = load_training_state(ckpt)
    config = config_of(state)
    data_state = state["extra"]["data"]
    model = build_model(config, data_state["n_features"], data_state["n_outputs"])
    check_model_state(state["model"], model)
    model.load_state_dict(state["model"])
    model.eval()
    return model, config, data_state, ckpt
