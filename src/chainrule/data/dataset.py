"""Datasets: what a ``DataLoader`` draws examples from, and the ``Splits`` container.

A dataset is anything with ``len(ds)`` and ``ds[i] -> (x, y)`` (the same protocol as
PyTorch's map-style datasets), so users can wrap their own storage. ``ArrayDataset`` is
the common case — two in-memory NumPy arrays — and the loader recognises it to cut a whole
batch with one fancy index instead of ``batch_size`` Python calls.

``ArrayDataset`` refuses NaN and infinity up front: one bad pixel turns every weight into
NaN a few steps later, and by then nothing points back at the row that caused it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Dataset(Protocol):
    """The map-style dataset protocol: ``len(ds)`` examples, ``ds[i] -> (x, y)``."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> tuple[Any, Any]: ...


def _first_non_finite(a: np.ndarray) -> tuple[int, ...] | None:
    """Index of the first NaN/inf in ``a`` (row-major order), or None if all are finite."""
    if a.dtype.kind not in "fc":
        return None  # integers and booleans cannot hold NaN or inf
    bad = ~np.isfinite(a)
    if not bad.any():
        return None
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), a.shape))


def _where(index: tuple[int, ...]) -> str:
    if len(index) == 1:
        return f"row {index[0]}"
    if len(index) == 2:
        return f"row {index[0]}, column {index[1]}"
    return f"row {index[0]}, position {index[1:]}"


def check_finite(a: np.ndarray, what: str) -> None:
    """Raise ``ValueError`` naming the row/column of the first NaN or inf in ``a``."""
    index = _first_non_finite(a)
    if index is not None:
        raise ValueError(f"{what} has a non-finite value ({a[index]}) at {_where(index)} (0-based)")


class ArrayDataset:
    """Examples held as two arrays: ``X[i]`` is the input, ``y[i]`` its target.

    Both keep their dtype (the loaders already return float32 features and int64 labels).
    ``X`` must have at least one dimension and be numeric and finite; ``y`` must have the
    same length.
    """

    def __init__(self, X, y):
        X = np.asarray(X)
        y = np.asarray(y)
        if X.ndim == 0 or y.ndim == 0:
            raise ValueError("ArrayDataset: X and y must be arrays with one row per example")
        if X.dtype.kind not in "biufc":
            raise ValueError(f"ArrayDataset: X must be numeric, got dtype {X.dtype}")
        if len(X) != len(y):
            raise ValueError(f"ArrayDataset: X has {len(X)} rows but y has {len(y)}")
        check_finite(X, "ArrayDataset: X")
        check_finite(y, "ArrayDataset: y")
        self.X = X
        self.y = y

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, index):
        return self.X[index], self.y[index]

    def __repr__(self) -> str:
        return f"ArrayDataset(X: {self.X.shape} {self.X.dtype}, y: {self.y.shape} {self.y.dtype})"


@dataclass(eq=False)  # arrays have no single truth value; compare fields explicitly
class Splits:
    """A data set ready for training: a train and a test split plus what a model needs.

    ``task`` is ``"classification"`` (``y`` holds int64 class indices ``0..n_classes-1``)
    or ``"regression"`` (``y`` holds float32 targets, shape ``(n,)``, and ``n_classes`` is
    0). ``classes[i]`` is the original label of class ``i`` (a string or number from the
    source), kept so predictions can be mapped back; None when the indices are the labels.
    ``X_test``/``y_test`` may have zero rows (a CSV loaded with ``test_fraction=0``).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    n_features: int
    name: str
    task: str
    classes: list | None = None

    def __post_init__(self):
        if self.task not in ("classification", "regression"):
            raise ValueError(
                f"Splits: task must be 'classification' or 'regression', got {self.task!r}"
            )

    @property
    def n_outputs(self) -> int:
        """Width of the model's last layer: one logit per class, or one per target."""
        if self.task == "classification":
            return self.n_classes
        return 1 if self.y_train.ndim == 1 else int(self.y_train.shape[1])

    def __repr__(self) -> str:
        return (
            f"Splits(name={self.name!r}, task={self.task!r}, train={self.X_train.shape}, "
            f"test={self.X_test.shape}, n_features={self.n_features}, "
            f"n_classes={self.n_classes})"
        )
