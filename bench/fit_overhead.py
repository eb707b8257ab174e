"""The cost of ``chainrule.train.fit`` over a hand-written loop doing the same work.

Digits, a 64-32-10 MLP, batch 32, 10 epochs: small enough that any per-step overhead of
the loop (metric sums, callback dispatch) shows. Prints microseconds per step, min of 5.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 python bench/fit_overhead.py
"""

import time

import chainrule as cr
from chainrule.data import ArrayDataset, DataLoader, load_dataset
from chainrule.tensor import Tensor
from chainrule.train import NaNGuard, fit

F = cr.nn.functional
splits = load_dataset("digits")


def setup():
    cr.manual_seed(0)
    model = cr.nn.MLP([64, 32, 10], init="he")
    opt = cr.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loader = DataLoader(
        ArrayDataset(splits.X_train, splits.y_train), batch_size=32, shuffle=True, rng=0
    )
    return model, opt, loader


def by_hand(model, opt, loader, epochs):
    for _ in range(epochs):
        for x, y in loader:
            loss = F.cross_entropy(model(Tensor(x)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()


def main():
    runs = {
        "by hand": lambda m, o, l: by_hand(m, o, l, 10),
        "fit": lambda m, o, l: fit(m, F.cross_entropy, o, l, 10),
        "fit + NaNGuard": lambda m, o, l: fit(m, F.cross_entropy, o, l, 10, callbacks=[NaNGuard()]),
    }
    best = {name: float("inf") for name in runs}
    for _ in range(5):
        for name, run in runs.items():
            model, opt, loader = setup()
            start = time.perf_counter()
            run(model, opt, loader)
            best[name] = min(best[name], time.perf_counter() - start)
    steps = 10 * len(loader)
    for name, seconds in best.items():
        print(
            f"{name:15s} {seconds / steps * 1e6:7.1f} us/step  "
            f"({seconds / best['by hand']:.2f}x by hand)"
        )


if __name__ == "__main__":
    main()
