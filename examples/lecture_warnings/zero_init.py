"""The lecture: "Zero is a very bad idea! Zero is a critical point. Error signal will not
propagate. Gradients will be zero: no progress."

An MLP whose weights all start at 0: the hidden layers receive an exactly zero gradient
at every step, and their units stay identical. The monitor records it and ``diagnose``
says so.

    python examples/lecture_warnings/zero_init.py [RUN_DIR]
"""

import sys

import chainrule as cr
from chainrule.data import make_blobs
from chainrule.diagnostics import GradientFlowMonitor, diagnose
from chainrule.train import MetricsLogger, fit


def main(run_dir="runs/warn-zero-init", epochs=4):
    X, y = make_blobs(512, n_features=16, centers=4, seed=0)
    cr.manual_seed(0)
    model = cr.nn.MLP([16, 32, 32, 4], activation="tanh", init="zeros")
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    callbacks = [GradientFlowMonitor(every=4), MetricsLogger(f"{run_dir}/metrics.jsonl")]
    fit(
        model,
        cr.nn.functional.cross_entropy,
        optimizer,
        (X, y),
        epochs,
        callbacks=callbacks,
        run_dir=run_dir,
    )
    return diagnose(run_dir)


if __name__ == "__main__":
    print(main(*sys.argv[1:2]))
