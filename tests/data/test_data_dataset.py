"""ArrayDataset validation and the Splits container."""

import numpy as np
import pytest

from chainrule.data import ArrayDataset, Dataset, Splits


def test_array_dataset_indexes_pairs():
    X = np.arange(6.0).reshape(3, 2)
    ds = ArrayDataset(X, [0, 1, 0])
    assert len(ds) == 3
    x, y = ds[1]
    np.testing.assert_array_equal(x, [2.0, 3.0])
    assert y == 1
    assert isinstance(ds, Dataset)


def test_lengths_must_match():
    with pytest.raises(ValueError, match="3 rows but y has 2"):
        ArrayDataset(np.zeros((3, 2)), [0, 1])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_value_is_located(bad):
    X = np.zeros((4, 3), dtype=np.float32)
    X[2, 1] = bad
    X[3, 0] = np.nan  # a later one is not the one reported
    with pytest.raises(ValueError, match=r"row 2, column 1") as info:
        ArrayDataset(X, np.zeros(4))
    assert "\n" not in str(info.value)


def test_non_finite_in_images_and_targets():
    X = np.zeros((2, 4, 4))
    X[1, 3, 2] = np.nan
    with pytest.raises(ValueError, match=r"row 1, position \(3, 2\)"):
        ArrayDataset(X, [0, 1])
    with pytest.raises(ValueError, match=r"y has a non-finite value .* row 1"):
        ArrayDataset(np.zeros((2, 1)), [0.0, np.inf])


def test_non_numeric_and_scalar_inputs_are_refused():
    with pytest.raises(ValueError, match="numeric"):
        ArrayDataset(np.array([["a"], ["b"]]), [0, 1])
    with pytest.raises(ValueError, match="one row per example"):
        ArrayDataset(np.float32(1.0), [0])


def make_splits(task="classification", y_train=None):
    y_train = np.array([0, 1]) if y_train is None else y_train
    return Splits(
        X_train=np.zeros((2, 3), np.float32),
        y_train=y_train,
        X_test=np.zeros((1, 3), np.float32),
        y_test=y_train[:1],
        n_classes=2 if task == "classification" else 0,
        n_features=3,
        name="toy",
        task=task,
    )


def test_splits_outputs_and_repr():
    s = make_splits()
    assert s.n_outputs == 2
    assert "toy" in repr(s) and "(2, 3)" in repr(s)
    assert make_splits("regression", np.array([0.5, 1.5])).n_outputs == 1
    assert make_splits("regression", np.zeros((2, 4))).n_outputs == 4


def test_splits_task_is_checked():
    with pytest.raises(ValueError, match="task"):
        make_splits("clustering")
