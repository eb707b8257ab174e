"""One real MNIST epoch through ``chainrule train --compile`` against the hand NumPy epoch.

The issue-15 target: an epoch of ``chainrule train --compile`` — the DataLoader, the
metric sums and the callbacks included — within 1.1x of bench/train_step.py's
hand-written NumPy epoch (784-500-300-10, batch 128, SGD momentum 0.9), and
``--no-compile`` as the eager reference. Each run is its own process; the runs are
interleaved (compile, no-compile, hand, compile, ...). The chainrule time is the epoch's
``seconds`` from the run's history (the training loop alone: no data loading, no test
evaluation), the hand time is train_step.py's epoch worker::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/compile_epoch.py --rounds 3

This machine's speed drifts by 10% and more between runs (a shared, virtual machine), so
besides the ratio of the medians the table gives the median of each round's own ratio
(the runs of one round are seconds apart). ``--breakdown`` adds one ``--compile`` epoch
run in this process with every batch timed by part: the batch from the loader, the
compiled forward and backward (captures and replays apart), the optimizer's step, and
the rest of the loop (metric sums, callbacks).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def train_args(data_dir, compile_flag, threads, out):
    """The ``chainrule train`` options of the measured epoch."""
    return [
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


def chainrule_epoch(data_dir, compile_flag, threads):
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "chainrule", *train_args(data_dir, compile_flag, threads, out)]
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


class PartTimer:
    """A callback timing each batch by part, from the loop's own hook points: loader (the
    previous batch's end to this one's begin), forward and backward (begin to
    after_backward), optimizer (its ``step``, wrapped), and the rest up to batch end."""

    def __init__(self):
        from chainrule.train.callbacks import Callback

        self.Callback = Callback
        self.parts = dict.fromkeys(["loader", "forward+backward", "optimizer.step", "rest"], 0.0)
        self.batches, self._end = 0, None

    def callback(self):
        timer, clock = self, time.perf_counter

        class Timing(self.Callback):
            def on_train_begin(self, trainer):
                step = trainer.optimizer.step

                def timed_step(*args, **kwargs):
                    t = clock()
                    try:
                        return step(*args, **kwargs)
                    finally:
                        timer.opt += clock() - t

                trainer.optimizer.step = timed_step  # the instance's, for this run only

            def on_epoch_begin(self, trainer, epoch):
                timer._end = clock()  # the epoch's clock starts right before the loader

            def on_batch_begin(self, trainer, step):
                timer._begin = clock()
                timer.parts["loader"] += timer._begin - timer._end
                timer.opt = 0.0

            def on_after_backward(self, trainer):
                timer._backward = clock()
                timer.parts["forward+backward"] += timer._backward - timer._begin

            def on_batch_end(self, trainer, step, logs):
                timer._end = clock()
                timer.parts["optimizer.step"] += timer.opt
                timer.parts["rest"] += timer._end - timer._backward - timer.opt
                timer.batches += 1

        return Timing()


def breakdown(data_dir, threads):
    """One ``--compile`` epoch in this process, each batch timed by part (see PartTimer);
    the compiled step's calls are timed by kind (capture, replay, eager)."""
    from chainrule.cli import main as cli_main
    from chainrule.cli import train as cli_train
    from chainrule.compile import step as step_module

    timer = PartTimer()
    calls = {}  # (kind, batch size) -> [seconds]
    run_training, call = cli_train.run_training, step_module.CompiledStep.__call__

    def timed_call(self, *args, **kwargs):
        captures, replays, t = self.captures, self.replays, time.perf_counter()
        out = call(self, *args, **kwargs)
        kind = (
            "capture"
            if self.captures > captures
            else "replay"
            if self.replays > replays
            else "eager"
        )
        calls.setdefault((kind, len(args[1])), []).append(time.perf_counter() - t)
        return out

    def with_timer(config, callbacks=(), **kwargs):
        return run_training(config, [*callbacks, timer.callback()], **kwargs)

    cli_train.run_training, step_module.CompiledStep.__call__ = with_timer, timed_call
    try:
        with tempfile.TemporaryDirectory() as out:
            cli_main(train_args(data_dir, "--compile", threads, out))
            seconds = json.loads(Path(out, "metrics.json").read_text())["seconds"]
    finally:
        cli_train.run_training, step_module.CompiledStep.__call__ = run_training, call
    n = timer.batches
    print(f"\none --compile epoch in this process: {seconds:.2f} s, {n} batches")
    print("| part | s/epoch | ms/batch |")
    print("|---|---|---|")
    for name, total in timer.parts.items():
        print(f"| {name} | {total:.3f} | {1e3 * total / n:.3f} |")
    print("| the compiled step's calls | count | ms each (median) |")
    for (kind, size), ts in sorted(calls.items()):
        print(f"| {kind}, batch {size} | {len(ts)} | {1e3 * statistics.median(ts):.2f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(HERE.parent.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--breakdown", action="store_true", help="time one epoch by part")
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
    print("| run | s/epoch (median) | range | time / hand NumPy | per round (median) | test acc |")
    print("|---|---|---|---|---|---|")
    hands = [s for s, _ in runs["hand NumPy"]]
    for name, rs in runs.items():
        secs = [s for s, _ in rs]
        med = statistics.median(secs)
        per_round = statistics.median(s / h for s, h in zip(secs, hands))
        acc = rs[-1][1]
        print(
            f"| {name} | {med:.2f} | {min(secs):.2f}-{max(secs):.2f} | {med / hand:.2f} | "
            f"{per_round:.2f} | {'-' if acc is None else f'{acc:.4f}'} |"
        )
    if args.breakdown:
        breakdown(args.data_dir, args.threads)


if __name__ == "__main__":
    main()
