"""chainrule.sklearn.MLPClassifier against sklearn.neural_network.MLPClassifier.

Same data (float32 features in [0, 1]), same architecture, same solver settings, same
random_state per run, fitted in the same process, alternating which library goes first.
Reports test accuracy and fit seconds (median over ``--repeats`` runs, each run a
different random_state) and the BLAS kernel (threadpoolctl).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/sklearn_compare.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/sklearn_compare.py \\
        --datasets fashion --fashion-train 20000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings

import numpy as np

FASHION_DIR = "/usr/share/datasets/fashion-mnist"

# one setting per data set, passed unchanged to both estimators
SETTINGS = {
    "digits": dict(hidden_layer_sizes=(100,), solver="adam", max_iter=200),
    "fashion": dict(hidden_layer_sizes=(256,), solver="adam", max_iter=30),
}


def load(name: str, fashion_train: int):
    from chainrule.data import load_digits, load_fashion_mnist

    if name == "digits":
        s = load_digits()
        return s.X_train, s.y_train, s.X_test, s.y_test, "digits (1437 train / 360 test)"
    s = load_fashion_mnist(FASHION_DIR, download=False)
    X_train = s.X_train.reshape(len(s.X_train), -1)
    X_test = s.X_test.reshape(len(s.X_test), -1)
    X_train, y_train = X_train[:fashion_train], s.y_train[:fashion_train]
    what = f"Fashion-MNIST ({len(X_train)} train / {len(X_test)} test)"
    return X_train, y_train, X_test, s.y_test, what


def run_one(make, params, seed, data):
    X_train, y_train, X_test, y_test = data
    est = make(**params, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter, for both
        start = time.perf_counter()
        est.fit(X_train, y_train)
        seconds = time.perf_counter() - start
    return float(est.score(X_test, y_test)), seconds, est.n_iter_


def blas_kernel() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(
        f"{i['internal_api']} {i.get('version')} {i.get('architecture')} "
        f"({i['num_threads']} threads)"
        for i in infos
    )


def main(argv=None):
    from sklearn.neural_network import MLPClassifier as SkMLP

    import sklearn
    from chainrule.sklearn import MLPClassifier as CrMLP

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="digits,fashion")
    ap.add_argument("--repeats", type=int, default=3, help="runs per library (seeds 0..)")
    ap.add_argument("--fashion-train", type=int, default=20000, help="training rows used")
    ap.add_argument(
        "--same-order",
        action="store_true",
        help="also fit both once with shuffle=False: the same minibatches in the same order, "
        "which separates the implementations from the luck of the shuffle",
    )
    ap.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="BLAS threads for both libraries (0: leave as is). One by default: on a "
        "shared, loaded machine more threads than free cores make every matmul wait",
    )
    args = ap.parse_args(argv)
    if args.blas_threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=args.blas_threads, user_api="blas")

    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, {os.cpu_count()} CPUs"
    )
    print(f"BLAS: {blas_kernel()}")
    print(
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    rows = []
    for name in args.datasets.split(","):
        X_train, y_train, X_test, y_test, what = load(name, args.fashion_train)
        data = (X_train, y_train, X_test, y_test)
        params = SETTINGS[name]
        results = {"scikit-learn": [], "chainrule": []}
        for seed in range(args.repeats):
            order = [("scikit-learn", SkMLP), ("chainrule", CrMLP)]
            if seed % 2:
                order.reverse()
            for lib, make in order:
                acc, sec, n_iter = run_one(make, params, seed, data)
                results[lib].append((acc, sec))
                print(
                    f"  {name} seed {seed} {lib:12s} acc {acc:.4f} fit {sec:7.2f} s "
                    f"({n_iter} epochs)",
                    flush=True,
                )
        for lib, res in results.items():
            if not res:
                continue
            accs = [a for a, _ in res]
            secs = [s for _, s in res]
            rows.append(
                (what, lib, statistics.mean(accs), min(accs), max(accs), statistics.median(secs))
            )
        print(f"  settings: {params}, random_state = 0..{args.repeats - 1}")
        if args.same_order:
            for lib, make in [("scikit-learn", SkMLP), ("chainrule", CrMLP)]:
                acc, sec, n_iter = run_one(make, {**params, "shuffle": False}, 0, data)
                rows.append((what, f"{lib}, shuffle=False", acc, acc, acc, sec))
                print(
                    f"  {name} shuffle=False {lib:12s} acc {acc:.4f} fit {sec:7.2f} s", flush=True
                )

    print()
    print("| data | library | test accuracy, mean (min–max) | fit seconds, median |")
    print("|---|---|---|---|")
    for what, lib, mean, lo, hi, sec in rows:
        print(f"| {what} | {lib} | {mean:.4f} ({lo:.4f}–{hi:.4f}) | {sec:.2f} |")


if __name__ == "__main__":
    main()
