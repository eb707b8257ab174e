"""Why weights must start random: zero is a critical point, a constant never breaks symmetry.

A tanh MLP 2 -> 8 -> 2 on the two-moons data (60% / 40% classes), trained with full-batch
SGD from three starting points. Run: python examples/init_symmetry.py
"""

import numpy as np

import chainrule as cr
from chainrule.data import make_moons

X, y = make_moons(250, noise=0.1, seed=0)
keep = (y == 0) | (np.cumsum(y == 1) <= 84)  # all 125 of class 0, 84 of class 1
X, y = X[keep], y[keep]


def train(init, steps=300, lr=0.5):
    """Train from ``init``; return the gradients at the start and the final state."""
    cr.manual_seed(0)
    model = cr.nn.MLP([2, 8, 2], activation="tanh", init=init, dtype="float64")
    opt = cr.optim.SGD(model.parameters(), lr=lr)
    x = cr.tensor(X, dtype="float64")
    for step in range(steps):
        loss = cr.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        if step == 0:
            first = {n: np.linalg.norm(p.grad.numpy()) for n, p in model.named_parameters()}
        opt.step()
    W1 = model.linears[0].weight.numpy()  # row j: the input weights of hidden unit j
    accuracy = (model(x).numpy().argmax(axis=1) == y).mean()
    return {
        "first_grad_norms": first,
        "loss": loss.item(),
        "accuracy": accuracy,
        "unit_spread": np.abs(W1 - W1[0]).max(),  # 0 <=> every hidden unit is the same
        "W1": W1,
    }


def main():
    runs = {name: train(name) for name in ("zeros", "constant:0.5", "normal:0.5")}
    print("gradient norms at step 0 (‖∂L/∂θ‖):")
    names = list(runs["zeros"]["first_grad_norms"])
    print(f"  {'init':<14}" + "".join(f"{n:>17}" for n in names))
    for init, r in runs.items():
        print(f"  {init:<14}" + "".join(f"{r['first_grad_norms'][n]:>17.3e}" for n in names))
    print("\nafter 300 SGD steps:")
    print(f"  {'init':<14}{'loss':>8}{'accuracy':>10}   max |W1[j] - W1[0]| over hidden units j")
    for init, r in runs.items():
        print(f"  {init:<14}{r['loss']:>8.4f}{r['accuracy']:>10.1%}   {r['unit_spread']:.3e}")
    print(
        "\nzeros: W1 = 0 and W2 = 0 make every hidden unit output tanh(0) = 0, so ∂L/∂W2 = δ·hᵀ"
        "\n  = 0 and ∂L/∂h = W2ᵀδ = 0: only the output bias moves. A critical point: the model"
        "\n  learns the class frequencies (60%) and nothing else."
        "\nconstant: every hidden unit computes the same function and receives the same"
        "\n  gradient, so they stay identical forever: 8 units are worth 1."
        "\nrandom N(0, 0.5²): the units start different, specialise, and separate the moons."
    )


if __name__ == "__main__":
    main()
