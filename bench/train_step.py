"""MLP training speed: chainrule against hand-written NumPy, PyTorch eager and JAX jit.

One command measures, on the same data and from the same initial weights:

* one training step (forward, backward, SGD with momentum 0.9, float32) at three sizes
  — small 64-64-10 / batch 32, medium 784-512-256-10 / batch 128, large
  784-2048-2048-10 / batch 512 — as the median ms per step, samples per second, and each
  peer's time relative to chainrule's;
* per-op overhead (``bench/overhead.py``'s chain of 1,000 small ops);
* peak memory of training at each size (tracemalloc for the NumPy-based libraries, the
  RSS high-water mark for all);
* one epoch of real MNIST with the 784-500-300-10 MLP at batch 128.

Run it with the OpenBLAS overrides of these machines unset (they slow NumPy's matmuls
about 3x)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/train_step.py

Each library runs in its own worker process, so thread pools (OpenBLAS, PyTorch's
OpenMP, XLA's) never compete and peak memory is clean. The parent drives the workers in
turn, one timed sample each (A B C D A B C D ...), so noise from a shared machine falls
evenly on every peer; the noise figure is the interquartile range over the median.
Torch gets as many threads as NumPy's BLAS has; XLA uses one per core. With
``--threads N`` below the core count each worker is pinned to N cores (the only limit XLA
obeys), and the ``cores used`` column (the worker's CPU time over its wall time) shows
what each library really used.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402 - bench/ is not a package
import compiled_peers  # noqa: E402

compiled_peers.register(common)  # the cr.compile peer and the GEMM limit

MNIST_LAYERS = (784, 500, 300, 10)
MNIST_BATCH = 128


# ---------------------------------------------------------------- workers
def _reply(obj):
    _OUT.write(json.dumps(obj) + "\n")
    _OUT.flush()


def worker_step(peer, size):
    """Serve ``run N`` requests: time N steps, reply with seconds per step."""
    layers, n = common.SIZES[size]
    x, y = common.batch(layers, n)
    step = common.make_step(peer, layers, x, y)
    for _ in range(5):  # warm-up: cr.compile's two captures, JAX's tracing and compiling
        step()
    # then the time of a warm step, which sets how many steps make one timed sample (the
    # warm-up's own times once sized a compiled small step's sample at one cold step)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    _reply({"ready": True, "t": statistics.median(times)})
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] != "run":
            break
        inner = int(cmd[1])
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(inner):
            step()
        # the process's CPU time (all its threads) too: how many cores the step used
        _reply({"t": (time.perf_counter() - t0) / inner, "cpu": (time.process_time() - c0) / inner})


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss():
    """Restart the kernel's RSS high-water mark (VmHWM) from the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass  # then the peak since exec is used: still this worker's own


def _peak_rss_bytes():
    # VmHWM belongs to this process's address space (ru_maxrss would carry over the
    # parent's peak through fork and exec)
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")


def worker_memory(peer, size, how="rss", steps=5):
    """Peak memory of building the model and optimizer and training ``steps`` steps.

    ``how="traced"``: tracemalloc's peak (NumPy reports its buffers to it), exact for the
    NumPy-based peers. ``how="rss"``: the RSS high-water mark above the RSS before the
    model existed, for every peer (it includes allocator caches and libraries'
    workspaces; measured in a process without tracemalloc, whose own records would
    count).
    """
    layers, n = common.SIZES[size]
    x, y = common.batch(layers, n)
    weights = common.init_weights(layers)
    if peer == "torch":
        import torch  # noqa: F401 - import before the baseline
    elif peer == "jax":
        import jax

        jax.numpy.zeros(1).block_until_ready()
    else:
        import chainrule
        import chainrule.nn
        import chainrule.optim  # noqa: F401
    if how == "traced":
        import tracemalloc

        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
    _reset_peak_rss()
    rss0 = _rss_bytes()
    step = common.make_step(peer, layers, x, y, weights)
    for _ in range(steps):
        step()
    if how == "traced":
        _reply({"traced_peak": tracemalloc.get_traced_memory()[1] - base})
    else:
        _reply({"rss_peak": max(0, _peak_rss_bytes() - rss0)})


def worker_overhead(repeat=20):
    """µs per op of bench/overhead.py's 1,000-op chain (forward + backward)."""
    import overhead

    x0 = np.random.default_rng(0).standard_normal(16).astype(np.float32)
    out = {"chainrule": overhead.timeit(lambda: overhead.chain_chainrule(x0), repeat)}
    try:
        import torch

        torch.set_num_threads(1)
        out["torch"] = overhead.timeit(lambda: overhead.chain_torch(x0, torch), repeat)
    except ImportError:
        pass
    out["numpy fwd only"] = overhead.timeit(lambda: overhead.chain_numpy(x0), repeat)
    _reply({k: v / overhead.N_OPS for k, v in out.items()})


def worker_epoch(peer, data_dir, seed=0):
    """Time one epoch of MNIST (784-500-300-10, batch 128, shuffled) after a short warm-up.

    Every peer sees the same permutation and trains from the same weights; batches are
    gathered from the in-memory arrays by each library's own indexing. Replies with the
    epoch's seconds and the test accuracy reached, as a check that all learned alike.
    """
    from chainrule.data import load_mnist

    data = load_mnist(data_dir, download=False)
    xtr = np.ascontiguousarray(data.X_train, dtype=np.float32)
    ytr = data.y_train.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(ytr))
    make = common.EPOCH_MAKERS[peer]
    # warm up on a throwaway model: 20 full batches and one of the epoch's last size (so
    # JAX has compiled both shapes before the clock starts)
    warm = order[: 20 * MNIST_BATCH + len(order) % MNIST_BATCH]
    make(MNIST_LAYERS, common.init_weights(MNIST_LAYERS, seed + 1))(xtr, ytr, warm, MNIST_BATCH)
    train = make(MNIST_LAYERS, common.init_weights(MNIST_LAYERS, seed + 1))
    t0 = time.perf_counter()
    train(xtr, ytr, order, MNIST_BATCH)
    seconds = time.perf_counter() - t0
    acc = float((train.predict(np.asarray(data.X_test, np.float32)) == data.y_test).mean())
    _reply({"seconds": seconds, "accuracy": acc})


def set_threads(n):
    """In a worker: run every library on ``n`` threads (None leaves the defaults).

    Below the machine's core count the worker is also pinned to its first ``n`` allowed
    cores, before any library starts a pool: XLA sizes its thread pools from the CPU
    affinity mask and no flag limits them (``--xla_cpu_multi_thread_eigen=false``, this
    bench's earlier setting, left JAX's "one thread" step using 1.93 cores here), so the
    mask is what makes "n threads" hold for JAX as it does for the others. With
    ``CHAINRULE_BENCH_PIN=0`` (``--no-pin``) the earlier setting is made instead, to show
    what it left JAX using (the ``cores used`` column).

    Returns the threadpoolctl limiter, which must stay alive for the limit to hold."""
    if not n:
        return None
    n = int(n)
    if os.environ.get("CHAINRULE_BENCH_PIN") == "0":
        if n == 1:  # XLA reads its flags when JAX is imported, which is later
            os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false"
    else:
        common.pin_cores(n)
    from threadpoolctl import threadpool_limits

    limits = threadpool_limits(n)
    try:
        from chainrule.optim import set_num_threads

        set_num_threads(n)
    except ImportError:
        pass
    return limits


# ---------------------------------------------------------------- the parent
class Worker:
    """A peer's worker process, talking JSON lines over pipes."""

    threads = None  # set by main(): every worker uses this many threads (None: defaults)
    pin = True  # set by main(): pin workers to ``threads`` cores (--no-pin: XLA's flag)

    def __init__(self, *args):
        env = dict(os.environ)
        if Worker.threads:
            env["CHAINRULE_BENCH_THREADS"] = str(Worker.threads)
            env["CHAINRULE_BENCH_PIN"] = "1" if Worker.pin else "0"
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", *map(str, args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def ask(self, line=None):
        if line is not None:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        if not reply:
            raise RuntimeError(f"worker {self.proc.args[3:]} died (exit {self.proc.wait()})")
        return json.loads(reply)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        self.proc.wait()


# One timed sample lasts this long for every peer (at least one step); --sample-ms sets it.
SAMPLE_SECONDS = 0.003
# Pause between samples: after a parallel region, OpenBLAS's and OpenMP's worker threads
# keep spinning for a while (OpenBLAS: up to ~0.1 s); on 2 cores they would steal the
# next peer's CPU.
SETTLE_SECONDS = 0.2


def measure_steps(size, peers, rounds, sample_seconds=SAMPLE_SECONDS):
    """``{peer: [seconds per step, one per round]}``, sampled in turn A B C D A B ...,
    and ``{peer: [CPU seconds per step]}`` (every thread of the worker).

    Every peer's sample lasts about the same wall time (``sample_seconds``), so on a
    busy machine each is equally likely to be interrupted by another process.
    """
    workers = {p: Worker("step", p, size) for p in peers}
    try:
        inner = {p: max(1, round(sample_seconds / w.ask()["t"])) for p, w in workers.items()}
        samples = {p: [] for p in peers}
        cpu = {p: [] for p in peers}
        for _ in range(rounds):
            for p, w in workers.items():
                reply = w.ask(f"run {inner[p]}")
                samples[p].append(reply["t"])
                cpu[p].append(reply["cpu"])
                time.sleep(SETTLE_SECONDS)
    finally:
        for w in workers.values():
            w.close()
    return samples, cpu


def one_shot(*args):
    w = Worker(*args)
    try:
        return w.ask()
    finally:
        w.close()


def environment(peers):
    info = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": common.blas_info(),
        "cpus": len(os.sched_getaffinity(0)),
        "cpu": platform.processor() or platform.machine(),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if name in os.environ:
            info[name] = os.environ[name] + "  (set: NumPy's matmuls run ~3x slower)"
    if "torch" in peers:
        import torch

        info["torch"] = torch.__version__
    if "jax" in peers:
        import jax

        info["jax"] = f"{jax.__version__} (XLA CPU)"
    return info


def fmt_table(rows, header):
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *map(line, rows)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small,medium,large")
    parser.add_argument("--peers", default=",".join(common.PEERS))
    parser.add_argument("--rounds", type=int, default=15, help="timed samples per peer")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-overhead", action="store_true")
    parser.add_argument("--no-epoch", action="store_true")
    parser.add_argument("--epoch-rounds", type=int, default=2, help="epochs timed per peer")
    parser.add_argument("--data-dir", default=str(HERE.parent.parent / "shared" / "data" / "mnist"))
    parser.add_argument(
        "--sample-ms",
        type=float,
        default=SAMPLE_SECONDS * 1e3,
        help="length of one timed sample (default %(default)s ms); longer samples measure "
        "the steady state of back-to-back steps, shorter ones include more of the first "
        "steps after each pause",
    )
    parser.add_argument("--json", help="also write all results to this file")
    parser.add_argument(
        "--threads",
        type=int,
        help="threads for every library (BLAS, torch, XLA, chainrule's optimizer); "
        "default: NumPy's BLAS default, which torch is set to match",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="with --threads 1, limit XLA by its --xla_cpu_multi_thread_eigen=false flag "
        "instead of pinning the workers (the earlier setting; see the cores used column)",
    )
    args = parser.parse_args(argv)
    Worker.threads, Worker.pin = args.threads, not args.no_pin
    peers = [p for p in args.peers.split(",") if p]
    missing = [p for p in peers if not common.available(p)]
    for p in missing:
        print(f"({common.LABELS[p]}: not installed, skipped)")
    peers = [p for p in peers if p not in missing]
    env = environment(peers)
    if args.threads and args.no_pin:
        env["threads"] = f"{args.threads} for every library; XLA by its flag, not pinned"
    elif args.threads:
        env["threads"] = (
            f"{args.threads} for every library (--threads: BLAS, torch, optim; each worker"
            f" pinned to {args.threads} core(s) when fewer than the machine's: XLA's limit)"
        )
    else:
        env["threads"] = f"{common.blas_threads()} (NumPy's BLAS default; torch set to match)"
    results = {"environment": env, "steps": {}, "memory": {}}
    print("\n".join(f"{k}: {v}" for k, v in env.items()))

    for size in args.sizes.split(","):
        layers, n = common.SIZES[size]
        samples, cpu = measure_steps(size, peers, args.rounds, args.sample_ms / 1e3)
        results["steps"][size] = samples
        results.setdefault("cpu", {})[size] = cpu
        base = statistics.median(samples["chainrule"]) if "chainrule" in samples else None
        best = min(samples["chainrule"]) if "chainrule" in samples else None
        hand = statistics.median(samples["numpy"]) if "numpy" in samples else None
        rows = []
        for p in peers:
            med, iqr = common.spread(samples[p])
            low = min(samples[p])
            ratio = f"{med / base:.2f}" if base else "-"
            ratio_min = f"{low / best:.2f}" if best else "-"
            row = [common.LABELS[p], f"{med * 1e3:.3f}", f"±{iqr * 100:.0f}%", f"{low * 1e3:.3f}"]
            to_hand = f"{med / hand:.2f}" if hand else "-"
            cores = f"{statistics.median(cpu[p]) / med:.2f}"
            rows.append([*row, f"{n / med:,.0f}", ratio, ratio_min, to_hand, cores])
        shape = "-".join(map(str, layers))
        print(f"\n{size}: {shape}, batch {n}, one step ({args.rounds} samples)")
        header = ["library", "median ms", "IQR", "min ms", "samples/s", "median / cr", "min / cr"]
        header += ["time / hand NumPy", "cores used"]
        print(fmt_table(rows, header))

    if not args.no_memory:
        rows = []
        for size in args.sizes.split(","):
            results["memory"][size] = {}
            for p in peers:
                m = one_shot("memory", p, size, "rss")
                if p in ("chainrule", "compiled", "numpy"):
                    m.update(one_shot("memory", p, size, "traced"))
                results["memory"][size][p] = m
                traced = f"{m['traced_peak'] / 2**20:.1f}" if "traced_peak" in m else "-"
                rows.append([size, common.LABELS[p], traced, f"{m['rss_peak'] / 2**20:.1f}"])
        print("\npeak memory of building the model + 5 training steps (MiB)")
        print(fmt_table(rows, ["size", "library", "tracemalloc", "RSS high-water"]))

    if not args.no_overhead:
        ov = one_shot("overhead")
        results["overhead"] = ov
        print("\nper-op overhead: chain of 1,000 ops on 16 floats, forward + backward")
        rows = [[k, f"{v * 1e6:.2f}", f"{v / ov['chainrule']:.2f}"] for k, v in ov.items()]
        print(fmt_table(rows, ["library", "µs/op", "time / chainrule"]))

    if not args.no_epoch:
        if not Path(args.data_dir).is_dir():
            print(f"\n(MNIST not found in {args.data_dir}: epoch skipped; pass --data-dir)")
        else:
            epoch_peers = [p for p in peers if p in common.EPOCH_MAKERS]
            runs = {p: [] for p in epoch_peers}
            for _ in range(args.epoch_rounds):
                for p in epoch_peers:
                    runs[p].append(one_shot("epoch", p, args.data_dir))
            results["epoch"] = runs
            cr_runs = runs.get("chainrule")
            base = statistics.median(r["seconds"] for r in cr_runs) if cr_runs else None
            rows = []
            for p, rs in runs.items():
                secs = [r["seconds"] for r in rs]
                med = statistics.median(secs)
                rows.append(
                    [
                        common.LABELS[p],
                        f"{med:.2f}",
                        f"{min(secs):.2f}-{max(secs):.2f}",
                        f"{60000 / med:,.0f}",
                        f"{med / base:.2f}" if base else "-",
                        f"{rs[-1]['accuracy']:.4f}",
                    ]
                )
            print(
                f"\nMNIST, one epoch: 784-500-300-10, batch {MNIST_BATCH}, SGD momentum 0.9 "
                f"(median of {args.epoch_rounds})"
            )
            print(
                fmt_table(
                    rows,
                    ["library", "s/epoch", "range", "samples/s", "time / chainrule", "test acc"],
                )
            )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nload average at the end: {load} (1, 5, 15 min; other work on the machine)")
    results["load average at the end"] = load
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        # replies go to the real stdout; anything a library prints goes to stderr
        _OUT = sys.stdout
        sys.stdout = sys.stderr
        kind, rest = sys.argv[2], sys.argv[3:]
        limits = set_threads(os.environ.get("CHAINRULE_BENCH_THREADS"))
        if kind == "step":
            worker_step(*rest)
        elif kind == "memory":
            worker_memory(*rest)
        elif kind == "overhead":
            worker_overhead()
        elif kind == "epoch":
            worker_epoch(*rest)
    else:
        main()
