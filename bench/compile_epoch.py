"""One real MNIST epoch through ``chainrule train --compile`` against the hand NumPy epoch.

The issue-15 target: an epoch of ``chainrule train --compile`` — the DataLoader, the
metric sums and the callbacks included — within 1.1x of bench/train_step.py's
hand-written NumPy epoch (784-500-300-10, batch 128, SGD momentum 0.9), and
``--no-compile`` as the eager reference. Each run is its own process; the runs are
interleaved (compile, no-compile, hand, compile, ...). The chainrule time is the epoch's
``seconds`` from the run's history (the training loop alone: no data loading, no test
evaluation), the hand time is train_step.py's epoch worker::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/compile_epoch.py --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def chainrule_epoch(data_dir, compile_flag, threads):
    with tempfile.TemporaryDirectory() as out:
        cmd = [
            sys.executable,
            "-m",
            "chainrule",
            "train",
            "--data",
            "mnist",
            "--data-dir",
            str(data_dir),
            "--layers",
            "500,300",
            "--epochs",
            "1",
            "--batch-size",
            "128",
            "--optimizer",
            "sgd",
            "--lr",
            "0.01",
            "--momentum",
            "0.9",
            "--weight-decay",
            "0",
            "--l2",
            "0",
            "--dropout",
            "0",
            "--val-split",
            "0",
            "--schedule",
            "constant",
            "--no-plots",
            "--quiet",
            "--threads",
            str(threads),
            compile_flag,
            "--out",
            out,
        ]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        metrics = json.loads(Path(out, "metrics.json").read_text())
    history = metrics.get("history")
    seconds = history[0]["seconds"] if history else metrics["seconds"]
    return seconds, metrics.get("test_accuracy")


def hand_epoch(data_dir, threads):
    env = dict(os.environ, CHAINRULE_BENCH_THREADS=str(threads))
    proc = subprocess.run(
        [sys.executable, str(HERE / "train_step.py"), "--worker", "epoch", "numpy", str(data_dir)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    reply = json.loads(proc.stdout.strip().splitlines()[-1])
    return reply["seconds"], reply["accuracy"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(HERE.parent.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    runs = {"chainrule train --compile": [], "chainrule train --no-compile": [], "hand NumPy": []}
    for _ in range(args.rounds):
        runs["chainrule train --compile"].append(
            chainrule_epoch(args.data_dir, "--compile", args.threads)
        )
        runs["chainrule train --no-compile"].append(
            chainrule_epoch(args.data_dir, "--no-compile", args.threads)
        )
        runs["hand NumPy"].append(hand_epoch(args.data_dir, args.threads))
    hand = statistics.median(s for s, _ in runs["hand NumPy"])
    print(
        f"MNIST, one epoch, 784-500-300-10, batch 128, SGD momentum 0.9, {args.threads} thread(s); "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print("| run | s/epoch (median) | range | time / hand NumPy | test acc |")
    print("|---|---|---|---|---|")
    for name, rs in runs.items():
        secs = [s for s, _ in rs]
        med = statistics.median(secs)
        acc = rs[-1][1]
        print(
            f"| {name} | {med:.2f} | {min(secs):.2f}-{max(secs):.2f} | {med / hand:.2f} | "
            f"{'-' if acc is None else f'{acc:.4f}'} |"
        )


if __name__ == "__main__":
    main()
