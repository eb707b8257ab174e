"""When the loss turns into NaN: let anomaly mode name the op and the line that made it.

A hand-written cross-entropy ``-(onehot * log(softmax(z))).sum()`` is fine until a
softmax probability underflows to 0: log(0) = -inf, and 0 · (-inf) = NaN. The NaN
reaches the loss without a word; ``cr.detect_anomaly()`` stops at the first op that made
a non-finite value and prints where it was called.

    python examples/lecture_warnings/find_the_nan.py
"""

import numpy as np

import chainrule as cr
from chainrule.diagnostics import detect_anomaly


def naive_cross_entropy(logits, onehot):
    probs = logits.softmax(axis=-1)
    return -(onehot * probs.log()).sum() / len(onehot)


def main():
    logits = cr.tensor(np.array([[0.0, 200.0, -900.0]]), requires_grad=True)  # a confident net
    onehot = cr.tensor(np.array([[0.0, 1.0, 0.0]]))
    with np.errstate(all="ignore"):
        print("without anomaly mode, loss =", naive_cross_entropy(logits, onehot).item())
        try:
            with detect_anomaly():
                naive_cross_entropy(logits, onehot).backward()
        except FloatingPointError as e:
            print(e)
            return e
    return None


if __name__ == "__main__":
    main()
