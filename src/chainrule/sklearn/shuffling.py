"""sklearn's minibatch order: the same ``random_state`` gives the same batches.

sklearn's stochastic solvers shuffle once per epoch with the estimator's RandomState,
*after* drawing the initial weights (and the early-stopping split) from it::

    perm = arange(n); random_state.shuffle(perm); sample_idx = sample_idx[perm]

and then take consecutive slices of ``batch_size`` rows of ``sample_idx``. Doing the same
here (with chainrule's ``DataLoader`` iterating in order over the reordered rows) makes a
float64 fit follow sklearn's to rounding with ``shuffle=True`` too, so the two libraries
differ only in arithmetic, not in the luck of the draw.
"""

from __future__ import annotations

import numpy as np

from chainrule.train.callbacks import Callback


class PermutedRows:
    """The rows of ``base`` in ``order``, gathered only when indexed.

    What the DataLoader reads as ``dataset.X[index]`` (one gather per batch, as with its
    own shuffling), without copying the whole array every epoch.
    """

    __slots__ = ("base", "order")

    def __init__(self, base, order):
        self.base = base
        self.order = order

    def __len__(self):
        return len(self.order)

    def __getitem__(self, index):
        return self.base[self.order[index]]

    @property
    def shape(self):
        return (len(self.order), *self.base.shape[1:])

    @property
    def dtype(self):
        return self.base.dtype

    @property
    def ndim(self):
        return self.base.ndim

    def __array__(self, dtype=None, copy=None):
        rows = self.base[self.order]
        return rows if dtype is None else rows.astype(dtype)


class SklearnShuffle(Callback):
    """Before every epoch, reorder the rows of an ``ArrayDataset`` as sklearn does (the
    loader itself runs with ``shuffle=False``)."""

    def __init__(self, dataset, random_state):
        self.dataset = dataset
        self.X, self.y = dataset.X, dataset.y
        self.random_state = random_state
        self.order = np.arange(self.X.shape[0])  # len() is undefined for sparse X

    def on_epoch_begin(self, trainer, epoch):
        perm = np.arange(len(self.order))
        self.random_state.shuffle(perm)  # sklearn.utils.shuffle(sample_idx, random_state)
        self.order = self.order[perm]
        self.dataset.X = PermutedRows(self.X, self.order)
        self.dataset.y = PermutedRows(self.y, self.order)

    def on_train_end(self, trainer):
        self.dataset.X, self.dataset.y = self.X, self.y
