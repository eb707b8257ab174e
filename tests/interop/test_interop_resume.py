"""A run whose checkpoint is chainrule 0.1's .npz continues bit for bit, and its new
checkpoints are safetensors."""

import os

import numpy as np
import pytest

from chainrule.data import load_dataset
from chainrule.experiment import TrainConfig, run_training
from chainrule.experiment.run_folder import find_checkpoint
from chainrule.interop import load, save
from chainrule.train import Callback


class Interrupt(Exception):
    pass


class CrashAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_batch_end(self, trainer, step, logs):
        if step == self.step:
            raise Interrupt


BASE = dict(layers=[12], epochs=2, batch_size=128, dropout=0.2, checkpoint_every=4)
BASE.update(quiet=True, plots=False)


def _run(folder, digits, callbacks=(), resume=None):
    config = TrainConfig.from_dict({**BASE, "out": str(folder)})
    return run_training(config, callbacks=list(callbacks), splits=digits, resume=resume)


def test_resuming_from_an_old_npz_checkpoint_is_bit_for_bit(tmp_path):
    digits = load_dataset("digits")
    full = _run(tmp_path / "full", digits)
    with pytest.raises(Interrupt):
        _run(tmp_path / "cut", digits, [CrashAt(13)])  # mid-epoch 2 (11 steps per epoch)
    # turn the cut run into one that chainrule 0.1 wrote: only .npz checkpoints
    state = load(find_checkpoint(tmp_path / "cut", prefer="last"))
    assert state["global_step"] == 12
    for name in os.listdir(tmp_path / "cut"):
        if name.endswith((".safetensors", ".npz")):
            os.remove(tmp_path / "cut" / name)
    save(state, tmp_path / "cut" / "last.ckpt.npz")
    assert (tmp_path / "cut" / "last.ckpt.npz").read_bytes()[:4] == b"PK\x03\x04"

    resumed = _run(tmp_path / "cut", digits, resume=find_checkpoint(tmp_path / "cut", "last"))
    for key in ("train_loss", "val_loss", "lr", "step"):
        assert [e[key] for e in full["history"]] == [e[key] for e in resumed["history"]], key
    assert full["test_loss"] == resumed["test_loss"]
    a = load(find_checkpoint(tmp_path / "full", prefer="last"))
    b = load(find_checkpoint(tmp_path / "cut", prefer="last"))
    for name in a["model"]:
        assert a["model"][name].tobytes() == b["model"][name].tobytes(), name
    assert find_checkpoint(tmp_path / "cut", prefer="last").endswith(".safetensors")
    assert np.isfinite(resumed["test_loss"])
