"""Optimizer step time: chainrule.optim next to torch.optim, same shapes, same run.

The parameters are those of a 784-1024-256-10 MLP (1,068,810 numbers), with fixed
gradients; one "step" is ``opt.step()`` alone (no forward/backward). torch runs its
default CPU path (a loop over tensors) and ``foreach=True`` (grouped kernels).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/optim_step.py [--dtype float64]
        [--chunk-kib 1024]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

import chainrule as cr
from chainrule import optim

SHAPES = [(1024, 784), (1024,), (256, 1024), (256,), (10, 256), (10,)]

CONFIGS = [
    ("SGD+momentum", "SGD", dict(lr=0.01, momentum=0.9)),
    ("SGD+mom+wd", "SGD", dict(lr=0.01, momentum=0.9, weight_decay=1e-4)),
    ("Adam", "Adam", dict(lr=1e-3)),
    ("AdamW", "AdamW", dict(lr=1e-3, weight_decay=1e-2)),
    ("RMSprop", "RMSprop", dict(lr=1e-3)),
    ("Adagrad", "Adagrad", dict(lr=1e-2)),
]


def time_steps(step, steps: int, repeat: int) -> float:
    """Median milliseconds per call of ``step`` over ``repeat`` blocks of ``steps`` calls."""
    for _ in range(3):
        step()
    blocks = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        blocks.append((time.perf_counter() - t0) / steps * 1e3)
    return statistics.median(blocks)


def make_arrays(dtype):
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(s).astype(dtype) * 0.05 for s in SHAPES]
    grads = [rng.standard_normal(s).astype(dtype) * 1e-3 for s in SHAPES]
    return params, grads


def chainrule_step(name, kwargs, dtype):
    params, grads = make_arrays(dtype)
    ps = [cr.nn.Parameter(p) for p in params]
    for p, g in zip(ps, grads):
        p.grad = cr.tensor(g)
    return getattr(optim, name)(ps, **kwargs).step


def torch_step(torch, name, kwargs, dtype, foreach):
    params, grads = make_arrays(dtype)
    ps = [torch.tensor(p, requires_grad=True) for p in params]
    for p, g in zip(ps, grads):
        p.grad = torch.tensor(g)
    return getattr(torch.optim, name)(ps, foreach=foreach, **kwargs).step


def environment(torch) -> list[str]:
    lines = [
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"cpu cores available: {len(os.sched_getaffinity(0))}",
        f"chainrule.optim threads: {optim.get_num_threads()}",
    ]
    if torch is not None:
        lines.append(f"torch {torch.__version__}, intra-op threads: {torch.get_num_threads()}")
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            lines.append(
                f"threadpool: {pool.get('internal_api')} {pool.get('version')} "
                f"({pool.get('architecture')}), {pool.get('num_threads')} threads, "
                f"{os.path.basename(pool.get('filepath', ''))}"
            )
    except ImportError:
        lines.append("threadpoolctl not installed: BLAS threads not recorded")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS"):
        if var in os.environ:
            lines.append(f"note: {var}={os.environ[var]} is set")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--steps", type=int, default=30, help="steps per timed block")
    parser.add_argument("--repeat", type=int, default=7, help="timed blocks (median taken)")
    parser.add_argument(
        "--chunk-kib",
        type=int,
        help="the update runner's chunk size in KiB (default: chainrule's own, 256)",
    )
    args = parser.parse_args()
    if args.chunk_kib:
        optim.optimizer._CHUNK_BYTES = args.chunk_kib << 10
    dtype = np.dtype(args.dtype)
    try:
        import torch
    except ImportError:
        torch = None

    n = sum(int(np.prod(s)) for s in SHAPES)
    print(f"load average at the start: {os.getloadavg()[0]:.2f} (on {os.cpu_count()} cpus)")
    print(f"optimizer step, {n:,} parameters ({args.dtype}), shapes {SHAPES}")
    for line in environment(torch):
        print("  " + line)
    threads = optim.get_num_threads()
    head = f"{'optimizer':<14}{'chainrule':>11}{'cr 1 thread':>13}"
    if torch is not None:
        head += f"{'torch':>10}{'torch foreach':>15}{'torch 1 thr':>13}"
        head += f"{'torch/cr':>10}{'foreach/cr':>12}{'1 thr/1 thr':>13}"
    print()
    print(head + "    (ms per step, median)")
    print("-" * len(head))
    for label, name, kwargs in CONFIGS:
        # Round-robin: one timed block of each contender in turn, so a busy machine slows
        # all of them alike; the median block per contender is reported.
        contenders = {
            "cr": (threads, chainrule_step(name, kwargs, dtype)),
            "cr1": (1, chainrule_step(name, kwargs, dtype)),
        }
        if torch is not None:
            contenders["torch"] = (threads, torch_step(torch, name, kwargs, dtype, None))
            contenders["foreach"] = (threads, torch_step(torch, name, kwargs, dtype, True))
            contenders["torch1"] = (1, torch_step(torch, name, kwargs, dtype, None))
        blocks = {key: [] for key in contenders}
        torch_threads = torch.get_num_threads() if torch is not None else 1
        for _ in range(args.repeat):
            for key, (n_threads, step) in contenders.items():
                optim.set_num_threads(n_threads)
                if torch is not None:
                    torch.set_num_threads(1 if key == "torch1" else torch_threads)
                blocks[key].append(time_steps(step, args.steps, 1))
        optim.set_num_threads(threads)
        if torch is not None:
            torch.set_num_threads(torch_threads)
        ms = {key: statistics.median(b) for key, b in blocks.items()}
        row = f"{label:<14}{ms['cr']:>11.3f}{ms['cr1']:>13.3f}"
        if torch is not None:
            row += f"{ms['torch']:>10.3f}{ms['foreach']:>15.3f}{ms['torch1']:>13.3f}"
            row += f"{ms['torch'] / ms['cr']:>10.2f}{ms['foreach'] / ms['cr']:>12.2f}"
            row += f"{ms['torch1'] / ms['cr1']:>13.2f}"
        print(row, flush=True)
    print()
    print("ratio > 1: chainrule is faster. '1 thread': chainrule with set_num_threads(1),")
    print("torch with torch.set_num_threads(1) (default loop); '1 thr/1 thr' compares those two.")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (on {os.cpu_count()} cpus)")


if __name__ == "__main__":
    main()
