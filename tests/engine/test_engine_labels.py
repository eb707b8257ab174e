"""One class-label validator (chainrule.ops.labels) behind every op and loss that takes labels."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.errors import ShapeError
from chainrule.ops import cross_entropy
from chainrule.ops.labels import class_labels

LOSSES = {
    "ops.cross_entropy": lambda x, y: cross_entropy(x, y),
    "F.cross_entropy": lambda x, y: F.cross_entropy(x, y),
    "F.nll_loss": lambda x, y: F.nll_loss(F.log_softmax(x, dim=1), y),
    "F.cross_entropy smoothed": lambda x, y: F.cross_entropy(x, y, label_smoothing=0.1),
}


@pytest.mark.parametrize("loss", LOSSES.values(), ids=LOSSES.keys())
def test_every_loss_names_the_bad_label_its_row_and_the_range(loss):
    x = cr.zeros(4, 3)
    with pytest.raises(ValueError, match=r"label 7 is out of range for 3 classes .*0\.\.2.*row 2"):
        loss(x, [0, 1, 7, 2])
    with pytest.raises(ValueError, match=r"label -1 is out of range .*row 0"):
        loss(x, [-1, 1, 2, 2])
    with pytest.raises(TypeError, match="class labels must be integers, got float64"):
        loss(x, np.array([0.5, 1.0, 2.0, 0.0]))
    with pytest.raises(ShapeError, match=r"batch size 4 but the labels have batch size 5"):
        loss(x, [0, 1, 2, 0, 1])


def test_integer_valued_float_labels_are_accepted_everywhere():
    x = cr.randn(3, 4)
    for loss in LOSSES.values():
        assert loss(x, np.array([0.0, 3.0, 1.0])).item() == loss(x, np.array([0, 3, 1])).item()


def test_ignore_index_is_exempt_from_the_range_check():
    x = cr.randn(3, 4, dtype=np.float64)
    torch = pytest.importorskip("torch")
    ours = F.cross_entropy(x, [0, -100, 3]).item()
    theirs = torch.nn.functional.cross_entropy(torch.tensor(x.data), torch.tensor([0, -100, 3]))
    assert ours == pytest.approx(theirs.item(), rel=1e-12)
    with pytest.raises(ValueError, match=r"label -5 .*ignore_index=-100"):
        F.cross_entropy(x, [0, -5, 3])


def test_the_range_can_be_named_by_the_caller():
    with pytest.raises(
        ValueError, match=r"training data: label 2 is out of range for a model with 2"
    ):
        class_labels("training data", [0, 1, 2], 2, classes="a model with 2 outputs")
    np.testing.assert_array_equal(class_labels("x", [1.0, 0.0], 2), [1, 0])


def test_nn_functional_keeps_no_validator_of_its_own():
    assert not hasattr(F, "_class_labels") and not hasattr(F, "_plain_labels")


@given(
    labels=st.lists(st.integers(-130, 130), min_size=1, max_size=40),
    dtype=st.sampled_from(["int8", "int16", "int32", "int64", ">i8", "uint8", "uint64"]),
    n_classes=st.integers(1, 12),
    ignore_index=st.sampled_from([None, -100, 3]),
)
def test_the_one_pass_range_check_agrees_with_the_definition(
    labels, dtype, n_classes, ignore_index
):
    """Labels seen as unsigned (max < C in one pass) accept exactly 0 ≤ y < C, plus
    ignore_index where given; anything else raises naming the first bad row."""
    arr = np.array(labels)
    if np.dtype(dtype).kind == "u":
        arr = np.abs(arr)
    info = np.iinfo(np.dtype(dtype))
    arr = np.clip(arr, info.min, info.max).astype(dtype)
    valid = (arr >= 0) & (arr < n_classes)
    if ignore_index is not None:
        valid |= arr == ignore_index
    if valid.all():
        assert class_labels("op", arr, n_classes, ignore_index=ignore_index) is not None
    else:
        row = int(np.flatnonzero(~valid)[0])
        with pytest.raises(ValueError, match=f"at row {row}$"):
            class_labels("op", arr, n_classes, ignore_index=ignore_index)
