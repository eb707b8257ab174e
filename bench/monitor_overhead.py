"""What the GradientFlowMonitor costs a training run.

Trains the same MLP (ReLU, He init, SGD + momentum, float32) with ``fit`` on a fixed
synthetic data set, with the monitor off (nothing installed) and on at several sampling
intervals, and prints the time per step and the overhead against "off". Runs are
interleaved and repeated; the fastest run of each is reported (the workload is fixed, so
the minimum is the run least disturbed by other processes on a shared machine), with the
median alongside. BLAS is limited to one thread, so a busy shared machine disturbs the
runs less.

Two steadier estimates follow the wall-clock columns, because a shared machine makes
single timings jump by tens of percent:

* "in-run": the time spent inside the monitor's callbacks (timed around each call, in
  the same run) divided by the rest of the run's time. Both parts are slowed alike by
  other processes, so the ratio barely moves. (The gradient hook's one dot product per
  layer runs inside backward and is not counted; it is a few microseconds.)
* "from cost/N": (time with every=1 − time off) / N, the per-sample cost paid once
  every N steps, relative to the step time.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/monitor_overhead.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from common import blas_info

import chainrule as cr
from chainrule.diagnostics import GradientFlowMonitor
from chainrule.train import Callback, fit
from chainrule.train.callbacks import HOOKS


class Timed(Callback):
    """Forwards every hook to ``inner`` and adds up the time spent in it."""

    def __init__(self, inner):
        self.inner, self.seconds = inner, 0.0


def _timed_hook(name):
    def hook(self, *args):
        start = time.perf_counter()
        getattr(self.inner, name)(*args)
        self.seconds += time.perf_counter() - start

    hook.__name__ = name
    return hook


for _name in HOOKS:
    setattr(Timed, _name, _timed_hook(_name))

CONFIGS = {
    "small": ([64, 64, 10], 32, 8192),  # digits-sized
    "medium": ([784, 512, 256, 10], 128, 2560),  # MNIST-sized
    "deep": ([64] + [128] * 8 + [10], 64, 2560),  # ten layers
}
INTERVALS = (None, 100, 25, 10, 1)  # None: monitor off; 25 is the default


def one_run(sizes, batch, n, every, epochs):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], n)
    cr.manual_seed(0)
    model = cr.nn.MLP(sizes, activation="relu", init="he")
    opt = cr.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    timed = None if every is None else Timed(GradientFlowMonitor(every=every))
    callbacks = [] if timed is None else [timed]
    start = time.perf_counter()
    fit(
        model,
        cr.nn.functional.cross_entropy,
        opt,
        (X, y),
        epochs,
        callbacks=callbacks,
        batch_size=batch,
    )
    total = time.perf_counter() - start
    share = 0.0 if timed is None else timed.seconds / (total - timed.seconds)
    return total / epochs, share


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    args = ap.parse_args()
    repeats, epochs = (3, 1) if args.quick else (7, 1)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1, user_api="blas")
    except ImportError:
        print("note: threadpoolctl missing, BLAS threads not limited")
    print(f"BLAS: {blas_info()}")
    print(f"best (and median) of {repeats} interleaved runs, {epochs} epochs each")
    for name in args.configs.split(","):
        sizes, batch, n = CONFIGS[name]
        steps = n // batch
        times = {every: [] for every in INTERVALS}
        shares = {every: [] for every in INTERVALS}
        one_run(sizes, batch, n, None, 1)  # warm-up
        for _ in range(repeats):
            for every in INTERVALS:
                t, share = one_run(sizes, batch, n, every, epochs)
                times[every].append(t)
                shares[every].append(share)
        base, base_med = min(times[None]), statistics.median(times[None])
        print(f"\n{name}: MLP {'-'.join(map(str, sizes))}, batch {batch}, {steps} steps/epoch")
        per_sample = (min(times[1]) - base) / steps  # seconds per sampled step
        print(f"  cost of one sampled step: {1000 * per_sample:.3f} ms")
        print(
            f"  {'monitor':<14} {'ms/step':>8} {'overhead':>9}   {'median':>8} {'overhead':>9}"
            f"   {'in-run':>8} {'from cost/N':>11}"
        )
        for every in INTERVALS:
            t, med = min(times[every]), statistics.median(times[every])
            label = "off" if every is None else f"every={every}" + (" *" if every == 25 else "")
            over = "" if every is None else f"{100 * (t / base - 1):+8.1f}%"
            over_med = "" if every is None else f"{100 * (med / base_med - 1):+8.1f}%"
            est = "" if every is None else f"{100 * per_sample / every / (base / steps):+10.1f}%"
            inrun = "" if every is None else f"{100 * statistics.median(shares[every]):+7.1f}%"
            print(
                f"  {label:<14} {1000 * t / steps:>8.3f} {over:>9}   {1000 * med / steps:>8.3f} "
                f"{over_med:>9}   {inrun:>8} {est:>11}"
            )
    print("\n* the default interval of GradientFlowMonitor(every=25)")


if __name__ == "__main__":
    main()
