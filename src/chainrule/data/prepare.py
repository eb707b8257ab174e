"""Splits made ready for a model: validation rows held out, features standardized with the
training statistics and cast; and new inputs prepared the same way later.

``prepare_data`` returns the arrays plus ``state``, the facts a checkpoint keeps so that
``prepare_inputs`` can treat rows seen months later exactly as the training rows were
treated (feature count, standardizer statistics, task, class names).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chainrule.data.dataset import Splits, check_finite
from chainrule.data.split import train_val_split
from chainrule.data.standardize import Standardizer


@dataclass
class PreparedData:
    """Arrays ready for the model (standardized, cast) plus what a checkpoint must remember
    to prepare new inputs the same way (``state``)."""

    train: tuple
    val: tuple | None
    test: tuple
    n_features: int
    n_outputs: int
    task: str
    classes: list | None
    state: dict  # {"data", "task", "n_features", "n_outputs", "classes", "standardizer"}


def prepare_data(
    splits: Splits,
    *,
    val_split: float = 0.0,
    standardize: bool = True,
    seed=0,
    dtype="float32",
) -> PreparedData:
    """Hold out ``val_split`` of the training rows (stratified for classification, drawn
    with ``seed``), standardize with the remaining training rows' statistics
    (``z = (x − μ_train) / σ_train``), and cast features (and regression targets) to
    ``dtype``. Class labels stay integers."""
    dtype = np.dtype(dtype)
    classify = splits.task == "classification"
    X, y = splits.X_train, splits.y_train
    if val_split > 0:
        X, X_val, y, y_val = train_val_split(X, y, val_split, rng=seed, stratify=classify)
    standardizer = Standardizer().fit(X) if standardize else None

    def ready(features):
        features = standardizer.transform(features) if standardizer else features
        return np.ascontiguousarray(features, dtype=dtype)

    def targets(t):
        return t if classify else np.asarray(t, dtype=dtype)

    val = (ready(X_val), targets(y_val)) if val_split > 0 else None
    classes = None if splits.classes is None else [_plain(c) for c in splits.classes]
    state = {
        "data": splits.name,
        "task": splits.task,
        "n_features": int(splits.n_features),
        "n_outputs": int(splits.n_outputs),
        "classes": classes,
        "standardizer": standardizer.state_dict() if standardizer else None,
    }
    return PreparedData(
        train=(ready(X), targets(y)),
        val=val,
        test=(ready(splits.X_test), targets(splits.y_test)),
        n_features=int(splits.n_features),
        n_outputs=int(splits.n_outputs),
        task=splits.task,
        classes=classes,
        state=state,
    )


def _plain(value):
    """A NumPy scalar class name as the Python value JSON can hold."""
    return value.item() if isinstance(value, np.generic) else value


def prepare_inputs(X, data_state: dict, dtype) -> np.ndarray:
    """New feature rows prepared as the training rows were (for evaluate/predict)."""
    X = np.asarray(X)
    n = data_state["n_features"]
    if X.ndim != 2 or X.shape[1] != n:
        raise ValueError(f"expected inputs with {n} features, got shape {X.shape}")
    check_finite(X, "inputs")
    if data_state.get("standardizer"):
        standardizer = Standardizer()
        standardizer.load_state_dict(data_state["standardizer"])
        X = standardizer.transform(X)
    return np.ascontiguousarray(X, dtype=dtype)


__all__ = ["PreparedData", "prepare_data", "prepare_inputs"]
