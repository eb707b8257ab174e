"""CSV files: numeric feature columns plus one label column, gzip or plain text.

Real CSVs are messy, and a bad cell found late is found far from its cause, so parsing is
strict and every complaint names the file, the 1-based line number and the column (number
and, with a header, name): a string in a feature column, an empty cell, ``nan``/``inf``, or
a row with the wrong number of fields.

Labels may be strings (``"setosa"``) or numbers. For classification they are mapped to
class indices ``0..k-1`` in sorted order and the mapping is kept in ``Splits.classes``
(``classes[i]`` is the original label of class ``i``). With ``task="auto"`` the task is
classification when every label is a string or an integer-valued number (scikit-learn's
rule), else regression; pass ``task="regression"`` for integer-valued targets.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from chainrule.data.dataset import Splits
from chainrule.data.idx import decompress_if_gzip
from chainrule.data.split import split_indices

TASKS = ("auto", "classification", "regression")


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_rows(path: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    """Non-blank records as ``(first line number, stripped fields)``."""
    with open(path, "rb") as f:
        raw = decompress_if_gzip(f.read(), os.fspath(path))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text (byte {e.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows, last_line = [], 0
    try:
        for fields in reader:
            first_line, last_line = last_line + 1, reader.line_num
            fields = [field.strip() for field in fields]
            if any(fields):
                rows.append((first_line, fields))
    except csv.Error as e:
        raise ValueError(f"{path}: line {reader.line_num}: {e}") from None
    return rows


def _label_index(label, names: list[str] | None, n_columns: int, path: Path) -> int:
    if isinstance(label, str):
        if names is not None and label in names:
            return names.index(label)
        try:
            label = int(label)  # "-1" from a command line
        except ValueError:
            columns = ", ".join(names) if names else "none: the file has no header"
            raise ValueError(
                f"{path}: no label column named {label!r} (columns: {columns})"
            ) from None
    if isinstance(label, bool) or not isinstance(label, int) or not -n_columns <= label < n_columns:
        raise ValueError(f"{path}: label column {label!r} out of range for {n_columns} columns")
    return label % n_columns


def _column(j: int, names: list[str] | None) -> str:
    return f"column {j + 1} ({names[j]!r})" if names else f"column {j + 1}"


def _encode_labels(labels, lines, task, path):
    """``(y, task, classes)`` from the label strings."""
    numeric = all(is_number(s) for s in labels)
    values = [float(s) for s in labels] if numeric else None
    if task == "auto":
        integral = numeric and all(v.is_integer() for v in values)
        task = "classification" if (not numeric or integral) else "regression"
    if task == "regression":
        if not numeric:
            i = next(i for i, s in enumerate(labels) if not is_number(s))
            raise ValueError(
                f"{path}: line {lines[i]}: regression label {labels[i]!r} is not a number"
            )
        y = np.asarray(values, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(y))
        if len(bad):
            raise ValueError(
                f"{path}: line {lines[bad[0]]}: label {labels[bad[0]]!r} is not finite"
            )
        return y.astype(np.float32), task, None
    if numeric:
        keys = [int(v) if v.is_integer() else v for v in values]
    else:
        keys = list(labels)
    classes = sorted(set(keys))
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[k] for k in keys], dtype=np.int64), task, classes


def load_csv(
    path,
    label=-1,
    header="infer",
    delimiter: str = ",",
    task: str = "auto",
    test_fraction: float = 0.2,
    seed=0,
    name: str | None = None,
) -> Splits:
    """Load a CSV of numeric features and one label column into train/test ``Splits``.

    Args:
        path: a ``.csv`` file, optionally gzip-compressed.
        label: the label column, by index (negative counts from the end) or header name.
        header: True, False, or ``"infer"``: the first row is a header when none of its
            fields is a number.
        delimiter: the field separator.
        task: ``"classification"``, ``"regression"`` or ``"auto"`` (see module docstring).
        test_fraction: share of rows held out as the test split (stratified for
            classification); 0 keeps every row for training and leaves the test split empty.
        seed: int seed (or Generator) of that split.
        name: the ``Splits.name``; defaults to the file name without extensions.
    """
    path = Path(path).expanduser()
    if task not in TASKS:
        raise ValueError(f"load_csv: task must be one of {', '.join(TASKS)}, got {task!r}")
    if header not in (True, False, "infer"):
        raise ValueError(f"load_csv: header must be True, False or 'infer', got {header!r}")
    if not path.is_file():
        raise FileNotFoundError(f"CSV file not found: {path}")
    rows = _read_rows(path, delimiter)
    if not rows:
        raise ValueError(f"{path}: no data rows")

    if header == "infer":
        header = not any(is_number(field) for field in rows[0][1])
    names = rows.pop(0)[1] if header else None
    if not rows:
        raise ValueError(f"{path}: no data rows after the header")
    n_columns = len(names) if names else len(rows[0][1])
    if n_columns < 2:
        raise ValueError(f"{path}: need at least one feature column and a label column")
    label_col = _label_index(label, names, n_columns, path)
    feature_cols = [j for j in range(n_columns) if j != label_col]

    features, labels, lines = [], [], []
    for line, fields in rows:
        if len(fields) != n_columns:
            raise ValueError(
                f"{path}: line {line}: expected {n_columns} fields, found {len(fields)}"
            )
        try:
            features.append([float(fields[j]) for j in feature_cols])
        except ValueError:
            j = next(j for j in feature_cols if not is_number(fields[j]))
            what = "missing value" if fields[j] == "" else f"not a number: {fields[j]!r}"
            first = names is None and line == rows[0][0]
            hint = " (if it is a header, pass header=True)" if first else ""
            raise ValueError(f"{path}: line {line}, {_column(j, names)}: {what}{hint}") from None
        if fields[label_col] == "":
            raise ValueError(f"{path}: line {line}, {_column(label_col, names)}: missing label")
        labels.append(fields[label_col])
        lines.append(line)

    X = np.asarray(features, dtype=np.float64)
    bad = np.argwhere(~np.isfinite(X))
    if len(bad):
        i, k = bad[0]
        j = feature_cols[k]
        raise ValueError(
            f"{path}: line {lines[i]}, {_column(j, names)}: missing value {rows[i][1][j]!r}"
        )
    y, task, classes = _encode_labels(labels, lines, task, path)
    X = X.astype(np.float32)

    if test_fraction == 0:
        train, test = np.arange(len(y)), np.arange(0)
    else:
        stratify = task == "classification"
        train, test = split_indices(y, test_fraction, seed, stratify, what="test_fraction")
    if name is None:
        name = Path(path.name.removesuffix(".gz")).stem
    return Splits(
        X_train=X[train],
        y_train=y[train],
        X_test=X[test],
        y_test=y[test],
        n_classes=len(classes) if classes is not None else 0,
        n_features=len(feature_cols),
        name=name,
        task=task,
        classes=classes,
    )
