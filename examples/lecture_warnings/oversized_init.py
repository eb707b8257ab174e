"""The lecture: "Ideally we want inputs to activation functions to be mostly in the linear
area to allow larger gradients to propagate."

Initial weights that are far too large, two ways:

* tanh with N(0, 3²) weights: almost every unit sits at ±1, where tanh' ≈ 0 (saturation);
* ReLU with N(0, 1) weights (He would be N(0, 2/32)): each layer multiplies the spread of
  the pre-activations by about 4, so after ten layers they are ~10⁶ times larger
  (exploding activations), and the loss overflows.

    python examples/lecture_warnings/oversized_init.py [RUN_DIR]
"""

import sys

import chainrule as cr
from chainrule.data import make_blobs
from chainrule.diagnostics import GradientFlowMonitor, diagnose
from chainrule.train import MetricsLogger, NaNGuard, fit


def main(run_dir="runs/warn-oversized-init", epochs=4, activation="tanh", init="normal:3.0"):
    X, y = make_blobs(512, n_features=16, centers=4, seed=0)
    cr.manual_seed(0)
    model = cr.nn.MLP([16] + [32] * 10 + [4], activation=activation, init=init)
    optimizer = cr.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    callbacks = [
        GradientFlowMonitor(every=4),
        MetricsLogger(f"{run_dir}/metrics.jsonl"),
        NaNGuard(),
    ]
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
    run_dir = sys.argv[1] if len(sys.argv) > 1 else "runs/warn-oversized-init"
    print(main(run_dir + "-tanh"))
    print()
    print(main(run_dir + "-relu", activation="relu", init="normal:1.0"))
