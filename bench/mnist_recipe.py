"""The MNIST recipe of examples/mnist_*.toml in PyTorch, for comparison with chainrule.

Same data (chainrule's MNIST loader and preprocessing), same initial weights (copied from
the chainrule model built with the same seed), same minibatches in the same order
(chainrule's DataLoader with the same seed), same hyperparameters (SGD with momentum,
weight decay on the weight matrices only, cosine schedule stepped per batch). Only the
arithmetic engine differs.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/mnist_recipe.py \\
        --config examples/mnist_lecun.toml --data-dir ../shared/data/mnist [--epochs N]
        [--threads 1] [--chainrule]

``--chainrule`` also runs ``chainrule.train.run_training`` on the same recipe in the same
process, after PyTorch, and prints both wall times (compare only numbers from one run).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ModuleNotFoundError:
        return "BLAS: unknown (install threadpoolctl)"
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return "; ".join(
        f"{p.get('internal_api')} {p.get('version')} kernel {p.get('architecture')} "
        f"threads {p.get('num_threads')}"
        for p in pools
    )


def torch_run(config, data, threads: int) -> dict:
    import torch

    from chainrule import backend
    from chainrule.data import ArrayDataset, DataLoader
    from chainrule.experiment import build_model

    if config.optimizer != "sgd" or config.loss != "cross-entropy":
        raise SystemExit("this comparison covers sgd + cross-entropy recipes")
    if config.schedule not in ("cosine", "constant") or config.warmup:
        raise SystemExit("this comparison covers the cosine and constant schedules")
    torch.set_num_threads(threads)
    dtype = torch.float32 if config.dtype == "float32" else torch.float64

    backend.manual_seed(config.seed)  # the chainrule model's initial weights, copied
    reference = build_model(config, data.n_features, data.n_outputs).state_dict()
    layers, sizes = [], [data.n_features, *config.layers, data.n_outputs]
    for k in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[k], sizes[k + 1]))
        if k < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
            if config.dropout:
                layers.append(torch.nn.Dropout(config.dropout))
    net = torch.nn.Sequential(*layers).to(dtype)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    weights = [v for k, v in reference.items() if k.endswith("weight")]
    biases = [v for k, v in reference.items() if k.endswith("bias")]
    with torch.no_grad():
        for lin, w, b in zip(linears, weights, biases):
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))

    decay = [p for p in net.parameters() if p.ndim >= 2]
    no_decay = [p for p in net.parameters() if p.ndim < 2]
    opt = torch.optim.SGD(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.resolved_lr(),
        momentum=config.momentum,
        nesterov=config.nesterov,
    )
    loader = DataLoader(
        ArrayDataset(*data.train), batch_size=config.batch_size, shuffle=True, rng=config.seed
    )
    total = config.epochs * len(loader)
    sched = (
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=config.min_lr)
        if config.schedule == "cosine"
        else None
    )
    epochs = []
    start = time.perf_counter()
    for epoch in range(config.epochs):
        net.train()
        t0, loss_sum, n = time.perf_counter(), 0.0, 0
        for x, y in loader:
            xb, yb = torch.from_numpy(x), torch.from_numpy(y)
            loss = torch.nn.functional.cross_entropy(net(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            loss_sum += loss.item() * len(y)
            n += len(y)
        epochs.append(
            {"epoch": epoch + 1, "train_loss": loss_sum / n, "seconds": time.perf_counter() - t0}
        )
        print(
            f"torch epoch {epoch + 1}/{config.epochs}  loss {loss_sum / n:.4f}  "
            f"{epochs[-1]['seconds']:.1f}s",
            flush=True,
        )
    seconds = time.perf_counter() - start
    net.eval()
    with torch.no_grad():
        X, y = data.test
        pred = net(torch.from_numpy(X)).argmax(dim=1).numpy()
    accuracy = float(np.mean(pred == y))
    return {
        "test_accuracy": accuracy,
        "test_error_pct": 100 * (1 - accuracy),
        "seconds": seconds,
        "epochs": epochs,
    }


def main(argv=None) -> int:
    from chainrule.experiment import TrainConfig, prepare_run_data, read_config

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default="examples/mnist_lecun.toml")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument(
        "--chainrule",
        action="store_true",
        help="also run chainrule on the same recipe, for the time ratio",
    )
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)

    values = read_config(args.config)
    if args.data_dir:
        values["data_dir"] = args.data_dir
    if args.epochs:
        values["epochs"] = args.epochs
    config = TrainConfig.from_dict({**values, "quiet": True, "plots": False, "out": None})
    print(
        f"recipe {args.config}: {config.layers} {config.optimizer} lr "
        f"{config.resolved_lr()} momentum {config.momentum} wd {config.weight_decay} "
        f"batch {config.batch_size} {config.schedule} {config.epochs} epochs"
    )
    print(blas_info())
    data = prepare_run_data(config)
    results = {"config": args.config, "epochs": config.epochs, "blas": blas_info()}
    results["torch"] = torch_run(config, data, args.threads)
    print(
        f"PyTorch:   test error {results['torch']['test_error_pct']:.2f}%  "
        f"{results['torch']['seconds']:.1f} s"
    )
    if args.chainrule:
        from chainrule.experiment import run_training

        start = time.perf_counter()
        ours = run_training(config)
        results["chainrule"] = {
            "test_accuracy": ours["test_accuracy"],
            "test_error_pct": 100 * (1 - ours["test_accuracy"]),
            "seconds": time.perf_counter() - start,
        }
        print(
            f"chainrule: test error {results['chainrule']['test_error_pct']:.2f}%  "
            f"{results['chainrule']['seconds']:.1f} s  "
            f"({results['chainrule']['seconds'] / results['torch']['seconds']:.2f}x "
            "PyTorch's time)"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
