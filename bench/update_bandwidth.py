"""Is the optimizer's update at this machine's memory bandwidth? For each MLP size of
bench/train_step.py, in one run: chainrule's ``SGD(momentum=0.9).step()`` alone, and a
streaming reference — ``np.add(a, b, out=c)`` over arrays as large as the parameters —
each timed warm (back to back) and cold (after sweeping a buffer larger than the last
level cache, as a forward and backward pass would)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/update_bandwidth.py

The update must read the parameters, the gradients and the momentum buffers and write
the parameters and the buffers back: 5 arrays' worth of bytes, however it is fused. Its
GB/s next to the reference's says how far it is from moving those bytes as fast as the
machine moves any bytes; at the reference's speed, those bytes take ``floor ms``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

EVICT_BYTES = 128 << 20  # more than this machine's 48 MiB L3


def timed(fn, rounds, evict=None):
    """Minimum and median seconds of ``fn()``, ``evict()`` (untimed) before each call."""
    times = []
    for _ in range(rounds):
        if evict is not None:
            evict()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small,medium,large")
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    import chainrule as cr
    from chainrule import optim

    threadpool_limits(1)
    optim.set_num_threads(1)
    sweep = np.ones(EVICT_BYTES // 4, np.float32)

    def evict():
        np.add(sweep, 1, out=sweep)

    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"1 thread; load average {load}; min and median of {args.rounds} calls")
    print("| size | parameters | what | cache | min ms | median ms | GB/s (min) | floor ms |")
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        layers, _ = common.SIZES[size]
        rng = np.random.default_rng(0)
        params = []
        for w, b in common.init_weights(layers):
            for a in (w, b):
                p = cr.nn.Parameter(a.copy())
                p.grad = cr.Tensor(rng.standard_normal(a.shape).astype(np.float32) * 1e-3)
                params.append(p)
        opt = optim.SGD(params, lr=common.LR, momentum=common.MOMENTUM)
        opt.step()  # the momentum buffers exist from here on
        n = sum(p.data.size for p in params)
        update_bytes = 5 * n * 4
        a, b, c = (np.ones(n, np.float32) for _ in range(3))

        def stream(a=a, b=b, c=c):
            np.add(a, b, out=c)

        rows = {}
        for cache, ev in (("warm", None), ("cold", evict)):
            ref = timed(stream, args.rounds, ev)
            rows[("np.add reference", cache)] = (ref, 3 * n * 4)
            rows[("SGD momentum update", cache)] = (timed(opt.step, args.rounds, ev), update_bytes)
        for (what, cache), ((low, med), nbytes) in rows.items():
            ref_low = rows[("np.add reference", cache)][0][0]
            floor = update_bytes / (3 * n * 4 / ref_low)  # the update's bytes at ref speed
            print(
                f"| {size} | {n:,} | {what} | {cache} | {low * 1e3:.3f} | {med * 1e3:.3f} "
                f"| {nbytes / low / 1e9:.1f} | {floor * 1e3:.3f} |"
            )


if __name__ == "__main__":
    main()
