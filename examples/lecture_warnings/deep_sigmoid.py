"""The lecture: "Vanishing gradients: in the backward pass you might be in the flat part
of the sigmoid, so the derivative tends to zero and your training loss will not go down."

Ten sigmoid layers with N(0, 1) weights: pre-activations spread far into the flat tails
(saturation), and each layer multiplies the error signal δ_k = W_kᵀ δ_{k+1} ⊙ σ'(a_k) by
σ' ≤ 1/4, so layer 1's gradient is a small fraction of layer 11's.

    python examples/lecture_warnings/deep_sigmoid.py [RUN_DIR]
"""

import sys

import chainrule as cr
from chainrule.data import make_blobs
from chainrule.diagnostics import GradientFlowMonitor, diagnose
from chainrule.train import MetricsLogger, fit


def main(run_dir="runs/warn-deep-sigmoid", epochs=4, activation="sigmoid", init="normal:1.0"):
    X, y = make_blobs(512, n_features=16, centers=4, seed=0)
    cr.manual_seed(0)
    model = cr.nn.MLP([16] + [32] * 10 + [4], activation=activation, init=init)
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
