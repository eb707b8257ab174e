"""The cure for deep_sigmoid.py: the same ten layers with ReLU and He initialization.

He init draws W ~ N(0, 2/fan_in), which keeps the variance of the pre-activations (and
of the error signal on its way back) the same from layer to layer, and ReLU' = 1 on the
active half, so gradients reach layer 1 at full strength: ``diagnose`` finds it healthy.

    python examples/lecture_warnings/deep_relu_he.py [RUN_DIR]
"""

import sys

import chainrule as cr
from chainrule.data import make_blobs
from chainrule.diagnostics import GradientFlowMonitor, diagnose
from chainrule.train import MetricsLogger, fit


def main(run_dir="runs/warn-deep-relu-he", epochs=4):
    X, y = make_blobs(512, n_features=16, centers=4, seed=0)
    cr.manual_seed(0)
    model = cr.nn.MLP([16] + [32] * 10 + [4], activation="relu", init="he")
    optimizer = cr.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
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
