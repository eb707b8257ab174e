"""Property tests (issue 17): a damaged checkpoint is one clear line, never a traceback, a
NumPy hint about allow_pickle or a half-changed run folder.

Every byte of a chainrule safetensors checkpoint is covered by its SHA-256, so flipping
any bit of any byte, or cutting the file at any length, must be reported; random bytes
must be refused as what they are.
"""

import contextlib
import io
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrule.interop import CheckpointError, load, save

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class Checkpoint(tuple):
    """``(run folder, checkpoint path, its bytes)``, shown briefly in Hypothesis' reports."""

    def __repr__(self):
        return f"Checkpoint({self[1]}, {len(self[2]):,} bytes)"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small but complete training checkpoint, made by a real run."""
    from chainrule.data import load_dataset
    from chainrule.experiment import TrainConfig, run_training
    from chainrule.experiment.run_folder import find_checkpoint

    folder = tmp_path_factory.mktemp("faults") / "run"
    config = TrainConfig.from_dict(
        {
            "layers": [6],
            "epochs": 1,
            "batch_size": 512,
            "dropout": 0.1,
            "quiet": True,
            "plots": False,
            "out": str(folder),
        }
    )
    run_training(config, splits=load_dataset("digits"))
    path = Path(find_checkpoint(folder, prefer="last"))
    return Checkpoint((folder, path, path.read_bytes()))


def _one_line_refusal(path, expect="is not a readable chainrule checkpoint"):
    with pytest.raises(CheckpointError) as e:
        load(path)
    message = str(e.value)
    assert "\n" not in message and "allow_pickle" not in message and "Traceback" not in message
    assert str(path) in message and expect in message
    return message


def test_the_run_checkpoint_is_safetensors_and_loads(checkpoint):
    _, path, raw = checkpoint
    assert path.suffix == ".safetensors" and raw[8:9] == b"{"
    assert load(path)["format"] == "chainrule-training-state"


@settings(max_examples=300, **SETTINGS)
@given(data=st.data())
def test_any_changed_byte_is_refused(checkpoint, tmp_path, data):
    _, _, raw = checkpoint
    at = data.draw(st.integers(0, len(raw) - 1), label="byte")
    flip = data.draw(st.integers(1, 255), label="xor")
    damaged = bytearray(raw)
    damaged[at] ^= flip
    path = tmp_path / "damaged.safetensors"
    path.write_bytes(bytes(damaged))
    _one_line_refusal(path)


@settings(max_examples=200, **SETTINGS)
@given(data=st.data())
def test_a_checkpoint_cut_at_any_length_is_refused(checkpoint, tmp_path, data):
    _, _, raw = checkpoint
    keep = data.draw(st.integers(0, len(raw) - 1), label="length")
    path = tmp_path / "cut.safetensors"
    path.write_bytes(raw[:keep])
    _one_line_refusal(path)


@settings(max_examples=300, **SETTINGS)
@given(
    prefix=st.sampled_from([b"", b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY", b"\x80\x04"]),
    body=st.binary(max_size=300),
)
def test_random_bytes_are_refused_without_numpys_pickle_hint(tmp_path, prefix, body):
    path = tmp_path / "random.ckpt"
    path.write_bytes(prefix + body)
    _one_line_refusal(path)


@settings(max_examples=150, **SETTINGS)
@given(data=st.data())
def test_a_changed_byte_of_an_old_npz_checkpoint_never_escapes_as_another_error(tmp_path, data):
    """The zip format cannot notice every change (file times are in no CRC), but whatever
    it does not load, it refuses in one line."""
    path = tmp_path / "old.npz"
    save({"w": np.arange(40, dtype=np.float32), "step": 3}, path)
    raw = bytearray(path.read_bytes())
    at = data.draw(st.integers(0, len(raw) - 1))
    raw[at] ^= data.draw(st.integers(1, 255))
    path.write_bytes(bytes(raw))
    try:
        loaded = load(path)
    except CheckpointError as e:
        assert "\n" not in str(e) and "allow_pickle" not in str(e)
    else:
        assert loaded["step"] == 3 and loaded["w"].tolist() == list(range(40))


def _snapshot(folder):
    return {
        p.name: (p.read_bytes(), os.stat(p).st_mode, os.stat(p).st_mtime_ns)
        for p in sorted(Path(folder).iterdir())
    }


def _cli(*args):
    from chainrule.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([str(a) for a in args])
    return code, err.getvalue()


@settings(max_examples=40, **SETTINGS)
@given(data=st.data())
def test_resume_evaluate_and_export_refuse_a_damaged_checkpoint_and_change_nothing(
    checkpoint, tmp_path, data
):
    folder, _, raw = checkpoint
    if data.draw(st.booleans(), label="cut"):
        damaged = raw[: data.draw(st.integers(0, len(raw) - 1), label="length")]
    else:
        damaged = bytearray(raw)
        damaged[data.draw(st.integers(0, len(raw) - 1), label="byte")] ^= data.draw(
            st.integers(1, 255), label="xor"
        )
    command = data.draw(st.sampled_from(["resume", "evaluate", "export"]), label="command")
    originals = {p: p.read_bytes() for p in folder.iterdir() if p.suffix == ".safetensors"}
    try:
        for p in originals:  # both checkpoints damaged: evaluate and export prefer best
            p.write_bytes(bytes(damaged))
        before = _snapshot(folder)
        args = {
            "resume": ["train", "--resume", folder],
            "evaluate": ["evaluate", folder],
            "export": ["export", folder, "--onnx", tmp_path / "m.onnx"],
        }[command]
        code, err = _cli(*args)
        assert code == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("chainrule ")
        assert "is not a readable chainrule checkpoint" in lines[0]
        assert _snapshot(folder) == before
        assert not (tmp_path / "m.onnx").exists()
    finally:
        for p, original in originals.items():
            p.write_bytes(original)
