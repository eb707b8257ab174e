"""Peak memory of each training step, eager and compiled (``cr.compile``), per step.

For every step of a run the tracemalloc peak above the memory held before that step
(the model, the optimizer state and, for the compiled peer, its capture), so the two
captures and the replays are seen apart; then, for eager and compiled, the whole
process's held memory and peak at the last step (what "a replay step's peak is at most
eager's" compares)::

    python bench/compile_memory.py --size medium --steps 5
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402 - bench/ is not a package
import compiled_peers  # noqa: E402


def peaks(make, layers, x, y, steps):
    step = make(layers, x, y)
    out = []
    tracemalloc.start()
    try:
        for _ in range(steps):
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            step()
            out.append((tracemalloc.get_traced_memory()[1] - before) / 2**20)
    finally:
        tracemalloc.stop()
    return out


def whole(make, layers, x, y, steps):
    """``(held, peak)`` in MiB over the whole run: everything the run allocates counts
    (model, optimizer state, gradients, the compiled program), the held memory before
    the last step and that step's peak; the steps before it include the captures."""
    tracemalloc.start()
    try:
        step = make(layers, x, y)
        for _ in range(steps - 1):
            step()
        tracemalloc.reset_peak()
        held = tracemalloc.get_traced_memory()[0]
        step()
        return held / 2**20, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="medium", choices=sorted(common.SIZES))
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args(argv)
    from chainrule.optim import set_num_threads

    set_num_threads(1)
    layers, n = common.SIZES[args.size]
    x, y = common.batch(layers, n)
    rows = {
        "chainrule (eager)": peaks(common.step_chainrule, layers, x, y, args.steps),
        "chainrule compiled": peaks(compiled_peers.step_compiled, layers, x, y, args.steps),
        "hand NumPy": peaks(common.step_numpy, layers, x, y, args.steps),
    }
    shape = "-".join(map(str, layers))
    print(
        f"{args.size} {shape}, batch {n}: tracemalloc peak of each step above the memory "
        "held before it (MiB); compiled steps 1-2 capture, the rest replay"
    )
    print("| peer | " + " | ".join(f"step {k + 1}" for k in range(args.steps)) + " |")
    print("|---|" + "---|" * args.steps)
    for name, ps in rows.items():
        print(f"| {name} | " + " | ".join(f"{p:.2f}" for p in ps) + " |")
    makers = {
        "chainrule (eager)": common.step_chainrule,
        "chainrule compiled": compiled_peers.step_compiled,
    }
    for make in makers.values():  # imports and first-use caches before anything is traced
        make(layers, x, y)()
    print(f"\nwhole process, step {args.steps} (MiB): held before it, and its peak")
    print("| peer | held | peak |")
    print("|---|---|---|")
    for name, make in makers.items():
        held, top = whole(make, layers, x, y, args.steps)
        print(f"| {name} | {held:.2f} | {top:.2f} |")


if __name__ == "__main__":
    main()
