"""The lecture: "Constant value also bad idea: Need to break symmetry."

Every weight starts at 0.1: all hidden units compute the same function, get the same
gradient and take the same step, forever — the layer works like a single unit.

    python examples/lecture_warnings/constant_init.py [RUN_DIR]
"""

import sys

import chainrule as cr
from chainrule.data import make_blobs
from chainrule.diagnostics import GradientFlowMonitor, diagnose
from chainrule.train import MetricsLogger, fit


def main(run_dir="runs/warn-constant-init", epochs=4):
    X, y = make_blobs(512, n_features=16, centers=4, seed=0)
    cr.manual_seed(0)
    model = cr.nn.MLP([16, 32, 32, 4], activation="tanh", init="constant:0.1")
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
