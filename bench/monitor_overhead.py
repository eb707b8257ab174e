"""What the GradientFlowMonitor costs a training run.

Trains the same MLP (ReLU, He init, SGD + momentum, float32) with ``fit`` on a fixed
synthetic data set, with the monitor off (nothing installed) and on at several sampling
intervals, and prints the time per step and the overhead against "off". Runs are
interleaved and repeated; the fastest run of each is reported (the workload is fixed, so
the minimum is the run least disturbed by other processes on a shared machine), with the
median alongside. BLAS is limited to one thread, so a busy shared machine disturbs the
runs less.

The last column estimates the overhead from the cost of one sampled step, measured as
(time with every=1 − time off), divided by the interval: the monitor's cost is that
per-sample cost, paid once every N steps, so this is the steadier number.

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
from chainrule.train import fit

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
    callbacks = [] if every is None else [GradientFlowMonitor(every=every)]
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
    return (time.perf_counter() - start) / epochs


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
        one_run(sizes, batch, n, None, 1)  # warm-up
        for _ in range(repeats):
            for every in INTERVALS:
                times[every].append(one_run(sizes, batch, n, every, epochs))
        base, base_med = min(times[None]), statistics.median(times[None])
        print(f"\n{name}: MLP {'-'.join(map(str, sizes))}, batch {batch}, {steps} steps/epoch")
        per_sample = (min(times[1]) - base) / steps  # seconds per sampled step
        print(f"  cost of one sampled step: {1000 * per_sample:.3f} ms")
        print(
            f"  {'monitor':<14} {'ms/step':>8} {'overhead':>9}   {'median':>8} {'overhead':>9}"
            f"   {'from cost/N':>11}"
        )
        for every in INTERVALS:
            t, med = min(times[every]), statistics.median(times[every])
            label = "off" if every is None else f"every={every}" + (" *" if every == 25 else "")
            over = "" if every is None else f"{100 * (t / base - 1):+8.1f}%"
            over_med = "" if every is None else f"{100 * (med / base_med - 1):+8.1f}%"
            est = "" if every is None else f"{100 * per_sample / every / (base / steps):+10.1f}%"
            print(
                f"  {label:<14} {1000 * t / steps:>8.3f} {over:>9}   {1000 * med / steps:>8.3f} "
                f"{over_med:>9}   {est:>11}"
            )
    print("\n* the default interval of GradientFlowMonitor(every=25)")


if __name__ == "__main__":
    main()
