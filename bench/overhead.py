"""Per-op overhead: forward + backward of a chain of 1,000 ops on small tensors.

Compares chainrule with PyTorch eager (autograd on) and plain NumPy (forward only, no
graph) in the same run. Run with the OpenBLAS overrides unset:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/overhead.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import chainrule as cr

N_OPS = 1000


def chain_chainrule(x0):
    x = cr.tensor(x0, requires_grad=True)
    y = x
    for _ in range(N_OPS // 4):  # 4 ops per iteration: mul, add, tanh, mul
        y = (y * 0.9 + 0.1).tanh() * 1.1
    y.sum().backward()
    return x.grad


def chain_torch(x0, torch):
    x = torch.tensor(x0, requires_grad=True)
    y = x
    for _ in range(N_OPS // 4):
        y = (y * 0.9 + 0.1).tanh() * 1.1
    y.sum().backward()
    return x.grad


def chain_numpy(x0):
    y = x0
    for _ in range(N_OPS // 4):
        y = np.tanh(y * 0.9 + 0.1) * 1.1
    return y


def timeit(fn, repeat):
    fn()  # warm up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16, help="elements per tensor")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    x0 = np.random.default_rng(0).standard_normal(args.size).astype(np.float32)
    rows = [("chainrule", timeit(lambda: chain_chainrule(x0), args.repeat))]
    try:
        import torch

        torch.set_num_threads(1)
        rows.append(("pytorch", timeit(lambda: chain_torch(x0, torch), args.repeat)))
    except ImportError:
        print("(PyTorch not installed: skipped)")
    rows.append(("numpy fwd only", timeit(lambda: chain_numpy(x0), args.repeat)))
    base = rows[0][1]
    print(f"chain of {N_OPS} ops on float32 tensors of {args.size} elements, forward + backward")
    print(f"{'library':<16}{'µs/op':>10}{'ratio to chainrule':>22}")
    for name, t in rows:
        print(f"{name:<16}{t / N_OPS * 1e6:>10.2f}{t / base:>22.2f}")


if __name__ == "__main__":
    main()
