"""What each stage of ``cr.compile`` buys, in one process: eager, the replay calling the
primitives' own functions, the lowered replay (NumPy calls into owned arrays, the paired
cross-entropy) with its traced updates called parameter by parameter, combined into one
function with every call per parameter, and as it is (statements on the state alone made
once over each group's joined buffers), the lowered replay with the optimizer's earlier
1 MiB update chunks, and hand-written NumPy — the same model, optimizer (SGD, momentum
0.9) and batch as bench/train_step.py, one thread (``--threads N`` for more),
interleaved round by round so that a shared machine's noise falls on every variant
alike::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/compile_stages.py

The ``primitive calls`` variant is the replay before lowering: the same program built
with ``lower=False``. ``update parameter by parameter`` keeps the traced updates apart
(small models only: larger ones call ``opt.step()`` itself). ``1 MiB chunks`` differs
from ``lowered`` only in the optimizer runner's chunk size (it matters only above the
2 MiB whole-step threshold, so medium and large). ``JAX jit`` is bench/train_step.py's
JAX peer (left out with ``--no-jax`` or when JAX is not installed): timed in the same
rounds, it meets the same moments of a shared machine's noise as the replay, which
separate worker processes do not. The process is pinned to ``--threads`` cores (when
fewer than it may use) so that XLA's pools have that many too; ``cores used`` (CPU time
over wall time) shows what each variant took. Every variant trains its own copy of the
same initial weights.

``--adam`` times the optimizer update's three stages (parameter by parameter, combined
with every call per parameter, combined with group calls) with Adam(lr=1e-3) instead,
for the small size.

``--lines SIZE`` times the replay of one size statement by statement (``--steps N``
replays) and totals the products, the optimizer step and the rest.

``--attribute`` instead splits the small replay's time by removing one kind of line at a
time from the generated function (the label check, the loss value, the guards, the
optimizer step)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/compile_stages.py \\
        --attribute --rounds 25
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
if "--threads" not in sys.argv:  # else the BLAS pool must be able to grow to --threads
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import common  # noqa: E402 - bench/ is not a package
import compiled_peers  # noqa: E402

INNER = {"small": 300, "medium": 20, "large": 2}


def compiled_step(layers, x, y, lower=True, adam=False, flat_labels=True):
    """bench/compiled_peers.py's step after its captures; ``lower=False`` rebuilds its
    replay with every primitive's own function called (the replay before lowering),
    ``flat_labels=False`` with the cross-entropy's labels indexed by row and label (the
    replay before its flat index)."""
    step = compiled_peers.step_compiled(layers, x, y, adam=adam)
    for _ in range(3):  # two captures, one replay
        step()
    if not lower or not flat_labels:
        replay = sys.modules["chainrule.compile.replay"]
        guards = sys.modules["chainrule.compile.guards"]
        entry = step.compiled._latest()
        checks = guards.guards(entry.program, step.compiled.fn, step.args, {})
        entry.replay, entry.source = replay.compile_replay(
            entry.program, checks, lower=lower, flat_labels=flat_labels
        )
    return step


def per_parameter(step):
    """``step`` with its replay's optimizer step kept parameter by parameter: the traced
    updates not combined into one function (the replay before that change)."""
    ns = step.compiled._latest().replay.__globals__
    for fast in (v for v in ns.values() if hasattr(v, "whole")):
        fast.whole.update(run=None, dropped=1 << 30)
    return step


def calls_per_parameter(step):
    """``step`` with its replay's combined update rebuilt with every call per parameter:
    no statement made once over a group's joined buffers (the replay before that)."""
    ns = step.compiled._latest().replay.__globals__
    for fast in (v for v in ns.values() if hasattr(v, "whole")):
        fast.rebuild(flat=False)
    return step


def chunked(step, chunk_bytes):
    """``step`` run with the optimizer runner's chunk size set to ``chunk_bytes``."""
    optimizer = sys.modules["chainrule.optim.optimizer"]

    def run():
        old, optimizer._CHUNK_BYTES = optimizer._CHUNK_BYTES, chunk_bytes
        try:
            step()
        finally:
            optimizer._CHUNK_BYTES = old

    return run


def attribute(rounds, inner=500):
    """Where the small replay's time goes, by removal: each variant is the generated
    replay function with one kind of line taken out (for timing only: it no longer
    trains correctly), timed interleaved with the whole replay, ``step()`` around it and
    hand NumPy. Prints ``(variant, min µs, µs the removed lines cost)`` rows."""
    import re

    layers, n = common.SIZES["small"]
    x, y = common.batch(layers, n)
    step = compiled_step(layers, x, y)
    entry = step.compiled._latest()
    ns, lines = entry.replay.__globals__, entry.source.splitlines()
    labels = sys.modules["chainrule.ops.labels"].class_labels
    check = {k for k, v in ns.items() if v is labels}
    optimizer = {
        k
        for k, v in ns.items()
        if getattr(v, "__module__", "") == "chainrule.compile.optimizer_step"
        or getattr(getattr(v, "__self__", None), "param_groups", None) is not None
    }

    def called(names):
        return [
            ln for ln in lines if re.match(r"\s+(\w+)\(", ln) and ln.split("(")[0].strip() in names
        ]

    ret = [ln for ln in lines if ln.strip().startswith("return")]
    guards = []  # the leading checks: `if not (...): raise Stale`, one or more
    for ln in lines[1:]:
        if not ln.strip().startswith(("if not (", "raise Stale")):
            break
        guards.append(ln)
    # the label check: the labels' largest value, and the full check called when it fails
    tops = [ln for ln in lines if re.match(r"\s+(if )?top\d+ ", ln)]
    drops = {
        "the label check": tops + called(check),
        "the loss value": [ln for ln in lines if "np_log(" in ln or " = asarray(" in ln] + ret,
        "the guards": guards,
        "the optimizer step": called(optimizer),
    }

    def without(drop):
        kept = [ln for ln in lines if ln not in drop]
        src = "\n".join(
            kept if kept[-1].strip().startswith("return") else [*kept, "    return None"]
        )
        space = dict(ns)
        exec(src, space)
        return space["replay"]

    args = [step.args[0].data, step.args[1]]
    whole = without([])  # the same function, built like the variants
    variants = {"replay": lambda: whole(args), "step() around it": step}
    for name, drop in drops.items():
        f = without(drop)
        variants["- " + name] = lambda f=f: f(args)
    variants["hand NumPy"] = common.step_numpy(layers, x, y)
    times = {k: [] for k in variants}
    for _ in range(rounds):
        for name, f in variants.items():
            t0 = time.perf_counter()
            for _ in range(inner):
                f()
            times[name].append((time.perf_counter() - t0) / inner)
    base = min(times["replay"])
    print("| small replay, by removal | min µs | cost of what was removed, µs |")
    print("|---|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {min(ts) * 1e6:.1f} | {(base - min(ts)) * 1e6:+.1f} |")


def profile_lines(size, steps):
    """The lowered replay of ``size`` timed line by line: each top-level statement of the
    generated function followed by a clock read (about 0.1 µs each, nothing at medium
    and large sizes), summed over ``steps`` replays. Prints the statements by cost, the
    products, the optimizer step and the rest totalled."""
    layers, n = common.SIZES[size]
    x, y = common.batch(layers, n)
    step = compiled_step(layers, x, y)
    entry = step.compiled._latest()
    ns = dict(entry.replay.__globals__)
    head, *body = entry.source.splitlines()
    statements = []  # a top-level statement with its indented block
    for line in body:
        if line.startswith("    ") and not line.startswith("     "):
            statements.append([line])
        else:
            statements[-1].append(line)
    lines = [head, "    _t = _clock()"]
    for k, st in enumerate(statements):
        lines += st
        if not st[0].strip().startswith(("return", "raise")):
            lines.append(f"    _spent[{k}] += _clock() - _t; _t = _clock()")
    spent = [0.0] * len(statements)
    ns.update(_clock=time.perf_counter, _spent=spent)
    exec("\n".join(lines), ns)
    replay, args = ns["replay"], [step.args[0].data, step.args[1]]
    replay(args)
    spent[:] = [0.0] * len(statements)
    t0 = time.perf_counter()
    for _ in range(steps):
        replay(args)
    total = (time.perf_counter() - t0) / steps
    rows = sorted(zip(spent, statements), key=lambda r: -r[0])
    kinds = {"products (np_matmul)": 0.0, "optimizer step": 0.0, "the rest": 0.0}
    opt_calls = {k for k, v in ns.items() if getattr(v, "__self__", None) is not None}
    opt_calls |= {k for k, v in ns.items() if hasattr(v, "traced")}
    for t, st in rows:
        text = st[0].strip()
        if "np_matmul(" in text:
            kinds["products (np_matmul)"] += t
        elif text.endswith("()") and text[:-2] in opt_calls:
            kinds["optimizer step"] += t
        else:
            kinds["the rest"] += t
    print(f"{size}: {total * 1e3:.3f} ms per replay, {steps} replays, line by line")
    print("| statement | ms per step |")
    print("|---|---|")
    for t, st in rows[:20]:
        print(f"| `{st[0].strip()[:90]}` | {t / steps * 1e3:.3f} |")
    for kind, t in kinds.items():
        print(f"| **{kind}** | **{t / steps * 1e3:.3f}** |")


def stages(layers, x, y):
    """The variants of a run without ``--adam``: eager, the replay's stages, hand NumPy."""
    return {
        "eager": common.step_chainrule(layers, x, y),
        "replay, primitive calls": compiled_step(layers, x, y, lower=False),
        "lowered, update parameter by parameter": per_parameter(compiled_step(layers, x, y)),
        "lowered, combined, calls per parameter": calls_per_parameter(compiled_step(layers, x, y)),
        "lowered, labels indexed by row and label": compiled_step(layers, x, y, flat_labels=False),
        "replay, lowered": compiled_step(layers, x, y),
        "lowered, 1 MiB update chunks": chunked(compiled_step(layers, x, y), 1 << 20),
        "hand NumPy": common.step_numpy(layers, x, y),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", help="default small,medium,large (with --adam: small)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    parser.add_argument(
        "--optim-threads",
        type=int,
        help="threads of chainrule's optimizer update (default: optim.get_num_threads())",
    )
    parser.add_argument(
        "--attribute", action="store_true", help="only the small replay's time, by removal"
    )
    parser.add_argument(
        "--lines", metavar="SIZE", help="only the replay of SIZE, timed line by line"
    )
    parser.add_argument("--steps", type=int, default=5, help="replays for --lines")
    parser.add_argument("--no-jax", action="store_true", help="leave out the JAX jit variant")
    parser.add_argument(
        "--adam",
        action="store_true",
        help="the three stages of the optimizer update with Adam(lr=1e-3), against the "
        "first (hand NumPy and JAX, SGD steps, left out)",
    )
    args = parser.parse_args(argv)
    common.pin_cores(args.threads)  # before JAX starts XLA's pools: --threads cores in all
    from threadpoolctl import threadpool_info, threadpool_limits

    import chainrule.optim as optim

    threadpool_limits(args.threads)
    if args.optim_threads:
        optim.set_num_threads(args.optim_threads)
    blas = next((i for i in threadpool_info() if i["user_api"] == "blas"), {})
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"BLAS {blas.get('internal_api')} {blas.get('version')} {blas.get('architecture')}, "
        f"{args.threads} thread(s), optimizer {optim.get_num_threads()}; load average {load}; "
        f"min and median of {args.rounds} rounds, µs per step"
    )
    if args.attribute:
        attribute(args.rounds)
        return
    if args.lines:
        profile_lines(args.lines, args.steps)
        return
    jax = not args.no_jax and not args.adam and common.available("jax")
    base = "update parameter by parameter" if args.adam else "hand NumPy"
    print(f"| size | variant | min µs | median µs | min / {base} | median / {base} | cores used |")
    print("|---|---|---|---|---|---|---|")
    for size in (args.sizes or ("small" if args.adam else "small,medium,large")).split(","):
        layers, n = common.SIZES[size]
        x, y = common.batch(layers, n)
        if args.adam:  # small models only: larger ones call opt.step() in every variant
            variants = {
                base: per_parameter(compiled_step(layers, x, y, adam=True)),
                "combined, calls per parameter": calls_per_parameter(
                    compiled_step(layers, x, y, adam=True)
                ),
                "combined, group calls (as it is)": compiled_step(layers, x, y, adam=True),
            }
        else:
            variants = stages(layers, x, y)
        if jax:
            variants["JAX jit"] = common.step_jax(layers, x, y)
            for _ in range(3):  # its compilation
                variants["JAX jit"]()
        times = {k: [] for k in variants}
        cpu = dict.fromkeys(variants, 0.0)
        for _ in range(args.rounds):
            for name, step in variants.items():
                c0, t0 = time.process_time(), time.perf_counter()
                for _ in range(INNER[size]):
                    step()
                t1 = time.perf_counter()
                cpu[name] += time.process_time() - c0
                times[name].append((t1 - t0) / INNER[size])
        hand, hand_median = min(times[base]), statistics.median(times[base])
        for name, ts in times.items():
            median = statistics.median(ts)
            print(
                f"| {size} | {name} | {min(ts) * 1e6:,.1f} | {median * 1e6:,.1f} "
                f"| {min(ts) / hand:.2f} | {median / hand_median:.2f} "
                f"| {cpu[name] / (sum(ts) * INNER[size]):.2f} |"
            )


if __name__ == "__main__":
    main()
