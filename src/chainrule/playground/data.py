"""The page's data: 2-D points, the feature columns the network sees, the train/test split.

A state's data is built in three steps, each one shared with the export so that
``chainrule train`` sees exactly the rows the page trained on:

1. ``raw_points(state)``: the points in the plane ``P`` (n, 2), their targets and the task,
   from ``chainrule.data``'s generators or an uploaded CSV (read by ``load_csv``, so a bad
   file gets the command line's one-line error).
2. ``feature_matrix(P, features)``: the network's inputs, one column per toggled feature
   (x₁, x₂, x₁², x₂², x₁x₂, sin x₁, sin x₂), computed in float64 and stored as float32.
3. ``split``: the rows held out for testing, chosen by ``split_indices(y, test, 0,
   stratify)`` — the very call ``load_csv`` makes with the same fraction — so the exported
   CSV, read back by ``chainrule train``, is split the same way.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chainrule.data import csv_files, synthetic
from chainrule.data.dataset import Splits
from chainrule.data.split import split_indices
from chainrule.playground.state import task_of

FEATURE_FUNCTIONS = {
    "x1": lambda P: P[:, 0],
    "x2": lambda P: P[:, 1],
    "x1^2": lambda P: P[:, 0] ** 2,
    "x2^2": lambda P: P[:, 1] ** 2,
    "x1*x2": lambda P: P[:, 0] * P[:, 1],
    "sin(x1)": lambda P: np.sin(P[:, 0]),
    "sin(x2)": lambda P: np.sin(P[:, 1]),
}
SPLIT_SEED = 0  # load_csv's default split seed: the exported CSV is split with it too
BLOB_CENTRES = np.array([[-0.7, -0.7], [0.7, 0.7]])
BLOB_SPREAD = 0.25  # blobs: standard deviation 0.25 + noise around each centre


@dataclass
class PageData:
    """Everything the session needs about its data."""

    points: np.ndarray  # (n, 2) float64 raw coordinates in the plane
    targets: np.ndarray  # (n,) int64 classes or float32 values
    task: str
    features: list
    train: np.ndarray  # row indices, in the order training sees them
    test: np.ndarray
    splits: Splits
    axis_names: tuple = ("x₁", "x₂")
    classes: list | None = None

    @property
    def n_classes(self) -> int:
        return self.splits.n_classes


def raw_points(state: dict, uploads=None):
    """``(P, y, task, axis_names, classes)`` for the state's data set (see module doc)."""
    n, noise, seed, kind = state["n"], state["noise"], state["seed"], state["data"]
    if kind == "csv":
        return _csv_points(state, uploads)
    if kind == "blobs":
        P, y = synthetic.make_blobs(n, BLOB_SPREAD + noise, seed, centers=BLOB_CENTRES)
    elif kind == "plane":
        P, y = synthetic.make_plane(n, noise, seed)
    elif kind == "gaussians":
        P, y = synthetic.make_gaussian_surface(n, noise, seed)
    else:
        P, y = synthetic.GENERATORS[kind](n_samples=n, noise=noise, seed=seed)
    return P.astype(np.float64), y, task_of(state), ("x₁", "x₂"), None


def _csv_points(state, uploads):
    path = uploads.path(state["upload"]) if uploads is not None else None
    if path is None:
        raise ValueError(
            f"playground: upload {state['upload']!r} is not on this server (upload the CSV "
            "again: files live only as long as the server)"
        )
    names = read_header(path)
    n_columns = len(names)
    label = state["label"] % n_columns
    splits = csv_files.load_csv(path, label=label, test_fraction=0)
    feature_cols = [j for j in range(n_columns) if j != label]
    for key in ("cx", "cy"):
        if state[key] not in feature_cols:
            raise ValueError(
                f"playground: {key} must be a feature column of {path.name} "
                f"(0..{n_columns - 1} without the label column {label}), got {state[key]}"
            )
    P = splits.X_train[:, [feature_cols.index(state["cx"]), feature_cols.index(state["cy"])]]
    axis = (names[state["cx"]], names[state["cy"]])
    return P.astype(np.float64), splits.y_train, splits.task, axis, splits.classes


def read_header(path: Path) -> list[str]:
    """Column names: the header's fields, or ``column 1..k`` when the first row holds
    numbers (``load_csv``'s rule for ``header="infer"``)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        first = next(csv.reader(f), [])
    fields = [field.strip() for field in first]
    if any(csv_files.is_number(field) for field in fields):
        return [f"column {j + 1}" for j in range(len(fields))]
    return fields


def feature_matrix(P: np.ndarray, features) -> np.ndarray:
    """The network's inputs for points ``P``: one float32 column per feature."""
    return np.stack([FEATURE_FUNCTIONS[f](P) for f in features], axis=1).astype(np.float32)


def build(state: dict, uploads=None) -> PageData:
    """The state's data, features and split (see module doc)."""
    P, y, task, axis, classes = raw_points(state, uploads)
    X = feature_matrix(P, state["features"])
    classify = task == "classification"
    train, test = split_indices(y, state["test"], SPLIT_SEED, stratify=classify, what="test")
    n_classes = int(y.max()) + 1 if classify else 0
    if classify and n_classes < 2:
        raise ValueError("playground: the labels hold a single class; nothing to classify")
    splits = Splits(
        X_train=X[train],
        y_train=y[train],
        X_test=X[test],
        y_test=y[test],
        n_classes=n_classes,
        n_features=X.shape[1],
        name=state["data"],
        task=task,
        classes=classes,
    )
    return PageData(P, y, task, list(state["features"]), train, test, splits, axis, classes)


def csv_text(data: PageData) -> str:
    """All rows as CSV (feature columns, then the label), with every float32 written so it
    reads back bit for bit; ``load_csv`` with the page's test fraction splits it as the
    page did."""
    X = feature_matrix(data.points, data.features)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*data.features, "label"])
    for row, target in zip(X, data.targets):
        label = int(target) if data.task == "classification" else repr(float(target))
        writer.writerow([repr(float(v)) for v in row] + [label])
    return out.getvalue()


class Uploads:
    """Uploaded CSV files, kept in a private temporary folder for the server's lifetime.

    Each upload is checked with ``load_csv`` before it is kept, so a malformed file is
    refused with the command line's message (the temporary folder's path replaced by the
    uploaded name).
    """

    def __init__(self, root, max_bytes: int = 2_000_000, max_files: int = 32):
        self.root = Path(root)
        self.max_bytes, self.max_files = max_bytes, max_files
        self._paths = {}

    def add(self, name: str, body: bytes) -> dict:
        if len(body) > self.max_bytes:
            raise ValueError(
                f"upload: {name} is {len(body):,} bytes; the limit is {self.max_bytes:,}"
            )
        if len(self._paths) >= self.max_files:
            raise ValueError(f"upload: at most {self.max_files} files per server")
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(name).name)
        if not safe.lower().endswith((".csv", ".csv.gz")):
            safe += ".csv"
        upload_id = os.urandom(6).hex()
        folder = self.root / upload_id
        folder.mkdir(mode=0o700)
        path = folder / safe
        path.write_bytes(body)
        try:
            splits = csv_files.load_csv(path, test_fraction=0)
            columns = read_header(path)
        except (ValueError, OSError, StopIteration) as e:
            path.unlink()
            folder.rmdir()
            raise ValueError(str(e).replace(str(path), safe)) from None
        if len(columns) < 3:
            path.unlink()
            folder.rmdir()
            raise ValueError(
                f"{safe}: need two numeric feature columns and a label column, "
                f"found {len(columns)} columns"
            )
        self._paths[upload_id] = path
        return {
            "id": upload_id,
            "name": safe,
            "columns": columns,
            "rows": len(splits.y_train),
            "task": splits.task,
        }

    def path(self, upload_id: str) -> Path | None:
        return self._paths.get(upload_id)
