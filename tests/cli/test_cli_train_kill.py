"""A ``chainrule train`` killed with SIGKILL mid-epoch and resumed ends bit for bit where an
uninterrupted run ends."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import chainrule as cr

# digits: 1294 training rows / 16 = 81 steps per epoch; checkpoints every 7 steps land
# mid-epoch; dropout makes the global generator's state matter too
ARGS = [
    "--layers",
    "32",
    "--epochs",
    "5",
    "--batch-size",
    "16",
    "--dropout",
    "0.2",
    "--checkpoint-every",
    "7",
    "--quiet",
    "--no-plots",
]


def _train(*args):
    return subprocess.run(
        [sys.executable, "-m", "chainrule", "train", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_then_resume_matches_the_uninterrupted_run(tmp_path):
    full = _train(*ARGS, "--out", tmp_path / "full")
    assert full.returncode == 0, full.stderr

    cut = tmp_path / "cut"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chainrule", "train", *ARGS, "--out", cut],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 240
    try:
        while not (cut / "last.safetensors").exists():  # the first save: global step 7
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (cut / "metrics.json").exists()  # it really died before the end
    saved = cr.load(cut / "last.safetensors")
    assert 0 < saved["global_step"] < 405 and saved["global_step"] % 7 == 0

    resumed = _train("--resume", cut)  # the config comes from the checkpoint
    assert resumed.returncode == 0, resumed.stderr

    a = json.loads((tmp_path / "full" / "metrics.json").read_text())
    b = json.loads((cut / "metrics.json").read_text())
    for key in (
        "test_loss",
        "test_accuracy",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "best_val_loss",
        "epochs",
        "steps",
    ):
        assert a[key] == b[key], key
    wa = cr.load(tmp_path / "full" / "last.safetensors")["model"]
    wb = cr.load(cut / "last.safetensors")["model"]
    for name in wa:
        np.testing.assert_array_equal(wa[name], wb[name], err_msg=name)
    log_a = [
        json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().split("\n") if x
    ]
    log_b = [json.loads(x) for x in (cut / "metrics.jsonl").read_text().split("\n") if x]
    assert [e["train_loss"] for e in log_a] == [e["train_loss"] for e in log_b]
