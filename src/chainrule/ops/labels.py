"""Integer class labels: the one validator for every op, loss and run that takes them.

``cross_entropy`` (the fused primitive), ``nn.functional.cross_entropy`` / ``nll_loss``
and the experiment runner's data checks all read labels through :func:`class_labels`, so
a bad label gets the same message everywhere: the op, the offending label, its row and
the valid range.
"""

from __future__ import annotations

from numpy import ndarray as _ndarray

from chainrule.backend import xp
from chainrule.errors import ShapeError
from chainrule.tensor import Tensor


def class_labels(op, labels, n_classes, *, batch=None, ignore_index=None, classes=None):
    """``labels`` as a raw integer array of class indices in ``0..n_classes-1``.

    Args:
        op: the name the errors start with (``"cross_entropy"``, ``"training data"``).
        labels: integers (a Tensor, an array or a list); floats with integer values
            (``2.0``) are accepted and converted.
        n_classes: the number of classes C.
        batch: the expected number of labels N (the logits' first axis), or None.
        ignore_index: a label value that is exempt from the range check (rows a loss
            skips, as PyTorch's ``ignore_index``), or None.
        classes: how the range is named in the error (default ``"C classes"``, e.g.
            ``"a model with 3 outputs"``).

    Raises TypeError for non-integer labels, ShapeError when they are not a vector of
    length ``batch``, and ValueError naming the first label out of range and its row.
    """
    arr = xp.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and (arr.size == 0 or (arr == xp.round(arr)).all()):
            arr = arr.astype(xp.int64)  # float class indices such as 2.0 (torch refuses)
        else:
            raise TypeError(f"{op}: class labels must be integers, got {arr.dtype}")
    if batch is not None and arr.shape != (batch,):
        got = f"batch size {arr.shape[0]}" if arr.ndim == 1 else f"shape {arr.shape}"
        raise ShapeError(
            f"{op}: the input has batch size {batch} but the labels have {got} "
            f"(labels must have shape ({batch},))"
        )
    if arr.size and type(arr) is _ndarray:
        # one pass: seen as unsigned, a negative label is huge, so max < C checks 0..C-1
        # (then every label is valid, ignore_index or not; anything else is looked at below)
        unsigned = arr if arr.dtype.kind == "u" else arr.view(arr.dtype.str.replace("i", "u"))
        if unsigned.max() < n_classes:
            return arr
    if arr.size:
        bad = (arr < 0) | (arr >= n_classes)
        if ignore_index is not None:
            bad &= arr != ignore_index
        if bad.any():
            row = int(xp.flatnonzero(bad)[0])
            where = classes or f"{n_classes} classes"
            skip = "" if ignore_index is None else f"; ignore_index={ignore_index}"
            raise ValueError(
                f"{op}: label {int(arr.ravel()[row])} is out of range for {where} "
                f"(labels must be 0..{n_classes - 1}{skip}), at row {row}"
            )
    return arr


def logits_labels(op, logits, labels, *, ignore_index=None):
    """Check ``logits`` of shape (N, C) and return ``labels`` as :func:`class_labels`."""
    if logits.ndim != 2:
        raise ShapeError(f"{op}: logits must have shape (batch, classes), got {logits.shape}")
    n, c = logits.shape
    return class_labels(op, labels, c, batch=n, ignore_index=ignore_index)
