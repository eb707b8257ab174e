"""DataLoader: minibatches of NumPy arrays, reproducible shuffles, exact mid-epoch resume.

Each ``iter(loader)`` is one epoch. With ``shuffle=True`` the epoch draws one permutation
from the loader's generator at its start; the batches are consecutive slices of it. That
single draw per epoch is what makes resuming exact: a checkpoint only has to remember the
generator state *at the start of the epoch in progress* and how many batches were already
handed out. Restoring it re-draws the same permutation, skips the batches already seen, and
leaves the generator exactly where an uninterrupted run would have it for the next epoch.

Typical training loop (``loader.epoch`` counts completed epochs, so it survives a resume)::

    loader = DataLoader(ArrayDataset(X, y), batch_size=64, shuffle=True, rng=0)
    if checkpoint:
        loader.load_state_dict(checkpoint["loader"])
    for epoch in range(loader.epoch, n_epochs):
        for xb, yb in loader:            # after a resume: the rest of the interrupted epoch
            ...
            checkpoint["loader"] = loader.state_dict()   # JSON-serialisable
"""

from __future__ import annotations

import math

import numpy as np

from chainrule.data.dataset import ArrayDataset, Dataset
from chainrule.data.seeding import as_generator, generator_state, set_generator_state

_STATE_VERSION = 1


class DataLoader:
    """Iterate over ``dataset`` in minibatches ``(xb, yb)`` of NumPy arrays.

    Args:
        dataset: an ``ArrayDataset`` (fast path: one fancy index per batch) or any object
            with ``len()`` and ``[i] -> (x, y)`` (examples are stacked with ``np.stack``).
        batch_size: examples per batch; the last batch is smaller unless ``drop_last``.
        shuffle: draw a new permutation at the start of every epoch.
        drop_last: skip the final incomplete batch (keeps batch statistics uniform).
        rng: an int seed, a ``numpy.random.Generator`` (used and advanced in place; give
            the loader its own if you want exact resume), or None for OS entropy.

    ``len(loader)`` is the number of batches per epoch. A new ``iter()`` always starts a new
    epoch, except right after ``load_state_dict``, when it finishes the saved one.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int = 32,
        shuffle: bool = False,
        drop_last: bool = False,
        rng=None,
    ):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(dataset, Dataset):
            raise ValueError("DataLoader: dataset must support len() and [i] -> (x, y)")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self._rng = as_generator(rng)
        self.epoch = 0  # epochs run to completion
        self._epoch_start_state: dict | None = None  # set while an epoch is in progress
        self._batches_yielded = 0
        self._resume_skip: int | None = None  # batches to skip in the next epoch
        self._run = 0  # id of the newest iterator: only it may update the state

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        self._run += 1
        return self._iterate_epoch(self._run)

    def _iterate_epoch(self, run: int):
        n = len(self.dataset)
        n_batches = len(self)
        skip = 0
        if run == self._run:
            skip, self._resume_skip = self._resume_skip or 0, None
            self._epoch_start_state = generator_state(self._rng)
            self._batches_yielded = skip
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        for b in range(skip, n_batches):
            index = order[b * self.batch_size : (b + 1) * self.batch_size]
            batch = self._fetch(index)
            if run == self._run:
                self._batches_yielded = b + 1  # counted before the consumer sees the batch
            yield batch
        if run == self._run:
            self._epoch_start_state = None
            self._batches_yielded = 0
            self.epoch += 1

    def _fetch(self, index: np.ndarray):
        # the fast path only when __getitem__ is ArrayDataset's own: a subclass that augments
        # or transforms examples in __getitem__ must be called example by example
        if type(self.dataset).__getitem__ is ArrayDataset.__getitem__:
            return self.dataset.X[index], self.dataset.y[index]
        xs, ys = zip(*(self.dataset[int(i)] for i in index))
        return np.stack(xs), np.stack(ys)

    def state_dict(self) -> dict:
        """Where the loader stands, as plain JSON types.

        ``rng_state`` is the generator state at the start of the epoch in progress (or the
        current state between epochs) and ``batches_yielded`` how many batches of that epoch
        were already handed out; the rest lets ``load_state_dict`` refuse a different setup.
        """
        if self._epoch_start_state is not None:  # an epoch is in progress
            rng_state, done = self._epoch_start_state, self._batches_yielded
        else:  # between epochs, or restored and not yet iterated
            rng_state, done = generator_state(self._rng), self._resume_skip or 0
        return {
            "version": _STATE_VERSION,
            "epoch": self.epoch,
            "batches_yielded": done,
            "rng_state": rng_state,
            "num_samples": len(self.dataset),
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state``: the next ``iter()`` yields the rest of the saved epoch
        (same permutation, from the next batch on) and later epochs match an uninterrupted
        run. The data set size and batching options must be the ones that were saved."""
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"DataLoader state: unsupported version {state.get('version')!r}")
        current = {
            "num_samples": len(self.dataset),
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
        }
        for key, value in current.items():
            if state.get(key) != value:
                raise ValueError(
                    f"DataLoader state was saved with {key}={state.get(key)!r}, "
                    f"but this loader has {key}={value!r}"
                )
        skip = int(state["batches_yielded"])
        if not 0 <= skip <= len(self):
            raise ValueError(f"DataLoader state: batches_yielded={skip} out of range")
        self._rng = set_generator_state(self._rng, state["rng_state"])
        self.epoch = int(state["epoch"])
        self._epoch_start_state = None
        self._batches_yielded = 0
        self._resume_skip = skip
        self._run += 1  # iterators made before the restore no longer touch the state

    def __repr__(self) -> str:
        return (
            f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last})"
        )
