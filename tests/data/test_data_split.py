"""train_val_split and Standardizer."""

import json

import numpy as np
import pytest

from chainrule.data import Standardizer, train_val_split


def test_split_sizes_disjoint_and_reproducible():
    X = np.arange(100).reshape(50, 2)
    y = np.arange(50)
    X_tr, _, y_tr, y_val = train_val_split(X, y, 0.2, rng=3)
    assert len(y_val) == 10 and len(y_tr) == 40
    assert sorted(np.concatenate([y_tr, y_val]).tolist()) == list(range(50))
    np.testing.assert_array_equal(X_tr[:, 0], 2 * y_tr)  # rows stay with labels
    again = train_val_split(X, y, 0.2, rng=3)
    np.testing.assert_array_equal(again[3], y_val)
    assert not np.array_equal(train_val_split(X, y, 0.2, rng=4)[3], y_val)


def test_stratified_split_keeps_class_shares():
    y = np.array([0] * 70 + [1] * 20 + [2] * 10)
    X = np.zeros((100, 1))
    _, _, y_tr, y_val = train_val_split(X, y, 0.3, rng=0, stratify=True)
    assert np.bincount(y_val).tolist() == [21, 6, 3]
    assert np.bincount(y_tr).tolist() == [49, 14, 7]


def test_stratified_total_is_exact_with_remainders():
    y = np.array([0] * 5 + [1] * 5 + [2] * 5)
    _, _, _, y_val = train_val_split(np.zeros((15, 1)), y, 0.2, rng=1, stratify=True)
    assert len(y_val) == 3
    assert np.bincount(y_val, minlength=3).tolist() == [1, 1, 1]
    _, _, _, y_val = train_val_split(np.zeros((15, 1)), y, 0.5, rng=1, stratify=True)
    assert len(y_val) == 8  # round(7.5) == 8; quotas 3/3/2 in some order
    assert sorted(np.bincount(y_val).tolist()) == [2, 3, 3]


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, 0.01])
def test_bad_fractions(fraction):
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split(np.zeros((10, 1)), np.zeros(10), fraction, rng=0)


def test_split_length_mismatch():
    with pytest.raises(ValueError, match="10 rows but y has 9"):
        train_val_split(np.zeros((10, 1)), np.zeros(9), 0.2, rng=0)


def test_standardizer_fits_train_only_and_handles_constant_columns():
    train = np.array([[1.0, 5.0, 0.0], [3.0, 5.0, 2.0]], dtype=np.float32)
    test = np.array([[5.0, 7.0, 1.0]], dtype=np.float32)
    s = Standardizer().fit(train)
    np.testing.assert_allclose(s.mean, [2.0, 5.0, 1.0])
    np.testing.assert_allclose(s.std, [1.0, 1.0, 1.0])  # the constant column got std 1
    z = s.transform(test)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z, [[3.0, 2.0, 0.0]])
    np.testing.assert_allclose(s.fit_transform(train).mean(axis=0), 0, atol=1e-7)
    np.testing.assert_allclose(s.inverse_transform(z), test, rtol=1e-6)


def test_standardizer_scales_to_unit_variance():
    X = np.random.default_rng(0).normal(3.0, 2.0, size=(500, 4))
    Z = Standardizer().fit_transform(X)
    assert Z.dtype == np.float64
    np.testing.assert_allclose(Z.std(axis=0), 1.0, rtol=1e-12)
    assert Standardizer().fit_transform(X.astype(np.int64)).dtype == np.float32


def test_standardizer_state_round_trips_through_json():
    X = np.random.default_rng(1).normal(size=(20, 3))
    s = Standardizer().fit(X)
    state = json.loads(json.dumps(s.state_dict()))
    assert isinstance(state["mean"], list)
    t = Standardizer()
    t.load_state_dict(state)
    np.testing.assert_array_equal(t.transform(X), s.transform(X))
    u = Standardizer()
    u.load_state_dict({"mean": s.mean, "std": s.std})  # arrays work as well
    np.testing.assert_array_equal(u.transform(X), s.transform(X))


def test_standardizer_errors():
    with pytest.raises(ValueError, match="fit"):
        Standardizer().transform(np.zeros((2, 2)))
    s = Standardizer().fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        s.transform(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="std"):
        Standardizer().load_state_dict({"mean": [0.0], "std": [0.0]})
