"""The run folder: what a training run writes, and how a trained model is rebuilt from it.

A run folder (``--out``, default ``runs/<data>-<timestamp>``) holds::

    config.toml      the full resolved configuration (rerun with --config config.toml)
    metrics.jsonl    one line per epoch
    metrics.json     the final results (test_accuracy, test_loss, train_loss, epochs, ...)
    last.safetensors full training state after the last epoch (or step, --checkpoint-every)
    best.safetensors the same at the epoch with the best validation loss
                     (chainrule 0.1 wrote last.ckpt.npz / best.ckpt.npz: still read)
    loss.png, accuracy.png   learning curves (when matplotlib is installed)
    monitor.jsonl    gradient-flow records (with --monitor)

A training checkpoint carries the resolved config and the data facts (feature count,
output count, class names, standardizer statistics) next to the weights, so a model can be
rebuilt and fed new inputs exactly as in training without the original command line.
Every file is written with :func:`chainrule.files.atomic_write` (atomic, umask honoured).
"""

from __future__ import annotations

import errno
import json
import math
import os
import time

from chainrule.experiment.config import TrainConfig, to_toml
from chainrule.experiment.wiring import build_model
from chainrule.files import atomic_write
from chainrule.interop.checkpoint import load
from chainrule.train.callbacks import BEST_CHECKPOINT, LAST_CHECKPOINT
from chainrule.train.state import STATE_FORMAT, check_model_state

CONFIG_FILE = "config.toml"
RESULTS_FILE = "metrics.json"
# what ModelCheckpoint writes, then what chainrule 0.1 wrote (read, never written)
LAST_CHECKPOINTS = (LAST_CHECKPOINT, "last.ckpt.npz")
BEST_CHECKPOINTS = (BEST_CHECKPOINT, "best.ckpt.npz")


def default_out(config: TrainConfig) -> str:
    """``runs/<data set name>-<YYYYmmdd-HHMMSS>``."""
    name = os.path.splitext(os.path.basename(str(config.data)))[0].replace(".csv", "")
    return os.path.join("runs", f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")


def check_run_folder(run_dir, resuming: bool = False) -> None:
    """Refuse, before anything is read or written, a run folder a run must not write into:
    a file; for a fresh run, a folder that already holds a run (resume it instead) or a
    folder of other files (the run's files would mix with them and could replace them).
    A new folder, an empty one, or one an unfinished run left (it has a ``config.toml``
    but no checkpoint yet) is fine."""
    run_dir = os.fspath(run_dir)
    if not os.path.lexists(run_dir):
        return
    if not os.path.isdir(run_dir):
        raise ValueError(f"{run_dir} exists and is not a folder; choose another --out")
    if resuming:
        return
    if any(os.path.exists(os.path.join(run_dir, name)) for name in LAST_CHECKPOINTS):
        raise ValueError(
            f"{run_dir} already holds a run; continue it with --resume {run_dir} or "
            "choose another --out"
        )
    entries = sorted(os.listdir(run_dir))
    if entries and CONFIG_FILE not in entries:
        what = "entry" if len(entries) == 1 else "entries"
        raise ValueError(
            f"{run_dir} already exists and is not a chainrule run folder (it holds "
            f"{len(entries)} other {what}, e.g. {entries[0]!r}); choose a new or empty --out"
        )


def _existing_ancestor(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


def _why_not_created(run_dir: str, error: OSError) -> str:
    """What stopped ``makedirs``, in words that fit the folder actually refusing.

    ``mkdir`` under a virtual file system (``/proc``) fails with ENOENT, whose text "No
    such file or directory" reads as if the parent were missing when it is there."""
    parent = _existing_ancestor(run_dir)
    if error.errno == errno.ENOENT and os.path.isdir(parent):
        return f"{parent} does not accept new folders (a virtual or special file system?)"
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"no permission to create folders in {parent}"
    if error.errno == errno.EROFS:
        return f"{parent} is on a read-only file system"
    if error.errno == errno.ENOTDIR or not os.path.isdir(parent):
        return f"{parent} is a file, not a folder"
    if error.errno == errno.ENOSPC:
        return "no space left on the device"
    return error.strerror or str(error)


def start_run_folder(run_dir, config: TrainConfig) -> None:
    """Create ``run_dir`` (and its parents) and write the resolved ``config.toml``."""
    run_dir = os.fspath(run_dir)
    try:
        os.makedirs(run_dir, exist_ok=True)
    except OSError as e:
        raise OSError(
            f"cannot create the run folder {run_dir}: {_why_not_created(run_dir, e)}"
        ) from None
    atomic_write(os.path.join(run_dir, CONFIG_FILE), to_toml(config))


def write_results(run_dir, results: dict) -> None:
    """``metrics.json``: the final results (everything but the per-epoch history).

    JSON has no NaN or infinity (``json.dumps`` would write a bare ``NaN`` that no other
    language reads), so a number that is not finite is written as null and its key is
    explained in ``null_reasons``.
    """
    payload, reasons = {}, {}
    for key, value in results.items():
        if key == "history":
            continue
        if isinstance(value, float) and not math.isfinite(value):
            reasons[key] = f"{key} is {value} (not a finite number)" + (
                ": the run diverged, see stop_reason" if results.get("stop_reason") else ""
            )
            value = None
        payload[key] = value
    if reasons:
        payload["null_reasons"] = reasons
    text = json.dumps(payload, indent=2, allow_nan=False)
    atomic_write(os.path.join(run_dir, RESULTS_FILE), text)


def check_schedule_length(state: dict, config: TrainConfig) -> None:
    """A schedule planned over the whole run cannot be stretched half way through."""
    saved = (state.get("extra") or {}).get("config") or {}
    if config.schedule in ("cosine", "onecycle") and saved.get("epochs") not in (
        None,
        config.epochs,
    ):
        raise ValueError(
            f"its {config.schedule} schedule was planned for {saved['epochs']} epochs, not "
            f"{config.epochs}; to train longer start a new run (e.g. --config "
            "RUN/config.toml --epochs N --out NEW)"
        )


# --- reading a run back ------------------------------------------------------------------
def find_checkpoint(path, prefer: str = "best") -> str:
    """``path`` itself if it is a file; for a run folder its ``best.safetensors`` or
    ``last.safetensors`` (``prefer`` says which to try first), or the ``.ckpt.npz`` of
    that name a chainrule 0.1 run left (a 0.1 run resumed now keeps its old best until
    a better epoch writes the new one)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        order = (BEST_CHECKPOINTS, LAST_CHECKPOINTS)
        if prefer != "best":
            order = order[::-1]
        for name in (*order[0], *order[1]):
            candidate = os.path.join(path, name)
            if os.path.isfile(candidate):
                return candidate
        raise FileNotFoundError(f"no {LAST_CHECKPOINT} or {BEST_CHECKPOINT} in run folder {path}")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such checkpoint or run folder: {path}")
    return path


def load_training_state(path) -> dict:
    """A training-state checkpoint (``last``/``best.safetensors``), checked for the parts a
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
    """The config a training checkpoint was made with."""
    return TrainConfig.from_dict(state["extra"]["config"], source="checkpoint config")


def restore_model(path):
    """``(model, config, data_state, checkpoint_path)`` from a checkpoint or run folder; the
    model is in eval mode with the saved weights."""
    ckpt = find_checkpoint(path)
    state = load_training_state(ckpt)
    config = config_of(state)
    data_state = state["extra"]["data"]
    model = build_model(config, data_state["n_features"], data_state["n_outputs"])
    check_model_state(state["model"], model)
    model.load_state_dict(state["model"])
    model.eval()
    return model, config, data_state, ckpt


__all__ = [
    "config_of",
    "default_out",
    "find_checkpoint",
    "load_training_state",
    "restore_model",
    "start_run_folder",
    "write_results",
]
