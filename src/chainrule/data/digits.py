"""digits: the 8x8 handwritten digits that ship inside chainrule (works offline).

1797 images of the digits 0-9, 64 pixel features (counts 0..16 of "on" pixels in 4x4 blocks
of a 32x32 bitmap). Small enough to train an MLP in a second, hard enough that the choice
of model shows — which is why ``chainrule train`` uses it by default.

The fixed split is stratified, 20 % test, seed 0: 1438 train and 359 test images, the same
on every machine and every version, so test accuracies are comparable across runs. Pixels
are divided by 16 into [0, 1] float32; labels are int64.

Attribution: the UCI ML hand-written digits data set (E. Alpaydin and C. Kaynak, test set
of "Optical Recognition of Handwritten Digits", UCI Machine Learning Repository, CC BY 4.0),
copied unmodified from scikit-learn's bundled ``sklearn/datasets/data/digits.csv.gz``
(scikit-learn, BSD 3-Clause licence). See ``DIGITS_LICENSE.txt`` next to this module.
"""

from __future__ import annotations

import gzip
from importlib import resources

import numpy as np

from chainrule.data.dataset import Splits
from chainrule.data.split import split_indices

TEST_FRACTION = 0.2
SPLIT_SEED = 0


def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 examples in file order: ``X`` (1797, 64) float64 counts 0..16, ``y`` int64."""
    with (
        resources.files(__package__).joinpath("digits.csv.gz").open("rb") as f,
        gzip.open(f) as text,
    ):
        table = np.loadtxt(text, delimiter=",")
    return table[:, :-1], table[:, -1].astype(np.int64)


def load_digits() -> Splits:
    """The digits data set with its fixed stratified 80/20 train/test split (seed 0)."""
    counts, y = read_digits()
    X = (counts / 16.0).astype(np.float32)
    train, test = split_indices(y, TEST_FRACTION, SPLIT_SEED, stratify=True, what="test")
    return Splits(
        X_train=X[train],
        y_train=y[train],
        X_test=X[test],
        y_test=y[test],
        n_classes=10,
        n_features=X.shape[1],
        name="digits",
        task="classification",
    )
